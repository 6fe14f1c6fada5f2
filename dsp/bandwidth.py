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
6. Edge refinement, so a filter slope is not read as content: ``ref`` = the
   median of ``L`` from half an octave to a sixth of an octave below ``k1``
   (the local passband level); the bandwidth is the centre frequency of the
   highest bin ``k <= k1`` with ``L >= max(T, ref - 10 dB)`` — near a
   filter's -10 dB point, exactly the edge for a codec's brick-wall.
7. ``sr / 2`` when that bin is one of the top two; ``None`` when the stream
   is silent (``top`` below -140 dB re full scale, per bin).

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
        below = level[int(highest / 2 ** 0.5): max(int(highest / 2 ** (1 / 6)), 1)]
        if len(below):
            edge_level = max(threshold, float(np.median(below)) - EDGE_DROP_DB)
            highest = int(np.nonzero(level[: highest + 1] >= edge_level)[0].max())
        if highest >= len(level) - 2:
            return self.sr / 2.0
        return float(freqs[highest])


def estimate_bandwidth(audio: np.ndarray, sr: float) -> float | None:
    """Bandwidth in Hz of a whole signal ``audio`` [frames, channels] at ``sr`` Hz."""
    audio = np.asarray(audio)
    estimator = BandwidthEstimator(sr)
    estimator.process(audio[:, None] if audio.ndim == 1 else audio)
    return estimator.finish()
