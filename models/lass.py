"""Language-queried extraction: keep (or remove) what a text query names, e.g. "dog barking".

Signal path: audio ``[frames, channels]`` at any rate → per channel, 16 kHz
(soxr) → STFT (n_fft 512, hop 128, periodic Hann, centred, like
``torch.stft``) → log magnitude → the mask network (ONNX, ``lass-extractor``;
FiLM-conditioned by the query's MiniLM embedding) on overlapping chunks of
:data:`CHUNK_S` seconds, cross-faded with normalised weights → masked
spectrum, inverse STFT → target at 16 kHz → back to the input rate. The band
the model cannot see (above 8 kHz) follows the mask: the input's high band
(input − its 16 kHz round trip) joins the target with the per-frame mean mask
of the model's top bins (6–8 kHz). The residual is input − target, so the two
always sum to the input.

The query's *confidence* is the cosine similarity of its embedding to the
nearest of the concepts the network was trained on (mean caption
embeddings, ``lass_concepts.npz``); below :data:`CONFIDENT` the query is
reported as outside what the model knows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from restora.dsp.crossfade import crossfade_weights
from restora.dsp.resample import resample
from restora.errors import ModelError, UsageError

log = logging.getLogger(__name__)

MODEL_ID = "lass-extractor"
RATE, N_FFT, HOP = 16000, 512, 128
MULTIPLE = 16          # the network's frequency and time sizes must be multiples of 2^levels
CHUNK_S, OVERLAP_S = 8.0, 1.0
CONFIDENT = 0.55       # cosine to the nearest trained concept
TOP_BINS = slice(192, 257)  # 6-8 kHz: their mean mask carries the band above the model


@dataclass(frozen=True)
class QueryInfo:
    """A query as the model understands it: ``embedding`` [384], best ``confidence``, ``nearest`` concepts."""

    text: str
    embedding: np.ndarray
    confidence: float
    nearest: list[tuple[str, float]]

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT


def _window(n_fft: int = N_FFT) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann (torch.hann_window)


def stft(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """``x`` [n] → complex spectrum [n_fft // 2 + 1, frames], centred with reflect padding like ``torch.stft``.

    Defaults are this model's (16 kHz, 257 bins); ``restora.models.sr_extender`` uses it at 1024/256.
    """
    pad = np.pad(x, n_fft // 2, mode="reflect") if len(x) > n_fft // 2 else np.pad(x, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop]
    return np.fft.rfft(frames * _window(n_fft), axis=-1).T


def istft(spec: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Inverse of :func:`stft` (weighted overlap-add, like ``torch.istft``), ``length`` samples."""
    window = _window(n_fft)
    frames = np.fft.irfft(spec.T, n_fft, axis=-1) * window
    n = n_fft + hop * (len(frames) - 1)
    out, norm = np.zeros(n), np.zeros(n)
    for i, f in enumerate(frames):
        out[i * hop:i * hop + n_fft] += f
        norm[i * hop:i * hop + n_fft] += window ** 2
    out = out / np.maximum(norm, 1e-8)
    return out[n_fft // 2:n_fft // 2 + length]


class QueryExtractor:
    """Loads the network, the concept table and the text encoder once; see the module docstring."""

    def __init__(self, model_dir: str | Path | None = None, threads: int | None = None) -> None:
        from restora.models.session import make_session
        from restora.models.text_encoder import text_encoder

        from restora.models.fetch import ensure_installed

        folder = Path(model_dir) if model_dir else ensure_installed(MODEL_ID)
        self.session, self.provider = make_session(folder / "lass_extractor.onnx", threads)
        table = np.load(folder / "lass_concepts.npz")
        self.concepts = [str(c) for c in table["names"]]
        self.concept_emb = table["embeddings"].astype(np.float32)
        self.encoder = text_encoder()

    def understand(self, query: str) -> QueryInfo:
        """Embed ``query`` and compare it with the trained concepts (UsageError when empty)."""
        if not isinstance(query, str) or not query.strip():
            raise UsageError("the query is empty: say what to extract, e.g. --query \"dog barking\"")
        emb = self.encoder.embed([query.strip()])[0]
        sims = self.concept_emb @ emb
        order = np.argsort(-sims)[:5]
        return QueryInfo(query.strip(), emb, float(sims[order[0]]),
                         [(self.concepts[i], round(float(sims[i]), 3)) for i in order])

    def mask(self, logmag: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Mask [257, T] for ``logmag`` [257, T] (padded here to the network's multiples)."""
        f, t = logmag.shape
        x = np.pad(logmag, ((0, (-f) % MULTIPLE), (0, (-t) % MULTIPLE)))  # zeros, as in training
        out = self.session.run(None, {"logmag": x[None].astype(np.float32),
                                      "query": query[None].astype(np.float32)})[0]
        return out[0, :f, :t]

    def target_16k(self, x: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(target [n], high-band gain per STFT frame [frames])`` of mono 16 kHz ``x`` [n]."""
        spec = stft(x.astype(np.float64))
        frames = spec.shape[1]
        chunk, hop = int(CHUNK_S * RATE / HOP), int((CHUNK_S - OVERLAP_S) * RATE / HOP)
        mask, weight = np.zeros(spec.shape), np.zeros(frames)
        for start in range(0, max(frames - chunk, 0) + hop, hop):
            part = slice(start, min(start + chunk, frames))
            length = part.stop - part.start
            w = crossfade_weights(length, chunk - hop, first=start == 0, last=part.stop == frames)
            mask[:, part] += w * self.mask(np.log(np.abs(spec[:, part]) + 1e-5), query)
            weight[part] += w
            if part.stop == frames:
                break
        mask /= weight
        return istft(spec * mask, len(x)), mask[TOP_BINS].mean(axis=0)

    def extract(self, audio: np.ndarray, sample_rate: int, info: QueryInfo) -> np.ndarray:
        """Target [frames, channels] float32 at ``sample_rate`` for ``audio`` [frames, channels]."""
        audio = np.asarray(audio, np.float32)
        audio = audio[:, None] if audio.ndim == 1 else audio
        out = np.empty_like(audio)
        for c in range(audio.shape[1]):
            x = audio[:, c]
            low = resample(x, sample_rate, RATE) if sample_rate != RATE else x
            target, gain = self.target_16k(low, info.embedding)
            if sample_rate == RATE:
                out[:, c] = target
                continue
            high = x - _fit(resample(low, RATE, sample_rate), len(x))
            t = np.arange(len(x)) / sample_rate * RATE / HOP
            out[:, c] = _fit(resample(target.astype(np.float32), RATE, sample_rate), len(x)) + \
                high * np.interp(t, np.arange(len(gain)), gain)
        return out


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


@lru_cache(maxsize=2)
def extractor(threads: int | None = None) -> QueryExtractor:
    """The shared extractor (loaded once per thread count)."""
    return QueryExtractor(threads=threads)


@lru_cache(maxsize=1)
def _concept_names() -> tuple[str, ...]:
    from restora.models import store

    table = np.load(store.require(MODEL_ID) / "lass_concepts.npz")  # reads "names" only, not the embeddings
    return tuple(str(c) for c in table["names"])


def known_concepts() -> list[str]:
    """The names of the trained concepts (query suggestions), [] when the model is not installed.

    Reads the installed concept table only: no fetch, no ONNX session, no text
    encoder, so the GUI can call it while building a form. A failure is not
    cached (``lru_cache`` keeps results only), so a later install is picked up.
    """
    try:
        return list(_concept_names())
    except (ModelError, OSError, KeyError, ValueError):
        return []
