"""Effective audio bandwidth: the frequency above which a file holds no content.

Definition (shared with super-resolution, which restores what lies above it):

1. ``P(f)``: the long-term average power spectrum, the mean over all STFT
   frames and channels of ``|X(f)|^2``, 4096-point periodic-Hann frames, hop
   1024, the stream zero-padded at both ends (:mod:`restora.dsp.stft` framing).
2. ``L(f)``: ``P`` smoothed by a 5-bin moving average in power (about ±25 Hz at
   48 kHz, to tame the variance of sparse material), in dB.
3. ``top``: the largest ``L`` above 20 Hz (DC and rumble excluded);
   ``floor``: the 2nd percentile of ``L`` above 20 Hz, i.e. the level of the
   emptiest part of the band (the region above a codec's cut-off, or the
   noise floor of full-band material).
4. Threshold ``T = clip(floor + 20 dB, top - 80 dB, top - 20 dB)``: 20 dB over
   the empty region, but never demanding more than 20 dB below the loudest
   band (full-band noise) nor accepting what is 80 dB below it (filter
   stop-bands, dither).
5. ``k1`` = the highest bin with ``L >= T`` (where content ends).
5b. Full band when nothing is empty above ``k1``: when the median of ``L``
   over the third of an octave above ``k1`` is less than 6 dB below that
   over the third of an octave up to ``k1``, and above the mid-point of
   ``floor`` and ``T`` in dB (sparse, spiky content above an empty region
   fails this), the content goes on sloping gently (pink or brown noise,
   where the "floor" of step 3 is merely the top of the content) rather
   than meeting an empty region, and the bandwidth is ``sr / 2``. A
   4th-order Butterworth falls 8 dB there, a codec's edge or content
   meeting a flat noise floor much more.
6. Edge refinement, so a filter slope is not read as content: ``ref`` = the
   median of ``L`` from half an octave to a sixth of an octave below ``k1``
   (the local passband level); the bandwidth is the centre frequency of the
   highest bin ``k <= k1`` with ``L >= max(T, ref - 10 dB)`` — near a
   filter's -10 dB point, exactly the edge for a codec's brick-wall.
7. Sharp-drop refinement, so the low-level tail of a resampler's or codec's
   stop-band (e.g. soxr's images at -50 dB below the passband, sloping down
   to the floor) is not read as content: ``S`` = ``L`` averaged in power over
   1/12 octave; for a bin ``k`` below the result of step 6, ``drop(k)`` = the
   median of ``L`` over the third of an octave up to ``k`` minus the largest
   ``S`` from 1/12 octave above ``k`` to Nyquist. Where some ``drop(k) >=
   30 dB``, the highest such ``k`` is a cut-off: the bandwidth becomes the
   highest bin ``<= k`` whose ``L`` is within 10 dB of that median (the
   filter's -10 dB point). Natural roll-off and gentle filters (slopes up to
   ~48 dB/octave) never drop 30 dB that fast, so they keep step 6's reading:
   where the content meets the empty floor (a 4th-order Butterworth on white
   noise reads well above its -3 dB point; it cannot be told from content
   that simply rolls off).
8. ``sr / 2`` when that bin is one of the top two; ``None`` when the stream
   is silent (``top`` below -140 dB re full scale, per bin).

A stream that starts or stops abruptly holds a broadband click: a test tone
without fades reads well above its frequency because that click is content.

Memory is one spectrum (2049 floats) whatever the length of the stream.
"""

from __future__ import annotations

import numpy as np

from restora.dsp.stft import StreamingSTFT

N_FFT = 4096
HOP = 1024
SMOOTH_BINS = 5
LOW_EXCLUDE_HZ = 20.0
FLOOR_PERCENTILE = 2.0
ABOVE_FLOOR_DB = 20.0
BELOW_TOP_MIN_DB = 20.0
BELOW_TOP_MAX_DB = 80.0
EDGE_DROP_DB = 10.0
SHARP_DROP_DB = 30.0
CONTINUATION_DB = 6.0
SILENCE_DB = -140.0


