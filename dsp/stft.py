"""Streaming STFT / inverse STFT with explicit state and exact reconstruction.

Shapes: time-domain audio is ``[frames, channels]`` (float32 at the caller's
sample rate, any rate); spectra are ``[stft_frames, bins, channels]`` complex64
with ``bins = n_fft // 2 + 1`` (a 1-D signal gives ``[stft_frames, bins]``).

Framing. The analysis keeps the last ``n_fft - hop`` input samples as history
(zeros at the start), so STFT frame ``k`` covers input samples
``[k*hop - (n_fft - hop), k*hop + hop)``: every ``hop`` new samples complete
one frame. The synthesis overlap-adds each frame and releases ``hop`` samples
per frame; it drops the first ``n_fft - hop`` samples (the zero history), so
its output sample ``i`` is aligned with input sample ``i``. The pair's latency
is therefore ``n_fft - hop`` samples plus the unfinished part of a hop.

Normalisation. The synthesis window is the analysis window divided by
``sum_m w_a(r + m*hop) * w_a(r + m*hop)`` (the least-squares dual window), so
analysis followed by synthesis reconstructs exactly for any window and hop
that satisfy NOLA, whether or not the pair is COLA.

Why hand-written: ``scipy.signal.ShortTimeFFT`` computes the same transform
but only over a whole signal; block streaming needs the history and the
overlap buffer carried between calls, which this module keeps explicitly.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.signal import get_window


def make_window(window: str | np.ndarray, n_fft: int) -> np.ndarray:
    """An analysis window of length ``n_fft`` (float64).

    ``window`` is ``"hann"`` (periodic), ``"sqrt-hann"``, ``"vorbis"``, any name
    scipy.signal.get_window knows (periodic form), or an array of length n_fft.
    """
    if not isinstance(window, str):
        w = np.asarray(window, dtype=np.float64)
        if w.shape != (n_fft,):
            raise ValueError(f"window has shape {w.shape}, expected ({n_fft},)")
        return w
    if window == "sqrt-hann":
        return np.sqrt(get_window("hann", n_fft, fftbins=True))
    if window == "vorbis":
        # Vorbis power-complementary window; scipy has no such window.
        n = np.arange(n_fft)
        return np.sin(0.5 * np.pi * np.sin(np.pi * (n + 0.5) / n_fft) ** 2)
    return get_window(window, n_fft, fftbins=True)


def synthesis_window(analysis: np.ndarray, hop: int) -> np.ndarray:
    """The dual window that makes overlap-add invert the analysis exactly.

    Raises ValueError when (window, hop) violates NOLA (some sample is not
    covered by any non-zero window value).
    """
    n_fft = len(analysis)
    squares = analysis ** 2
    norm = np.zeros(hop)
    for start in range(0, n_fft, hop):
        part = squares[start:start + hop]
        norm[:len(part)] += part
    if np.any(norm <= 1e-10 * squares.max()):
        raise ValueError(f"window/hop={hop} is not NOLA: cannot reconstruct")
    return analysis / np.tile(norm, n_fft // hop + 1)[:n_fft]


class _Framing:
    """Frame geometry shared by the analysis and the synthesis."""

    def __init__(self, n_fft: int, hop: int, window: str | np.ndarray) -> None:
        if not 0 < hop <= n_fft:
            raise ValueError(f"hop must be in 1..n_fft, got hop={hop}, n_fft={n_fft}")
        self.n_fft = int(n_fft)
        self.hop = int(hop)
        self.window = make_window(window, self.n_fft)
        self.bins = self.n_fft // 2 + 1

    @property
    def latency(self) -> int:
        """Samples of delay the zero history adds (before the pending partial hop)."""
        return self.n_fft - self.hop


def _as_2d(x: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(x)
    return (x[:, None], True) if x.ndim == 1 else (x, False)


class StreamingSTFT(_Framing):
    """Analysis: feed ``[frames, channels]`` blocks, get completed frames.

    State: the last ``n_fft - hop`` + pending input samples (float64).
    """

    def __init__(self, n_fft: int, hop: int, window: str | np.ndarray = "hann") -> None:
        super().__init__(n_fft, hop, window)
        self._buf: np.ndarray | None = None
        self.samples_in = 0

    def reset(self) -> None:
        """Forget all history (a new stream)."""
        self._buf = None
        self.samples_in = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Return the frames completed by ``block``: ``[k, bins, channels]`` complex64."""
        x, mono = _as_2d(block)
        if self._buf is None:
            self._buf = np.zeros((self.n_fft - self.hop, x.shape[1]))
            self._mono = mono
        self.samples_in += len(x)
        self._buf = np.concatenate([self._buf, x.astype(np.float64)])
        count = (len(self._buf) - self.n_fft) // self.hop + 1 if len(self._buf) >= self.n_fft else 0
        spec = self._frames(count)
        self._buf = self._buf[count * self.hop:]
        return spec[..., 0] if mono else spec

    def finish(self) -> np.ndarray:
        """Zero-pad so every input sample has been covered by all its frames."""
        if self._buf is None:
            return np.zeros((0, self.bins, 0), np.complex64)
        pending = len(self._buf) - self.latency  # samples past the last full hop
        extra = -(-(pending + self.latency) // self.hop)  # frames still touching input
        pad = extra * self.hop - pending
        zeros = np.zeros((pad, self._buf.shape[1]))
        spec = self.process(zeros[:, 0] if self._mono else zeros)
        self.samples_in -= pad
        return spec

    def _frames(self, count: int) -> np.ndarray:
        channels = self._buf.shape[1]
        if count == 0:
            return np.zeros((0, self.bins, channels), np.complex64)
        view = np.lib.stride_tricks.sliding_window_view(self._buf, self.n_fft, axis=0)
        frames = view[: (count - 1) * self.hop + 1: self.hop]  # [count, channels, n_fft]
        spec = np.fft.rfft(frames * self.window, axis=-1)
        return np.transpose(spec, (0, 2, 1)).astype(np.complex64)


class StreamingISTFT(_Framing):
    """Synthesis: feed frames ``[k, bins, channels]``, get ``k * hop`` samples.

    State: the overlap buffer (``n_fft`` samples per channel, float64) and the
    count of leading samples still to drop. Output is float32 ``[frames, channels]``.
    """

    def __init__(self, n_fft: int, hop: int, window: str | np.ndarray = "hann") -> None:
        super().__init__(n_fft, hop, window)
        self.synthesis = synthesis_window(self.window, self.hop)
        self.reset()

    def reset(self) -> None:
        """Forget the overlap buffer (a new stream)."""
        self._acc: np.ndarray | None = None
        self._to_drop = self.latency

    def process(self, spec: np.ndarray) -> np.ndarray:
        """Overlap-add ``spec`` and return the samples no later frame can change."""
        mono = spec.ndim == 2
        spec = spec[..., None] if mono else spec
        count, _, channels = spec.shape
        if self._acc is None:
            self._acc = np.zeros((self.n_fft, channels))
        frames = np.fft.irfft(spec, n=self.n_fft, axis=1) * self.synthesis[:, None]
        out = self._overlap_add(frames)
        drop = min(self._to_drop, len(out))
        self._to_drop -= drop
        out = out[drop:].astype(np.float32)
        return out[:, 0] if mono else out

    def _overlap_add(self, frames: np.ndarray) -> np.ndarray:
        """Add ``frames`` [k, n_fft, ch] at hop spacing onto the carried buffer."""
        count, _, channels = frames.shape
        span = np.zeros((count * self.hop + self.n_fft, channels))
        span[: self.n_fft] = self._acc
        # Loop over the few hop-sized segments of a frame, not over frames.
        for seg in range(0, self.n_fft, self.hop):
            part = frames[:, seg: seg + self.hop]
            width = part.shape[1]
            target = span[seg: seg + count * self.hop].reshape(count, self.hop, channels)
            target[:, :width] += part
        ready = count * self.hop
        self._acc = span[ready: ready + self.n_fft].copy()
        return span[:ready]


class SpectralProcessor:
    """STFT → ``fn(spec)`` → iSTFT as a stream with the Node alignment rule.

    ``fn`` maps ``[k, bins, channels]`` complex64 to the same shape. Output
    sample ``i`` is aligned with input sample ``i``; after :meth:`finish` the
    output has exactly as many frames as the input.
    """

    def __init__(self, n_fft: int, hop: int, window: str | np.ndarray = "hann",
                 fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 synthesis: str | np.ndarray | None = None) -> None:
        self.analysis = StreamingSTFT(n_fft, hop, window)
        self.synth = StreamingISTFT(n_fft, hop, window if synthesis is None else synthesis)
        self.fn = fn or (lambda spec: spec)
        self._out = 0

    def reset(self) -> None:
        self.analysis.reset()
        self.synth.reset()
        self._out = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """``block`` [frames, channels] → the aligned output ready so far."""
        return self._emit(self.analysis.process(block))

    def finish(self) -> np.ndarray:
        """The remaining output; total output length equals total input length."""
        return self._emit(self.analysis.finish())

    def _emit(self, spec: np.ndarray) -> np.ndarray:
        out = self.synth.process(self.fn(spec))
        out = out[: max(0, self.analysis.samples_in - self._out)]
        self._out += len(out)
        return out


def stft(x: np.ndarray, n_fft: int, hop: int, window: str | np.ndarray = "hann") -> np.ndarray:
    """Whole-signal STFT of ``x`` [frames, channels] (or [frames]) with the streaming framing."""
    analysis = StreamingSTFT(n_fft, hop, window)
    first = analysis.process(x)
    return np.concatenate([first, analysis.finish()])


def istft(spec: np.ndarray, n_fft: int, hop: int, window: str | np.ndarray = "hann",
          length: int | None = None) -> np.ndarray:
    """Inverse of :func:`stft`; ``length`` trims to the original frame count."""
    out = StreamingISTFT(n_fft, hop, window).process(spec)
    return out if length is None else out[:length]
