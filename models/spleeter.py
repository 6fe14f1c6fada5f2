"""Spleeter 2stems (vocals / accompaniment) as a streaming separator at 44.1 kHz.

Signal path (after upstream spleeter, see ../shared/research/models.md §4):
audio float32 ``[frames, 2]`` at 44.1 kHz → STFT (frame 4096, hop 1024,
periodic Hann; ``restora.dsp.stft`` framing) → magnitude of bins 0..1023
(0–11 kHz) → the U-Net pair on segments of ``T`` STFT frames → per-frame
masks → vocals STFT → inverse STFT → vocals. The accompaniment is the
*residual* ``mix - vocals`` in the time domain, so the two stems always sum
back to the mix exactly (up to float32 rounding).

What differs from upstream, and why:

* **Overlapping segments.** Upstream cuts the frames into disjoint 512-frame
  segments, so the U-Net's zero padding at each segment edge can be heard as a
  change of colour every ~11.9 s. Here segment ``s`` covers frames
  ``[s*H, s*H + T)`` (``H`` = ``segment_hop``); each segment's vocals STFT is
  weighted by a flat-top window with sin² tapers over the overlap and the
  weighted sum is divided by the sum of the weights, so the weights add to 1 at
  every frame and a segment's unreliable edges get almost no weight.
* **Full bandwidth.** The model only sees bins 0..1023. Upstream sets the masks
  of bins 1024..2048 to zero (vocals and accompaniment lose everything above
  11 kHz). We continue each frame's mask, per channel, with the mean mask of the
  top ``EXTEND_BINS`` model bins (~10.8–11 kHz): a voice's "air" stays with the
  vocals and cymbals stay with the accompaniment, as far as the top octave the
  model saw tells us.
* **Streaming in bounded memory.** Only about ``T`` STFT frames (a few tens
  of MB) are held at any time, whatever the length of the stream; the latency is
  ``(T - H) * 1024 + 4096`` samples (~3 s with the defaults) plus the partial hop.

Masks: ``"ratio"`` is upstream's ``(y_v² + eps/2) / (y_v² + y_a² + eps)`` with
the model's magnitude estimates ``y``; ``"wiener"`` refines the ratio-masked
estimates with a few EM iterations of a multichannel Wiener filter (per
segment): each source ``j`` is modelled as a zero-mean complex Gaussian with a
time-frequency power ``v_j(t, f)`` and a 2×2 spatial covariance ``R_j(f)`` per
bin; the vocals are ``v_v R_v (Σ_j v_j R_j)⁻¹ x`` (the approach of norbert).

The model is an injected callable ``run(mag) -> (vocals_spec, accomp_spec)``
with ``mag`` float32 ``[B, 2, T, 1024]`` (batch, stereo channel, frames, bins);
:func:`onnx_runner` wraps the real ONNX file, tests pass a fake.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np

from restora.dsp.stft import StreamingISTFT, StreamingSTFT

SAMPLE_RATE = 44100
N_FFT = 4096
HOP = 1024
BINS = N_FFT // 2 + 1      # 2049
MODEL_BINS = 1024          # bins the U-Net sees (0 .. ~11 kHz)
SEGMENT = 512              # upstream's T (STFT frames per model run, ~11.9 s)
EXTEND_BINS = 8            # top model bins averaged to continue a mask above bin 1023
EPS = 1e-10                # upstream's ratio-mask epsilon
MASKS = ("ratio", "wiener")
#: Input samples handed to the STFT at once: bounds memory when a caller
#: passes a very long block.
_CHUNK = 64 * HOP

ModelRun = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def segment_weights(length: int, hop: int) -> np.ndarray:
    """Cross-fade weight of each frame of a segment: float64 ``[length]``.

    Flat top of 1 with sin² tapers over the ``length - hop`` frames shared with
    each neighbour. Values are strictly positive (the first and last frames of
    the stream are covered by one segment only and must not get 0/0).
    """
    overlap = length - hop
    n = np.arange(length)
    if overlap <= 0:
        return np.ones(length)
    rise = np.where(n < overlap, np.sin(0.5 * np.pi * (n + 0.5) / overlap) ** 2, 1.0)
    return np.minimum(rise, rise[::-1])


def ratio_masks(vocals: np.ndarray, accomp: np.ndarray) -> np.ndarray:
    """Upstream's vocals ratio mask (separation exponent 2).

    ``vocals``/``accomp``: model magnitude estimates ``[..., bins]`` (any
    shape); returns the vocals mask in [0, 1] of the same shape. The
    accompaniment mask is ``1 - mask`` up to ``eps``.
    """
    v2 = np.square(vocals, dtype=np.float64)
    a2 = np.square(accomp, dtype=np.float64)
    return (v2 + EPS / 2) / (v2 + a2 + EPS)


def extend_mask(mask: np.ndarray, bins: int = BINS, top: int = EXTEND_BINS) -> np.ndarray:
    """Continue a mask ``[frames, model_bins, channels]`` to ``[frames, bins, channels]``.

    Bins above the model's range get, per frame and channel, the mean of the
    ``top`` highest model bins (see the module docstring for why not zeros).
    """
    frames, model_bins, channels = mask.shape
    out = np.empty((frames, bins, channels), mask.dtype)
    out[:, :model_bins] = mask
    out[:, model_bins:] = mask[:, model_bins - top:].mean(axis=1, keepdims=True)
    return out


def wiener_vocals(mix: np.ndarray, mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Multichannel Wiener estimate of the vocals STFT from a ratio mask.

    ``mix``: complex STFT ``[frames, bins, 2]``; ``mask``: vocals mask
    ``[frames, bins, 2]`` in [0, 1] (the accompaniment's is ``1 - mask``).
    Returns the vocals STFT ``[frames, bins, 2]`` complex64. Each EM iteration
    re-estimates every source's power ``v_j(t,f)`` (mean over channels of
    ``|y_j|²``) and spatial covariance ``R_j(f) = Σ_t y_j y_jᴴ / Σ_t v_j``, then
    filters the mix. The statistics are pooled over the frames given (one
    segment), which is what lets the spatial image sharpen the masks.
    """
    scale = float(np.max(np.abs(mix))) if mix.size else 0.0
    if scale <= 0.0:
        return np.zeros(mix.shape, np.complex64)
    # Work on a unit-peak copy so eps regularisation is relative (as norbert does).
    x = (mix / scale).astype(np.complex128)
    mask = mask.astype(np.float64)
    ys = [mask * x, (1.0 - mask) * x]
    for _ in range(max(1, int(iterations))):
        models = [_local_gaussian(y) for y in ys]
        ys = [_wiener_filter(x, models, j) for j in range(2)]
    return (ys[0] * scale).astype(np.complex64)