class BandwidthEstimator:
    """Streaming estimator; feed float32 ``[frames, channels]`` blocks at ``sr`` Hz."""

    def __init__(self, sr: float) -> None:
        self.sr = float(sr)
        self.reset()

    def reset(self) -> None:
        self._stft = StreamingSTFT(N_FFT, HOP, "hann")
        self._power = np.zeros(N_FFT // 2 + 1)
        self._count = 0

    def process(self, block: np.ndarray) -> None:
        """Accumulate the power spectrum of ``block`` [frames, channels]."""
        self._add(self._stft.process(np.asarray(block, np.float64)))

    def _add(self, spec: np.ndarray) -> None:
        if spec.size:
            self._power += (np.abs(spec) ** 2).sum(axis=(0, 2))
            self._count += spec.shape[0] * spec.shape[2]

    def spectrum_db(self) -> np.ndarray:
        """Smoothed long-term spectrum ``L(f)`` in dB (per bin, [N_FFT//2 + 1])."""
        mean = self._power / max(self._count, 1)
        # Normalise so a full-scale sine's bin reads about 0 dB.
        mean = mean / (np.sum(self._stft.window) / 2.0) ** 2
        smooth = np.convolve(mean, np.ones(SMOOTH_BINS) / SMOOTH_BINS, mode="same")
        return 10.0 * np.log10(np.maximum(smooth, 1e-30))

    def finish(self) -> float | None:
        """Flush and return the bandwidth in Hz (None for silence)."""
        self._add(self._stft.finish())
        return self.result()

    def result(self) -> float | None:
        """Bandwidth in Hz from what was fed so far (see module docstring)."""
        if self._count == 0:
            return None
        level = self.spectrum_db()
        freqs = np.arange(len(level)) * self.sr / N_FFT
        band = level[freqs >= LOW_EXCLUDE_HZ]
        top = band.max()
        if top < SILENCE_DB:
            return None
        floor = np.percentile(band, FLOOR_PERCENTILE)
        threshold = np.clip(floor + ABOVE_FLOOR_DB, top - BELOW_TOP_MAX_DB, top - BELOW_TOP_MIN_DB)
        highest = int(np.nonzero(level >= threshold)[0].max())
        if _continues_gently(level, highest, floor, threshold):
            return self.sr / 2.0
        below = level[int(highest / 2 ** 0.5): max(int(highest / 2 ** (1 / 6)), 1)]
        if len(below):
            edge_level = max(threshold, float(np.median(below)) - EDGE_DROP_DB)
            highest = int(np.nonzero(level[: highest + 1] >= edge_level)[0].max())
        highest = _sharp_drop_edge(level, highest)
        if highest >= len(level) - 2:
            return self.sr / 2.0
        return float(freqs[highest])


def _octave_bin(k: int | np.ndarray, octaves: float) -> np.ndarray:
    return np.round(np.asarray(k) * 2.0 ** octaves).astype(int)


def _continues_gently(level: np.ndarray, highest: int, floor: float, threshold: float) -> bool:
    """Step 5b: the spectrum goes on above ``highest`` without a drop (no empty region there)."""
    above = level[highest + 1: _octave_bin(highest, 1 / 3) + 1]
    below = level[_octave_bin(highest, -1 / 3): highest + 1]
    if len(above) < 2:
        return False
    above_level = float(np.median(above))
    return above_level > max(float(np.median(below)) - CONTINUATION_DB, (floor + threshold) / 2.0)


def _sharp_drop_edge(level: np.ndarray, highest: int) -> int:
    """Step 7 of the module docstring: the -10 dB edge of the highest sharp drop <= ``highest``."""
    bins = np.arange(len(level))
    power = 10.0 ** (level / 10.0)
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    lo = np.maximum(_octave_bin(bins, -1 / 24), 0)
    hi = np.minimum(_octave_bin(bins, 1 / 24) + 1, len(level))
    smooth = 10.0 * np.log10(np.maximum((cumulative[hi] - cumulative[lo]) / (hi - lo), 1e-30))
    above_max = np.maximum.accumulate(smooth[::-1])[::-1]  # largest S from bin k up
    for k in range(highest, 8, -1):
        start = _octave_bin(k, 1 / 12)
        if start >= len(level):
            continue
        below = float(np.median(level[_octave_bin(k, -1 / 3): k + 1]))
        if below - above_max[start] >= SHARP_DROP_DB:
            return int(np.nonzero(level[: k + 1] >= below - EDGE_DROP_DB)[0].max())
    return highest


def estimate_bandwidth(audio: np.ndarray, sr: float) -> float | None:
    """Bandwidth in Hz of a whole signal ``audio`` [frames, channels] at ``sr`` Hz."""
    audio = np.asarray(audio)
    estimator = BandwidthEstimator(sr)
    estimator.process(audio[:, None] if audio.ndim == 1 else audio)
    return estimator.finish()
