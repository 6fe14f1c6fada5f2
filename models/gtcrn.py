"""GTCRN light speech enhancement at 16 kHz, streamed frame by frame with explicit caches.

The ONNX graph enhances one STFT frame per call: ``mix`` [1, 257, 1, 2] (real,
imag) plus three caches (``conv_cache`` [2,1,16,16,33], ``tra_cache``
[2,3,1,1,16], ``inter_cache`` [2,1,33,16], zeros at the start) → the enhanced
complex spectrum ``enh`` and the next caches.

STFT as in the reference (librosa): n_fft 512, hop 256, window
``hanning(512) ** 0.5`` (symmetric), ``center=True``: frame ``t`` covers input
samples ``[256 t - 256, 256 t + 256)`` with the signal reflected about its first
and last samples. Synthesis is windowed overlap-add divided by the summed squared
window, so output sample ``n`` lines up with input sample ``n``. Streaming adds
a latency of 256-511 samples (samples come out once both frames covering them
are done); :meth:`GtcrnStream.flush` returns the rest, reflecting the end of the
signal as centred framing does, with enough extra frames that every sample is
covered by two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restora.models import store
from restora.models.session import make_session

MODEL_ID = "gtcrn"
SR = 16000
N_FFT = 512
HOP = 256
BINS = N_FFT // 2 + 1
WINDOW = (np.hanning(N_FFT) ** 0.5).astype(np.float64)
# Sum of squared windows of the two frames covering each output sample of a hop.
_ENVELOPE = WINDOW[:HOP] ** 2 + WINDOW[HOP:] ** 2
_CACHE_SHAPES = {"conv_cache": (2, 1, 16, 16, 33), "tra_cache": (2, 3, 1, 1, 16),
                 "inter_cache": (2, 1, 33, 16)}


class GtcrnModel:
    """The GTCRN ONNX session, shared by the per-channel :class:`GtcrnStream` objects."""

    def __init__(self, model_dir: Path | None = None, threads: int = 1,
                 providers: str = "cpu") -> None:
        folder = Path(model_dir) if model_dir else store.require(MODEL_ID)
        # One thread: one small frame per call, so threading overhead dominates.
        self.session, self.provider = make_session(folder / "gtcrn_simple.onnx", threads, providers)

    def stream(self) -> "GtcrnStream":
        return GtcrnStream(self)


class GtcrnStream:
    """Enhance one channel of 16 kHz float32 audio; output sample i aligns with input sample i."""

    def __init__(self, model: GtcrnModel) -> None:
        self.session = model.session
        self.caches = {k: np.zeros(s, np.float32) for k, s in _CACHE_SHAPES.items()}
        self._raw = np.zeros(0, np.float32)  # input held until the start reflection is known
        self._padded: np.ndarray | None = None  # centred-padded input from the next frame's start
        self._ola = np.zeros(N_FFT, np.float64)  # overlap-add, aligned with the next frame
        self._frames = 0
        self._last = np.zeros(0, np.float32)  # the last 257 input samples, for the end reflection
        self._received = 0
        self._emitted = 0

    def push(self, x16: np.ndarray) -> np.ndarray:
        """Add mono 16 kHz samples; return the enhanced samples now final."""
        x = np.asarray(x16, np.float32).reshape(-1)
        self._received += len(x)
        self._last = np.concatenate([self._last, x])[-(HOP + 1):]
        if self._padded is None:
            self._raw = np.concatenate([self._raw, x])
            if len(self._raw) <= HOP:  # reflecting the start needs samples 1..256
                return np.zeros(0, np.float32)
            x, self._raw = self._raw, np.zeros(0, np.float32)
            self._padded = np.concatenate([x[1:HOP + 1][::-1], x])
        else:
            self._padded = np.concatenate([self._padded, x])
        return self._run_frames()

    def finish(self) -> np.ndarray:
        """End of stream: the remaining enhanced samples (total output = total input)."""
        total = self._received
        if total == 0:
            return np.zeros(0, np.float32)
        if self._padded is None:  # the stream is too short to reflect: pad with zeros
            self._padded = np.concatenate([np.zeros(HOP, np.float32), self._raw])
        tail_ref = self._last[:-1][::-1] if total > HOP else np.zeros(HOP, np.float32)
        # Frames up to t_end = ceil(total / HOP) so each sample gets both of its frames.
        t_end = -(-total // HOP)
        need = (t_end - self._frames) * HOP + N_FFT
        extra = np.concatenate([tail_ref, np.zeros(max(0, need - len(self._padded) - HOP),
                                                   np.float32)])
        self._padded = np.concatenate([self._padded, extra])
        out = self._run_frames(limit=t_end + 1)
        return out[:total - (self._emitted - len(out))]

    def _run_frames(self, limit: int | None = None) -> np.ndarray:
        out = []
        while len(self._padded) >= N_FFT and (limit is None or self._frames < limit):
            frame = self._padded[:N_FFT].astype(np.float64)
            self._padded = self._padded[HOP:]
            self._ola += self._enhance(frame) * WINDOW
            final = self._ola[:HOP] / _ENVELOPE
            self._ola = np.concatenate([self._ola[HOP:], np.zeros(HOP)])
            if self._frames > 0:  # frame 0's first half lies before the signal start
                out.append(final)
            self._frames += 1
        y = np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
        self._emitted += len(y)
        return y

    def _enhance(self, frame: np.ndarray) -> np.ndarray:
        spec = np.fft.rfft(frame * WINDOW)
        mix = np.stack([spec.real, spec.imag], axis=-1).astype(np.float32).reshape(1, BINS, 1, 2)
        enh, conv, tra, inter = self.session.run(None, {"mix": mix, **self.caches})
        self.caches = {"conv_cache": conv, "tra_cache": tra, "inter_cache": inter}
        e = enh.reshape(BINS, 2).astype(np.float64)
        return np.fft.irfft(e[:, 0] + 1j * e[:, 1], N_FFT)