def _local_gaussian(y: np.ndarray, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """Power ``v`` [frames, bins] and spatial covariance ``R`` [bins, 2, 2] of a source STFT ``y``."""
    v = np.mean(np.abs(y) ** 2, axis=-1)
    cov = np.einsum("tfi,tfj->fij", y, y.conj())
    R = cov / (v.sum(axis=0) + eps)[:, None, None]
    return v, R


def _wiener_filter(x: np.ndarray, models: list[tuple[np.ndarray, np.ndarray]], j: int,
                   eps: float = EPS) -> np.ndarray:
    """Source ``j``'s estimate ``v_j R_j C⁻¹ x`` with ``C = Σ_k v_k R_k + eps·I``, all [frames, bins, 2]."""
    C = sum(v[..., None, None] * R[None] for v, R in models)
    C[..., 0, 0] += eps
    C[..., 1, 1] += eps
    a, b, c, d = C[..., 0, 0], C[..., 0, 1], C[..., 1, 0], C[..., 1, 1]
    det = a * d - b * c
    # Closed-form 2×2 inverse applied to x: C⁻¹x = [d x0 - b x1, a x1 - c x0] / det.
    z0 = (d * x[..., 0] - b * x[..., 1]) / det
    z1 = (a * x[..., 1] - c * x[..., 0]) / det
    v, R = models[j]
    y0 = v * (R[None, :, 0, 0] * z0 + R[None, :, 0, 1] * z1)
    y1 = v * (R[None, :, 1, 0] * z0 + R[None, :, 1, 1] * z1)
    return np.stack([y0, y1], axis=-1)


class SpleeterSeparator:
    """Streaming 2-stem separation of float32 ``[frames, 2]`` audio at 44.1 kHz.

    :meth:`process` and :meth:`finish` return ``(vocals, accompaniment)``, each
    float32 ``[n, 2]``; output sample ``i`` is aligned with input sample ``i`` and
    over a stream exactly as many frames come out as went in. The accompaniment
    is ``mix - vocals`` (time domain, aligned), so ``vocals + accompaniment``
    equals the input to float32 precision. Mono input ``[frames, 1]`` is
    duplicated to stereo and the stems are averaged back to mono.

    ``segment_frames`` (a multiple of 64, the model's T) and ``segment_hop``
    (STFT frames between segment starts, ``<= segment_frames``) set the
    overlap; ``masks`` is ``"ratio"`` or ``"wiener"`` with
    ``wiener_iterations`` EM iterations.

    State (all reset by :meth:`reset`): the STFT/ISTFT buffers, the mix STFT
    frames from the next segment's start on, the weighted vocals-STFT
    accumulator for the frames of the current segment, and the input samples
    not yet matched by vocals output.
    """

    def __init__(self, run: ModelRun, masks: str = "ratio", segment_frames: int = SEGMENT,
                 segment_hop: int = SEGMENT // 2, wiener_iterations: int = 1) -> None:
        if masks not in MASKS:
            raise ValueError(f"masks must be one of {MASKS}, got {masks!r}")
        if segment_frames % 64 or segment_frames <= 0:
            raise ValueError(f"segment_frames must be a positive multiple of 64, got {segment_frames}")
        if not 0 < segment_hop <= segment_frames:
            raise ValueError(f"segment_hop must be in 1..{segment_frames}, got {segment_hop}")
        self.run = run
        self.masks = masks
        self.T = int(segment_frames)
        self.H = int(segment_hop)
        self.wiener_iterations = int(wiener_iterations)
        self.weights = segment_weights(self.T, self.H)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (state as described in the class docstring)."""
        self._stft = StreamingSTFT(N_FFT, HOP, "hann")
        self._istft = StreamingISTFT(N_FFT, HOP, "hann")
        self._spec_chunks: list[np.ndarray] = []   # mix STFT frames from the next segment start
        self._spec_count = 0
        # Σ_s w_s · vocals_s and Σ_s w_s for frames [seg_start, seg_start + T).
        self._acc = np.zeros((self.T, BINS, 2), np.complex128)
        self._wsum = np.zeros(self.T)
        self._seg_start = 0            # absolute STFT frame index of the next segment
        self._mix: list[np.ndarray] = []   # input samples (as given) awaiting their vocals
        self._mix_count = 0
        self._mono: bool | None = None
        self._samples_in = 0
        self._samples_out = 0

    @property
    def latency(self) -> int:
        """Input samples received but not yet returned."""
        return self._samples_in - self._samples_out

    # -- stream ---------------------------------------------------------------
    def process(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Consume ``block`` [frames, 1 or 2] float32; return the aligned ``(vocals, accompaniment)`` ready."""
        block = self._check(block)
        outs = []
        for start in range(0, len(block), _CHUNK):
            part = block[start:start + _CHUNK]
            self._push_mix(part)
            self._add_frames(self._stft.process(self._stereo(part)))
            outs.append(self._run_segments(final=False))
        return self._pair(outs)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """End of stream: the remaining frames; totals then equal the input's length."""
        if self._mono is None:  # nothing was ever received
            return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
        self._add_frames(self._stft.finish())
        return self._pair([self._run_segments(final=True)])

    # -- helpers --------------------------------------------------------------
    def _check(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, np.float32)
        if block.ndim != 2 or block.shape[1] not in (1, 2):
            raise ValueError(f"expected [frames, 1 or 2] audio, got shape {block.shape}")
        mono = block.shape[1] == 1
        if self._mono is None:
            self._mono = mono
        elif self._mono != mono:
            raise ValueError("the channel count changed within a stream")
        return block

    def _stereo(self, block: np.ndarray) -> np.ndarray:
        return np.repeat(block, 2, axis=1) if self._mono else block

    def _push_mix(self, block: np.ndarray) -> None:
        self._mix.append(block.copy())
        self._mix_count += len(block)
        self._samples_in += len(block)

    def _pop_mix(self, n: int) -> np.ndarray:
        mix = np.concatenate(self._mix) if len(self._mix) != 1 else self._mix[0]
        self._mix = [mix[n:]]
        self._mix_count -= n
        return mix[:n]

    def _add_frames(self, spec: np.ndarray) -> None:
        if len(spec):
            self._spec_chunks.append(spec)
            self._spec_count += len(spec)

    def _run_segments(self, final: bool) -> np.ndarray:
        """Run every segment the frames so far allow; return the vocals samples now final."""
        out = []
        while self._spec_count >= self.T or (final and self._spec_count > 0):
            spec = np.concatenate(self._spec_chunks) if len(self._spec_chunks) != 1 else self._spec_chunks[0]
            self._add_segment(spec[:self.T])
            last = final and self._spec_count <= self.H
            # After this segment, frames before the next segment's start are final
            # (at the very end, every frame that exists).
            ready = min(self.H, self._spec_count) if last else self.H
            out.append(self._emit(ready))
            self._spec_chunks = [spec[self.H:]]
            self._spec_count = max(0, self._spec_count - self.H)
            self._seg_start += self.H
        if final:
            out.append(self._istft_tail())
        vocals = np.concatenate(out) if out else np.zeros((0, 2), np.float32)
        vocals = vocals[:max(0, self._samples_in - self._samples_out)]
        self._samples_out += len(vocals)
        return vocals

    def _add_segment(self, spec: np.ndarray) -> None:
        """Model + masks on one segment's frames ``spec`` [≤T, BINS, 2]; accumulate weighted vocals."""
        n = len(spec)
        if n < self.T:  # end of stream: zero frames, as upstream pads
            spec = np.concatenate([spec, np.zeros((self.T - n, BINS, 2), spec.dtype)])
        mag = np.abs(spec[:, :MODEL_BINS]).transpose(2, 0, 1)[None].astype(np.float32)  # [1, 2, T, 1024]
        y_v, y_a = self.run(np.ascontiguousarray(mag))
        mask = ratio_masks(np.asarray(y_v)[0], np.asarray(y_a)[0]).transpose(1, 2, 0)   # [T, 1024, 2]
        mask = extend_mask(mask)
        if self.masks == "wiener":
            vocals = wiener_vocals(spec, mask, self.wiener_iterations)
        else:
            vocals = mask * spec
        self._acc += self.weights[:, None, None] * vocals
        self._wsum += self.weights

    def _emit(self, count: int) -> np.ndarray:
        """Normalise the first ``count`` accumulated frames, synthesise them, shift the accumulator by H."""
        frames = self._acc[:count] / self._wsum[:count, None, None]
        samples = self._istft.process(frames.astype(np.complex64))
        self._acc = np.concatenate([self._acc[self.H:], np.zeros((self.H, BINS, 2), self._acc.dtype)])
        self._wsum = np.concatenate([self._wsum[self.H:], np.zeros(self.H)])
        return samples

    def _istft_tail(self) -> np.ndarray:
        # The ISTFT releases a frame's samples once no later frame overlaps them;
        # the STFT's end padding already produced every frame touching the input,
        # so the overlap buffer left holds only padding — nothing to flush.
        return np.zeros((0, 2), np.float32)

    def _pair(self, parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Stack vocals parts [n, 2]; pair them with the aligned mix; fold to mono if needed."""
        vocals = np.concatenate(parts) if parts else np.zeros((0, 2), np.float32)
        mix = self._pop_mix(len(vocals)) if len(vocals) else np.zeros((0, 1 if self._mono else 2), np.float32)
        if self._mono:
            vocals = vocals.mean(axis=1, keepdims=True)
        vocals = vocals.astype(np.float32)
        return vocals, (mix - vocals).astype(np.float32)


def separate(audio: np.ndarray, run: ModelRun, **options) -> tuple[np.ndarray, np.ndarray]:
    """Whole-signal convenience: ``audio`` [frames, 1 or 2] at 44.1 kHz → ``(vocals, accompaniment)``.

    ``options`` are :class:`SpleeterSeparator`'s keyword arguments.
    """
    sep = SpleeterSeparator(run, **options)
    v1, a1 = sep.process(audio)
    v2, a2 = sep.finish()
    return np.concatenate([v1, v2]), np.concatenate([a1, a2])


def onnx_runner(model_dir: str | Path | None = None, threads: int | None = None,
                providers: str = "auto") -> ModelRun:
    """A ``run(mag)`` calling ``spleeter-2stems.onnx`` (from the model store when ``model_dir`` is None).

    ``mag`` float32 ``[B, 2, T, 1024]`` → ``(vocals_spectrogram, accompaniment_spectrogram)``,
    each of the same shape. Sessions are cached per (folder, threads, providers).
    """
    if model_dir is None:
        from restora.models.store import require
        model_dir = require("spleeter-2stems")
    session = _session(Path(model_dir), threads, providers)

    def run(mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vocals, accomp = session.run(["vocals_spectrogram", "accompaniment_spectrogram"],
                                     {"mix_mag": np.ascontiguousarray(mag, np.float32)})
        return vocals, accomp

    return run


@functools.lru_cache(maxsize=2)
def _session(model_dir: Path, threads: int | None, providers: str):
    from restora.models.session import make_session
    session, _ = make_session(model_dir / "spleeter-2stems.onnx", threads=threads, providers=providers)
    return session
