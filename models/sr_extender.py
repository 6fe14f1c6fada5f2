"""Neural band extension (issue 7): the runtime of ``sr-extender`` around its exported gain network.

Reproduces ``models/training/sr_net.SRNet.forward`` with numpy and ONNX
Runtime (no torch). Audio is float ``[frames, channels]`` (or ``[frames]``)
at 48 kHz (:data:`RATE`; callers resample first); the cut-off is in Hz.

Per chunk of :data:`CHUNK_S` seconds (overlap :data:`OVERLAP_S`), all
channels batched:

1. STFT, n_fft 1024, hop 256, periodic Hann, centred with reflect padding
   exactly like ``torch.stft`` (:func:`restora.models.lass.stft`): ``X``
   [513, T] complex per channel.
2. ``logmag = log10(|X| + 1e-5)`` [C, 513, T] and ``cutoff`` [C] = Hz / 24000
   → the ONNX graph → ``gain`` [C, 513, T] (log10 magnitude).
3. Cut-off bin ``kc = ceil(cutoff * 512 - 1e-4)`` (float32, clamped to
   1..512); the folded copy ``X[src]`` with ``src`` from
   :func:`restora.dsp.band_extension.fold_sources` (width: the octave below
   ``kc`` rounded down to a multiple of 4 bins, at least 4 — the training
   rule); ``Y = X * (1 - w) + X[src] * 10**gain * w`` with ``w`` the
   raised-cosine crossover (0 below ``kc``, reaching 1 four bins up), so
   every bin below ``kc`` is the input's.
4. Inverse STFT (weighted overlap-add, like ``torch.istft``); chunks are
   joined with :func:`restora.dsp.crossfade.crossfade_weights`.

Memory is bounded by one chunk's spectra. Chunk seams: the network
normalises each frame on its own and looks at most as far back as the overlap
holds (the shipped network: 262 frames, 1.4 s; ``export_sr`` refuses more), so a chunked result equals one pass over the whole signal to within
rounding and the cross-fade of the edge frames (about 80 dB down in the
tests); the crossfade also hides the STFT's edge padding.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from restora.dsp.band_extension import fold_sources, fold_width
from restora.dsp.crossfade import crossfade_weights
from restora.errors import ModelError
from restora.models.lass import istft, stft

MODEL_ID = "sr-extender"
ONNX_NAME = "sr_extender.onnx"
RATE, N_FFT, HOP = 48000, 1024, 256
BINS = N_FFT // 2 + 1
CROSSOVER = 4  # bins over which the input hands over to the generated band (sr_net.CROSSOVER)
EPS = 1e-5
CHUNK_S, OVERLAP_S = 10.0, 1.5


def cutoff_bin(cutoff: float) -> int:
    """First bin at or above ``cutoff`` (fraction of Nyquist), computed in float32 as the training graph does."""
    kc = math.ceil(float(np.float32(cutoff) * np.float32(BINS - 1) - np.float32(1e-4)))
    return min(max(kc, 1), BINS - 1)


def fold_index(kc: int) -> np.ndarray:
    """[BINS] source bin per bin: itself below ``kc``, the folded top octave above (sr_net.fold_indices)."""
    width = max(fold_width(kc, N_FFT // HOP), N_FFT // HOP)
    return np.concatenate([np.arange(kc), fold_sources(kc, width, BINS)])


def crossover(kc: int) -> np.ndarray:
    """[BINS] weight of the generated band: 0 below ``kc``, raised cosine up to 1 over :data:`CROSSOVER` bins."""
    t = np.clip((np.arange(BINS) - kc + 1.0) / CROSSOVER, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def apply_gains(spec: np.ndarray, kc: int, gain: np.ndarray) -> np.ndarray:
    """``spec`` [..., BINS, T] complex below ``kc``, the folded copy times ``10 ** gain`` [..., BINS, T] above."""
    w = crossover(kc)[:, None]
    copy = spec[..., fold_index(kc), :] * np.power(10.0, gain.astype(np.float64))
    return spec * (1.0 - w) + copy * w


def spectra(x: np.ndarray) -> np.ndarray:
    """The model's STFT of each channel of ``x`` [n, C] at 48 kHz: complex128 [C, BINS, T]."""
    return np.stack([stft(x[:, c].astype(np.float64), N_FFT, HOP) for c in range(x.shape[1])])


