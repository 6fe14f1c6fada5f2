"""DNSMOS speech-quality estimates: P.835 SIG/BAK/OVRL and P.808 MOS (1 = bad .. 5 = excellent).

Follows Microsoft's reference scoring (as packaged in ``speechmos`` 0.0.1.1):

- audio is mono 16 kHz in [-1, 1] (we downmix, resample with soxr and clip);
- windows of 9.01 s (144160 samples) start every ``hop_s`` = 1 s; window ``i`` is
  scored when the file is at least ``i * hop_s + 10`` s long (plus window 0 for
  files of 9.01-10 s). A larger ``hop_s`` is a cheaper, coarser estimate (each
  window costs ~0.3-0.5 s of CPU); 1 s reproduces the reference;
- clips shorter than 9.01 s are repeated (doubled until long enough) first;
- ``sig_bak_ovr.onnx`` takes the raw window, its three raw outputs go through
  fixed calibration polynomials; ``model_v8.onnx`` (P.808) takes
  ``(power_to_db(mel) + 40) / 40`` of the window minus its last 160 samples,
  as 900 frames x 120 mels;
- file scores are the means over windows.

:class:`DnsmosMeter` is streaming: it keeps at most ~10 s of 16 kHz audio
whatever the file length, and scores each window as soon as it is decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restora.dsp.resample import StreamResampler
from restora.models import melspec, store
from restora.models.session import make_session

MODEL_ID = "dnsmos"
SR = 16000
WINDOW_S = 9.01
WINDOW = int(WINDOW_S * SR)  # 144160 samples
_P808_TRIM = 160             # upstream drops the last hop before the mel front end
_MEL = dict(n_fft=321, hop=160, n_mels=120)

# Calibration polynomials of the (non-personalised) P.835 model, highest power
# first; numeric constants of Microsoft's model calibration.
_POLY_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_POLY_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_POLY_OVR = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


@dataclass
class DnsmosScores:
    """Scores of one window (or of the file); times in seconds of the input."""

    sig: float
    bak: float
    ovrl: float
    p808: float
    start_s: float
    end_s: float

    def as_dict(self) -> dict[str, float]:
        return {"sig": self.sig, "bak": self.bak, "ovrl": self.ovrl, "p808": self.p808,
                "start_s": self.start_s, "end_s": self.end_s}


@dataclass
class DnsmosResult:
    file: DnsmosScores
    windows: list[DnsmosScores]


def p808_features(segment: np.ndarray) -> np.ndarray:
    """P.808 input ``[900, 120]`` float32 for a 144160-sample 16 kHz segment."""
    mel = melspec.mel_power(segment[:-_P808_TRIM], SR, **_MEL)
    return ((melspec.power_to_db_ref_max(mel) + 40.0) / 40.0).T.astype(np.float32)


class DnsmosModel:
    """The two DNSMOS ONNX sessions; :meth:`score` maps 16 kHz windows to MOS values."""

    def __init__(self, model_dir: Path | None = None, threads: int | None = None,
                 providers: str = "auto") -> None:
        folder = Path(model_dir) if model_dir else store.require(MODEL_ID)
        self.primary, self.provider = make_session(folder / "sig_bak_ovr.onnx", threads, providers)
        self.p808, _ = make_session(folder / "model_v8.onnx", threads, providers)

    def score(self, segment: np.ndarray) -> tuple[float, float, float, float]:
        """``(sig, bak, ovrl, p808)`` of one float32 window of exactly 144160 samples."""
        seg = np.ascontiguousarray(segment, np.float32)
        raw = self.primary.run(None, {"input_1": seg[None, :]})[0][0]
        p808 = self.p808.run(None, {"input_1": p808_features(seg)[None]})[0][0][0]
        return (float(_POLY_SIG(raw[0])), float(_POLY_BAK(raw[1])), float(_POLY_OVR(raw[2])),
                float(p808))


class DnsmosMeter:
    """Streaming DNSMOS: ``push`` blocks at ``sample_rate``, then ``result()`` once."""

    def __init__(self, sample_rate: int, model: DnsmosModel | None = None, hop_s: int = 1) -> None:
        self.model = model or DnsmosModel()
        self.hop = int(hop_s) * SR
        if self.hop <= 0:
            raise ValueError(f"hop_s must be a positive whole number of seconds, got {hop_s}")
        self._resampler = StreamResampler(sample_rate, SR, 1)
        self._buf = np.zeros(0, np.float32)  # 16 kHz audio from sample self._buf_start on
        self._buf_start = 0
        self._n16 = 0                         # 16 kHz samples received so far
        self._next = 0                        # next window index to score
        self._windows: list[DnsmosScores] = []

    def push(self, block: np.ndarray) -> None:
        """Add ``block`` (``[frames]`` or ``[frames, channels]`` float at the meter's rate)."""
        block = np.asarray(block, np.float32)
        if block.size == 0:  # nodes with look-ahead hand out empty blocks at first
            return
        mono = block.reshape(len(block), -1).mean(axis=1, keepdims=True)
        self._append(self._resampler.process(mono))
        while self._decided(self._next, final=False):
            self._score_window(self._next)
        self._drop_scored()

    def result(self) -> DnsmosResult:
        """Flush and return file and per-window scores. ValueError if no audio was pushed."""
        self._append(self._resampler.finish())
        total = self._n16
        if total == 0:
            raise ValueError("DNSMOS needs at least one sample of audio")
        if total < WINDOW:
            return self._tiled_result(total)
        while self._decided(self._next, final=True):
            self._score_window(self._next)
        return DnsmosResult(_mean(self._windows, 0.0, total / SR), list(self._windows))

    # -- internals ---------------------------------------------------------
    def _decided(self, idx: int, final: bool) -> bool:
        """Whether window ``idx`` belongs to the result (upstream's count for hop 1 s:
        ``int(floor(len_s) - 9.01) + 1``, i.e. start + 10 s <= length, or the first window)."""
        if idx * self.hop + 10 * SR <= self._n16:
            return True
        return final and idx == 0 and self._n16 >= WINDOW
    def _append(self, block16: np.ndarray) -> None:
        x = np.clip(block16.reshape(-1), -1.0, 1.0)
        self._buf = np.concatenate([self._buf, x])
        self._n16 += len(x)

    def _score_window(self, idx: int) -> None:
        lo = idx * self.hop - self._buf_start
        seg = self._buf[lo:lo + WINDOW]
        sig, bak, ovrl, p808 = self.model.score(seg)
        self._windows.append(DnsmosScores(sig, bak, ovrl, p808, idx * self.hop / SR,
                                          (idx * self.hop + WINDOW) / SR))
        self._next = idx + 1

    def _drop_scored(self) -> None:
        keep_from = self._next * self.hop  # nothing before the next window's start is needed again
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start:].copy()
            self._buf_start = keep_from

    def _tiled_result(self, total: int) -> DnsmosResult:
        # Short clip: the whole of it is still in the buffer (no window scored yet).
        audio = self._buf
        while len(audio) < WINDOW:
            audio = np.concatenate([audio, audio])
        starts = range(0, max(len(audio) - 10 * SR, 0) + 1, self.hop)  # as _decided()
        scores = [self.model.score(audio[i:i + WINDOW]) for i in starts]
        # Windows of repeated audio have no place in the file's time line: report one.
        whole = DnsmosScores(*np.mean(scores, axis=0).tolist(), 0.0, total / SR)
        return DnsmosResult(whole, [whole])


def _mean(windows: list[DnsmosScores], start_s: float, end_s: float) -> DnsmosScores:
    m = np.mean([[w.sig, w.bak, w.ovrl, w.p808] for w in windows], axis=0)
    return DnsmosScores(*m.tolist(), start_s, end_s)


def score_array(audio: np.ndarray, sample_rate: int, model: DnsmosModel | None = None,
                hop_s: int = 1) -> DnsmosResult:
    """DNSMOS of a whole array (``[frames]`` or ``[frames, channels]``) in one call."""
    meter = DnsmosMeter(sample_rate, model=model, hop_s=hop_s)
    meter.push(audio)
    return meter.result()
