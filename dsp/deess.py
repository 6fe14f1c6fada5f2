"""Split-band de-esser: a linear-phase band-pass, its exact complement, and a ratio detector.

Signals are float64 ``[frames, channels]`` at ``rate`` Hz. The sibilant band is
an odd-length Kaiser-window FIR band-pass (``scipy.signal.firwin``, linear
phase, delay ``(taps - 1) / 2`` samples); the rest of the signal is the input
delayed by the same amount minus the band, so the two bands always sum back to
the (delayed) input exactly. Only the band's gain changes:
``main = delayed - (1 - g) * band`` and ``removed = (1 - g) * band``.

Detector (linked over channels): band power and full-band power, each smoothed
by a one-pole filter (``DETECT_MS``), give the band's level relative to the
full band in dB; every dB above ``threshold_db`` becomes a dB of reduction, up
to ``max_reduction_db`` (an infinite-ratio compressor on the ratio, so a
sibilant burst is brought down to the threshold). Band levels below
``FLOOR_DB`` dBFS are never reduced (silence and hiss stay put). The reduction
rises through a one-pole attack and falls with an exponential release.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import firwin, lfilter

DETECT_MS = 2.0  # ms, power smoothing of the detector
FLOOR_DB = -60.0  # dBFS, band power below which nothing is reduced
FIR_MS = 4.0  # ms, length of the band-pass (about 1/FIR_MS kHz transition bands)


def band_edges(low_hz: float, high_hz: float, rate: int) -> tuple[float, float] | None:
    """The band actually used at ``rate`` Hz: ``high_hz`` clamped to 0.45 x rate; None if nothing is left."""
    high = min(high_hz, 0.45 * rate)
    low = min(low_hz, high)
    return (low, high) if high - low >= 0.02 * rate else None


def bandpass_taps(low_hz: float, high_hz: float, rate: int) -> np.ndarray:
    """Odd-length linear-phase band-pass FIR taps (float64) for [low_hz, high_hz] at ``rate`` Hz."""
    taps = round(FIR_MS * 1e-3 * rate) | 1
    return firwin(taps, [low_hz, high_hz], pass_zero=False, fs=rate, window=("kaiser", 8.0))


def _one_pole(time_s: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of a one-pole low-pass with time constant ``time_s``."""
    p = np.exp(-1.0 / max(time_s * rate, 1e-9))
    return np.array([1.0 - p]), np.array([1.0, -p])


class SibilanceDetector:
    """Per-sample reduction (dB, >= 0) from the band and full-band signals [frames, channels]."""

    def __init__(self, rate: int, threshold_db: float, max_reduction_db: float,
                 attack_ms: float, release_ms: float) -> None:
        self.threshold_db, self.max_db = threshold_db, max_reduction_db
        self._smooth = _one_pole(DETECT_MS * 1e-3, rate)
        self._attack = _one_pole(attack_ms * 1e-3, rate)
        self._release = np.exp(-1.0 / max(release_ms * 1e-3 * rate, 1e-9))
        self._zb = self._zf = self._za = np.zeros(1)
        self._held = 0.0

    def __call__(self, band: np.ndarray, full: np.ndarray) -> np.ndarray:
        pb, self._zb = lfilter(*self._smooth, np.mean(band ** 2, axis=1), zi=self._zb)
        pf, self._zf = lfilter(*self._smooth, np.mean(full ** 2, axis=1), zi=self._zf)
        ratio_db = 10.0 * np.log10((pb + 1e-30) / (pf + 1e-30))
        target = np.clip(ratio_db - self.threshold_db, 0.0, self.max_db)
        target[pb < 10.0 ** (FLOOR_DB / 10.0)] = 0.0
        held = self._hold_release(target)
        reduction, self._za = lfilter(*self._attack, held, zi=self._za)
        return reduction

    def _hold_release(self, target: np.ndarray) -> np.ndarray:
        """``d[n] = max(t[n], r * d[n-1])``: instant rise, exponential fall, computed as a running maximum."""
        out = np.empty_like(target)
        log_r = np.log(self._release)
        for s in range(0, len(target), 4096):  # bounds n * log r so the exponent keeps full precision
            t = target[s: s + 4096]
            steps = np.arange(1, len(t) + 1) * log_r
            with np.errstate(divide="ignore"):
                shifted = np.log(t) - steps
                prev = np.log(self._held) if self._held > 0 else -np.inf
            d = np.exp(np.maximum.accumulate(np.maximum(shifted, prev)) + steps)
            self._held = float(d[-1])
            out[s: s + len(t)] = d
        return out


class FirBand:
    """Streaming band-pass and equal delay of the input, each [frames, channels] float64."""

    def __init__(self, taps: np.ndarray, channels: int) -> None:
        self.taps = taps
        self.delay = (len(taps) - 1) // 2
        self._zi = np.zeros((len(taps) - 1, channels))
        self._line = np.zeros((self.delay, channels))

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        band, self._zi = lfilter(self.taps, [1.0], x, axis=0, zi=self._zi)
        ext = np.concatenate([self._line, x])
        self._line = ext[len(ext) - self.delay:]
        return band, ext[: len(x)]