def waveforms(spec: np.ndarray, n: int) -> np.ndarray:
    """The inverse of :func:`spectra`: ``spec`` [C, BINS, T] → float64 [n, C]."""
    return np.stack([istft(s, n, N_FFT, HOP) for s in spec], axis=1)


class SRExtender:
    """The gain network in an ONNX Runtime session, and the signal path around it (module docstring)."""

    def __init__(self, onnx_path: str | Path, threads: int | None = None,
                 chunk_s: float = CHUNK_S, overlap_s: float = OVERLAP_S) -> None:
        from restora.models.session import make_session

        if not 0 <= overlap_s < chunk_s:
            raise ValueError(f"overlap {overlap_s} s must be shorter than the chunk {chunk_s} s")
        self.session, self.provider = make_session(Path(onnx_path), threads)
        # whole hops, so every chunk's STFT frames fall on the one-pass frame grid
        self.chunk, self.overlap = int(chunk_s * RATE) // HOP * HOP, int(overlap_s * RATE) // HOP * HOP

    def gains(self, logmag: np.ndarray, cutoff: float) -> np.ndarray:
        """``logmag`` [C, BINS, T] → gain [C, BINS, T] (log10 magnitude over the folded copy)."""
        feeds = {"logmag": logmag.astype(np.float32), "cutoff": np.full(len(logmag), cutoff, np.float32)}
        return self.session.run(None, feeds)[0]

    def extend_chunk(self, x: np.ndarray, cutoff_hz: float) -> np.ndarray:
        """One pass over ``x`` [n, C] at 48 kHz → extended [n, C] float64."""
        cutoff = cutoff_hz / (RATE / 2)
        spec = spectra(x)
        return waveforms(apply_gains(spec, cutoff_bin(cutoff), self.gains(np.log10(np.abs(spec) + EPS), cutoff)),
                         len(x))

    def extend(self, audio: np.ndarray, cutoff_hz: float) -> np.ndarray:
        """``audio`` [frames, channels] (or [frames]) at 48 kHz extended above ``cutoff_hz``; float32, same shape."""
        audio = np.asarray(audio, np.float32)
        x = audio[:, None] if audio.ndim == 1 else audio
        n = len(x)
        if n == 0:
            return audio.copy()
        out, weight = np.zeros(x.shape), np.zeros(n)
        step = self.chunk - self.overlap
        for start in range(0, n, step):
            stop = min(start + self.chunk, n)
            w = crossfade_weights(stop - start, self.overlap, first=start == 0, last=stop == n)
            out[start:stop] += w[:, None] * self.extend_chunk(x[start:stop], cutoff_hz)
            weight[start:stop] += w
            if stop == n:
                break
        out = (out / weight[:, None]).astype(np.float32)
        return out if audio.ndim == 2 else out[:, 0]


@lru_cache(maxsize=2)
def extender(threads: int | None = None) -> SRExtender:
    """The shared extender of the registered ``sr-extender`` model (loaded once per thread count).

    Raises ModelError when the model is not registered or cannot be installed
    (no trained weights are shipped yet).
    """
    from restora.models.fetch import ensure_installed

    try:
        folder = ensure_installed(MODEL_ID)
    except ModelError as exc:
        raise ModelError(f"the neural band extender ('{MODEL_ID}') is not available: {exc}; train and export it "
                         "with models/training/train_sr.py and export_sr.py, or use the 'fold' method "
                         "(--method fold)") from None
    return SRExtender(folder / ONNX_NAME, threads)
