"""Streaming ITU-R BS.1770-4 loudness (LUFS), EBU R128 loudness range, true peak.

Audio is float32 ``[frames, channels]`` at any sample rate ``sr`` (Hz), full
scale 1.0. Hand-written rather than pyloudnorm because pyloudnorm needs the
whole signal in memory and has no true-peak meter; here everything is carried
between blocks:

* K-weighting: the two BS.1770 biquads, with filter memory ``zi`` per channel.
  BS.1770 publishes coefficients for 48 kHz only. :func:`k_weighting_sos`
  inverts the bilinear transform of those coefficients to get the analog
  prototype (centre frequency, Q, gains), then applies the bilinear transform
  pre-warped at that frequency for the wanted rate — at 48 kHz this gives the
  published coefficients back.
* Gating: the K-weighted, channel-weighted mean square is summed per 100 ms
  segment (10 floats a second of audio, so hours cost kilobytes). A 400 ms
  gating block (75 % overlap) is 4 consecutive segments, a 3 s short-term
  block 30 segments.
* True peak (BS.1770-4 Annex 2): polyphase FIR interpolation ×4 below 96 kHz,
  ×2 below 192 kHz, ×1 above, see :class:`TruePeakDetector`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import bilinear, firwin, sosfilt, upfirdn

# BS.1770-4 Table 1 and 2: the K-weighting stages at 48 kHz (b0 b1 b2, a0 a1 a2).
_SHELF_48K = ([1.53512485958697, -2.69169618940638, 1.19839281085285],
              [1.0, -1.69065929318241, 0.73248077421585])
_HIGHPASS_48K = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
SEGMENTS_PER_SECOND = 10
MOMENTARY_SEGMENTS = 4      # 400 ms
SHORT_TERM_SEGMENTS = 30    # 3 s


def _unwarp(coeffs: list[float]) -> np.ndarray:
    """Polynomial in s' (highest power first) with z = (1 + s') / (1 - s')."""
    c0, c1, c2 = coeffs
    return np.array([c0 - c1 + c2, 2.0 * (c0 - c2), c0 + c1 + c2])


def _biquad_at(b48: list[float], a48: list[float], sr: float) -> np.ndarray:
    """Redesign a 48 kHz biquad for ``sr`` with the same analog prototype; one SOS row."""
    num, den = _unwarp(b48), _unwarp(a48)
    num, den = num / den[0], den / den[0]
    k48 = np.sqrt(den[2])                 # tan(pi f0 / 48000)
    f0 = 48000.0 / np.pi * np.arctan(k48)
    q = k48 / den[1]
    # Gains of the s'^2, s'^1 and s'^0 terms relative to the denominator's.
    gains = num / np.array([1.0, k48 / q, k48 ** 2])
    k = np.tan(np.pi * min(f0, 0.49 * sr) / sr)
    b_s = gains * np.array([1.0, k / q, k * k])
    a_s = np.array([1.0, k / q, k * k])
    # scipy's bilinear maps s = 2*fs*(z-1)/(z+1); fs=0.5 makes s = s'.
    b, a = bilinear(b_s, a_s, fs=0.5)
    return np.concatenate([b / a[0], a / a[0]])


def k_weighting_sos(sr: float) -> np.ndarray:
    """K-weighting filter for ``sr`` Hz as second-order sections, shape [2, 6]."""
    return np.stack([_biquad_at(*_SHELF_48K, sr), _biquad_at(*_HIGHPASS_48K, sr)])


def default_channel_weights(channels: int) -> np.ndarray:
    """BS.1770 weights: 1.0 for L/R/C, 1.41 for Ls/Rs, 0 for LFE (5.1 order L R C LFE Ls Rs)."""
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    return np.ones(channels)


def oversampling_factor(sr: float) -> int:
    """True-peak oversampling: ×4 below 96 kHz, ×2 below 192 kHz, else ×1."""
    return 4 if sr < 96000 else 2 if sr < 192000 else 1


class TruePeakDetector:
    """Oversampled peak envelope with the FIR history carried between blocks.

    Choice: a polyphase FIR run by ``scipy.signal.upfirdn`` on the block
    prefixed with the last ``taps_per_phase - 1`` input samples, keeping only
    the outputs that depend on no sample before that history — this is exactly
    the stateful filter, computed in C. (soxr at 4× rate would also work but
    brings its own delay and end-flush semantics into a meter.)

    :meth:`process` returns ``[frames, channels]`` linear peaks: row ``i`` is
    the largest |interpolated value| at times ``i - group_delay + p/L``,
    ``p = 0..L-1`` (input-sample units), i.e. covering ``[i - D, i - D + 1)``.
    """

    TAPS_PER_PHASE = 32

    def __init__(self, sr: float, channels: int, factor: int | None = None) -> None:
        self.factor = oversampling_factor(sr) if factor is None else int(factor)
        self.channels = channels
        taps = self.factor * self.TAPS_PER_PHASE - 1
        if self.factor == 1:
            self.h, self.group_delay = np.ones(1), 0.0
        else:
            # Odd length: the delay is a whole number of oversampled steps, so
            # the phases land on the original samples and the midpoints between.
            # Cut-off at the original Nyquist; the gain L restores unit passband gain.
            h = firwin(taps, 1.0 / self.factor, window=("kaiser", 9.0)) * self.factor
            self.h = np.append(h, 0.0)
            self.group_delay = (taps - 1) / (2.0 * self.factor)
        self.reset()

    def reset(self) -> None:
        self._hist = np.zeros((self.TAPS_PER_PHASE - 1, self.channels))
        self.peak = np.zeros(self.channels)

    CHUNK = 16384  # frames per upfirdn call: bounds the oversampled temporary
    SUB = 2048     # granularity at which quiet stretches skip the interpolation

    @property
    def bound(self) -> float:
        """Largest |interpolated value| per unit of input peak: max over phases of sum |taps|.

        An output row can exceed ``t`` only if the input peak over its
        ``TAPS_PER_PHASE`` samples exceeds ``t / bound`` — an exact bound for
        this FIR, which lets quiet stretches skip the oversampling.
        """
        return float(max(np.abs(self.h[p::self.factor]).sum() for p in range(self.factor)))

    def process(self, block: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Peak envelope of ``block`` [frames, channels] (see class docstring).

        With ``threshold``, rows whose true peak cannot exceed it may be given
        as their sample peak instead (never above the threshold, never below
        the sample peak): exact wherever the true peak matters, and much faster
        for a limiter's ceiling or a meter's running maximum.
        """
        x = np.asarray(block, np.float64).reshape(-1, self.channels)
        parts = [self._envelope(x[s: s + self.CHUNK], threshold) for s in range(0, len(x), self.CHUNK)]
        return np.concatenate(parts) if parts else np.zeros((0, self.channels))

    def _envelope(self, x: np.ndarray, threshold: float | None) -> np.ndarray:
        n, taps = len(x), self.TAPS_PER_PHASE
        ext = np.concatenate([self._hist, x])
        self._hist = ext[len(ext) - (taps - 1):]
        env = np.abs(x)  # a true peak is never below the sample peak
        if self.factor > 1 and n:
            if threshold is None:
                self._interpolate(ext, env, 0, n)
            else:
                # maximum over ext[i : i + taps] for each row i (the centred filter, shifted)
                window_peak = maximum_filter1d(np.abs(ext).max(axis=1), taps, origin=-(taps // 2))[:n]
                loud = window_peak * self.bound > threshold
                for start in range(0, n, self.SUB):
                    if loud[start: start + self.SUB].any():
                        self._interpolate(ext, env, start, min(start + self.SUB, n))
        self.peak = np.maximum(self.peak, env.max(axis=0, initial=0.0))
        return env

    def _interpolate(self, ext: np.ndarray, env: np.ndarray, start: int, stop: int) -> None:
        """Raise ``env[start:stop]`` to the oversampled peaks (rows use ``ext[i : i + taps]``)."""
        taps, factor = self.TAPS_PER_PHASE, self.factor
        up = upfirdn(self.h, ext[start: stop + taps - 1], up=factor, axis=0)
        up = np.abs(up[(taps - 1) * factor:][: (stop - start) * factor])
        rows = env[start:stop]
        for phase in range(factor):  # faster than a reduce over a short middle axis
            np.maximum(rows, up[phase::factor], out=rows)

    def flush_frames(self) -> int:
        """Zero frames to feed at the end so the last samples' ringing is measured."""
        return int(np.ceil(self.group_delay)) + 1

    def finish(self) -> np.ndarray:
        """Feed the flush zeros; returns their envelope rows."""
        return self.process(np.zeros((self.flush_frames(), self.channels)))


def to_db(value: float) -> float | None:
    """20·log10 of a linear peak; None for zero."""
    return None if value <= 0 else float(20.0 * np.log10(value))


def _lufs(mean_square: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(mean_square)


@dataclass
class LoudnessResult:
    """Whole-stream figures; ``None`` where the stream is too short or silent."""

    integrated_lufs: float | None
    momentary_max_lufs: float | None
    short_term_max_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None
    sample_peak_dbfs: float | None


class LoudnessMeter:
    """Streaming BS.1770-4 / EBU R128 meter for ``[frames, channels]`` blocks at ``sr`` Hz."""

    def __init__(self, sr: float, channels: int, channel_weights=None,
                 true_peak: bool = True) -> None:
        self.sr = float(sr)
        self.channels = int(channels)
        weights = default_channel_weights(channels) if channel_weights is None else channel_weights
        self.weights = np.asarray(weights, np.float64)
        if self.weights.shape != (self.channels,):
            raise ValueError(f"{len(self.weights)} channel weights for {channels} channels")
        self.sos = k_weighting_sos(self.sr)
        self.true_peak = TruePeakDetector(self.sr, self.channels) if true_peak else None
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self._zi = np.zeros((len(self.sos), 2, self.channels))
        self._sums: list[float] = []     # channel-weighted sum of squares per 100 ms segment
        self._partial = 0.0
        self._frames = 0
        self._sample_peak = 0.0
        self._flushed = False
        if self.true_peak is not None:
            self.true_peak.reset()

    def _boundary(self, segment: int) -> int:
        """First frame after segment ``segment`` (segments are 100 ms, rounded to frames)."""
        return int(round((segment + 1) * self.sr / SEGMENTS_PER_SECOND))

    def process(self, block: np.ndarray) -> None:
        """Accumulate ``block`` [frames, channels]."""
        block = np.asarray(block, np.float64).reshape(-1, self.channels)
        if len(block) == 0:
            return
        self._sample_peak = max(self._sample_peak, float(np.abs(block).max()))
        if self.true_peak is not None:
            # Only rows that could beat the running maximum need interpolating.
            self.true_peak.process(block, threshold=float(self.true_peak.peak.min()))
        weighted, self._zi = sosfilt(self.sos, block, axis=0, zi=self._zi)
        energy = (weighted * weighted) @ self.weights
        start = self._frames
        self._frames += len(block)
        pos = 0
        while (edge := self._boundary(len(self._sums)) - start) <= len(block):
            self._sums.append(self._partial + float(energy[pos:edge].sum()))
            self._partial = 0.0
            pos = edge
        self._partial += float(energy[pos:].sum())

    def _window_mean_squares(self, segments: int) -> np.ndarray:
        """Mean squares of every window of ``segments`` consecutive segments (step 100 ms)."""
        sums = np.asarray(self._sums)
        lengths = np.diff(np.round(np.arange(len(sums) + 1) * self.sr / SEGMENTS_PER_SECOND))
        if len(sums) < segments:
            return np.zeros(0)
        kernel = np.ones(segments)
        return np.convolve(sums, kernel, "valid") / np.convolve(lengths, kernel, "valid")

    def short_term_series(self) -> np.ndarray:
        """Short-term loudness (LUFS) of the 3 s window ending at each 100 ms step."""
        return _lufs(self._window_mean_squares(SHORT_TERM_SEGMENTS))

    def integrated(self) -> float | None:
        """Gated integrated loudness in LUFS; None for silence or < 400 ms."""
        z = self._window_mean_squares(MOMENTARY_SEGMENTS)
        z = z[_lufs(z) > ABSOLUTE_GATE_LUFS]
        if len(z) == 0:
            return None
        gate = _lufs(np.mean(z)) + RELATIVE_GATE_LU
        z = z[_lufs(z) > gate]
        return float(_lufs(np.mean(z)))

    def loudness_range(self) -> float | None:
        """EBU Tech 3342 loudness range (LU) from 3 s blocks at 10 Hz; None if undefined."""
        z = self._window_mean_squares(SHORT_TERM_SEGMENTS)
        z = z[_lufs(z) > ABSOLUTE_GATE_LUFS]
        if len(z) == 0:
            return None
        levels = _lufs(z)
        levels = levels[levels > _lufs(np.mean(z)) + LRA_RELATIVE_GATE_LU]
        return float(np.percentile(levels, 95) - np.percentile(levels, 10))

    def true_peak_dbtp(self) -> float | None:
        """Largest true peak so far in dBTP (flushes the interpolator once)."""
        if self.true_peak is None:
            return None
        if not self._flushed and self._frames:
            self.true_peak.finish()
            self._flushed = True
        return to_db(float(self.true_peak.peak.max()))

    def result(self) -> LoudnessResult:
        """All figures for the stream so far (call after the last block)."""
        def top(segments: int) -> float | None:
            z = self._window_mean_squares(segments)
            return float(_lufs(z.max())) if len(z) and z.max() > 0 else None

        return LoudnessResult(self.integrated(), top(MOMENTARY_SEGMENTS),
                              top(SHORT_TERM_SEGMENTS), self.loudness_range(),
                              self.true_peak_dbtp(), to_db(self._sample_peak))


def integrated_loudness(audio: np.ndarray, sr: float, channel_weights=None) -> float | None:
    """Integrated LUFS of a whole signal ``audio`` [frames, channels] at ``sr`` Hz."""
    audio = np.asarray(audio)
    audio = audio[:, None] if audio.ndim == 1 else audio
    meter = LoudnessMeter(sr, audio.shape[1], channel_weights, true_peak=False)
    meter.process(audio)
    return meter.integrated()


def true_peak_dbtp(audio: np.ndarray, sr: float) -> float | None:
    """True peak of a whole signal ``audio`` [frames, channels] in dBTP."""
    audio = np.asarray(audio)
    audio = audio[:, None] if audio.ndim == 1 else audio
    detector = TruePeakDetector(sr, audio.shape[1])
    detector.process(audio)
    detector.finish()
    return to_db(float(detector.peak.max()))
