"""Clipping repair: find a hard clip level (histogram pile-up) or a soft-clipping knee (flattened loud peaks),
rebuild the samples above it by constrained AR interpolation.

One channel, float64 ``[frames]``, any sample rate. A hard-clipped waveform
piles up at its clip level: far more samples sit just below the peak than a
natural signal puts there (a pure sine, the most peaked natural case, has a
density ratio of 2.7 between the top ``tol`` band and the ``2 tol`` below
it, see :func:`pile_up_ratio`); samples at or above ``level * (1 - tol)``
are then unknown. A soft-clipped one (a monotonic saturation such as
``L tanh(x / L)``) has no plateau, but it flattens its loud peaks: the
normalised curvature ``(2 y[n] - y[n-1] - y[n+1]) / y[n]`` of a local
maximum ``y[n]`` shrinks by the saturation's ``f'(x) x / f(x)``, so the
peaks in the top 15 % of the range are far flatter than those at half the
peak (:func:`peak_histogram`, :func:`detect_knee`); samples above half the
peak are then unknown. Unknown samples are rebuilt by least-squares AR
interpolation (:func:`restora.dsp.declick.lsar_interpolate`) under the
constraint that each keeps its sign and is at least as far out as the
clipped value (true for hard clipping and for any soft, monotonic
saturation).
"""

from __future__ import annotations

import numpy as np

from restora.dsp.declick import ar_fit, lsar_interpolate, runs

# Magnitude histogram on a dB scale, so quiet files get the same relative resolution:
# 0.005 dB bins from -160 dBFS (and below) to +12 dBFS (and above).
HIST_LOW_DB, HIST_STEP_DB = -160.0, 0.005
HIST_BINS = int(172.0 / HIST_STEP_DB)
PILE_UP_RATIO = 5.0            # natural signals stay below ~2.7 (a pure sine)
MIN_PILE_UP = 8                # samples: fewer cannot show a pile-up


def magnitude_histogram(x: np.ndarray) -> np.ndarray:
    """Counts [2, HIST_BINS] of the magnitudes of the positive (row 0) and negative (row 1) samples of ``x``."""
    bins = _bin(np.abs(x))
    return np.stack([np.bincount(bins[x > 0], minlength=HIST_BINS),
                     np.bincount(bins[x < 0], minlength=HIST_BINS)])


def _bin(magnitude: np.ndarray | float) -> np.ndarray:
    """Histogram bin of each magnitude (full-scale units)."""
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(np.maximum(magnitude, 1e-30))
    return np.clip(((db - HIST_LOW_DB) / HIST_STEP_DB).astype(np.int64), 0, HIST_BINS - 1)


def pile_up_ratio(hist: np.ndarray, peak: float, tol: float) -> tuple[float, int]:
    """(density in ``[peak (1-tol), peak]`` over density in ``[peak (1-3 tol), peak (1-tol))``, count in the top band).

    ``hist`` [HIST_BINS] counts magnitudes (:func:`magnitude_histogram`); ``peak`` is the largest magnitude.
    """
    top = int(_bin(peak * (1 - tol)))
    below = int(_bin(peak * max(1 - 3 * tol, 1e-3)))
    c1 = int(hist[top:].sum())
    c2 = int(hist[below:top].sum())
    return 2.0 * c1 / max(c2, 1), c1


def detect_level(hist: np.ndarray, peak: float, tol: float) -> float | None:
    """The clip level (``peak``, full-scale units) if the histogram piles up there, else None."""
    if peak <= 0.0:
        return None
    ratio, count = pile_up_ratio(hist, peak, tol)
    return float(peak) if ratio >= PILE_UP_RATIO and count >= MIN_PILE_UP else None


def clipped_mask(x: np.ndarray, pos_from: float, neg_from: float, max_len: int) -> np.ndarray:
    """Boolean mask [frames]: samples at or beyond ``pos_from`` (positive) or ``-neg_from`` (negative), full-scale
    units, in runs of at most ``max_len`` samples (longer runs cannot be rebuilt from their surroundings and stay
    as they are).

    A bound of ``inf`` means that polarity is not clipped.
    """
    mask = (x >= pos_from) | (x <= -neg_from)
    for start, stop in runs(mask):
        if stop - start > max_len:
            mask[start:stop] = False
    return mask


def declip(x: np.ndarray, mask: np.ndarray, order: int, passes: int = 2) -> np.ndarray:
    """Rebuild ``x[mask]`` (``x`` [frames]); returns a new float64 array, equal to ``x`` outside ``mask``.

    The AR model is first fitted to the clipped signal, then (``passes`` > 1)
    refitted to the rebuilt one, Janssen style; each solve keeps every rebuilt
    sample's sign and magnitude at least ``|x|``.
    """
    x = np.asarray(x, np.float64)
    if not mask.any():
        return x.copy()
    lower = np.abs(x)
    y = x
    for _ in range(max(1, passes)):
        y = lsar_interpolate(x, ar_fit(y, order), mask, lower=lower)
    return y


# -- soft clipping ------------------------------------------------------------
# Local maxima histogram: peak level on 0.25 dB bins over the magnitude histogram's range, times normalised
# curvature (2 y[n] - y[n-1] - y[n+1]) / y[n] on quarter-octave bins from 2**-24 to 2**2.
PEAK_STEP_DB = 0.25
PEAK_BINS = int(172.0 / PEAK_STEP_DB)
CURV_LOW_LOG2, CURV_STEP_LOG2 = -24.0, 0.25
CURV_BINS = int(26.0 / CURV_STEP_LOG2)
SOFT_TOP = 0.85                # maxima at or above this fraction of the peak ...
SOFT_REF = (0.5, 0.7)          # ... against those in this range of it
SOFT_DROP = 1.5                # octaves flatter: soft clipping (clean speech and music stay within 1.0)
MIN_SOFT_PEAKS = 30            # maxima needed in each range
MIN_REF_SHARE = 0.1            # ... and in the reference range at least this share of those in the top one (a steady
                               # periodic waveform, e.g. a synth bass, has nearly all its maxima at the top)
SOFT_KNEE = 0.5                # rebuild from half the peak up (0.4-0.5 measured best on tanh-clipped material)


def _peak_bin(magnitude: np.ndarray | float) -> np.ndarray:
    """Level bin of each peak magnitude (full-scale units)."""
    return np.asarray(_bin(magnitude)) // int(round(PEAK_STEP_DB / HIST_STEP_DB))


def peak_histogram(x: np.ndarray) -> np.ndarray:
    """Counts [2, PEAK_BINS, CURV_BINS] of the local maxima of ``x`` [frames] (row 0) and of ``-x`` (row 1), by
    level and normalised curvature; the first and last sample are only neighbours (carry two samples over when
    counting a stream in pieces)."""
    out = np.zeros((2, PEAK_BINS * CURV_BINS), np.int64)
    for row, y in enumerate((x, -x)):
        a, b, c = y[:-2], y[1:-1], y[2:]
        at = (b > a) & (b >= c) & (b > 0)
        a, b, c = a[at], b[at], c[at]
        curv = np.log2(np.maximum((2 * b - a - c) / b, 2.0 ** CURV_LOW_LOG2))
        k = np.clip(((curv - CURV_LOW_LOG2) / CURV_STEP_LOG2).astype(np.int64), 0, CURV_BINS - 1)
        out[row] = np.bincount(_peak_bin(b) * CURV_BINS + k, minlength=PEAK_BINS * CURV_BINS)
    return out.reshape(2, PEAK_BINS, CURV_BINS)


def _median_log2(counts: np.ndarray) -> float:
    """Median normalised curvature (log2) of the peaks counted in ``counts`` [CURV_BINS]."""
    cum = np.cumsum(counts)
    return CURV_LOW_LOG2 + CURV_STEP_LOG2 * float(np.searchsorted(cum, cum[-1] / 2))


def flattening(peaks: np.ndarray, peak: float) -> tuple[float, int, int]:
    """(octaves by which the median curvature of the local maxima in ``[SOFT_TOP peak, peak]`` lies below that of
    those in ``SOFT_REF × peak``, their counts); ``peaks`` [PEAK_BINS, CURV_BINS] (:func:`peak_histogram`)."""
    top = peaks[int(_peak_bin(SOFT_TOP * peak)):].sum(axis=0)
    ref = peaks[int(_peak_bin(SOFT_REF[0] * peak)):int(_peak_bin(SOFT_REF[1] * peak))].sum(axis=0)
    n_top, n_ref = int(top.sum()), int(ref.sum())
    if not n_top or not n_ref:
        return 0.0, n_top, n_ref
    return _median_log2(ref) - _median_log2(top), n_top, n_ref


def detect_knee(peaks: np.ndarray, peak: float) -> float | None:
    """The soft-clipping knee (``SOFT_KNEE × peak``, full-scale units) if the loudest local maxima are flattened
    (:func:`flattening` by ``SOFT_DROP`` octaves or more, with enough maxima in both ranges), else None.

    ``peaks`` [PEAK_BINS, CURV_BINS] counts one polarity's maxima (:func:`peak_histogram`), ``peak`` is its largest
    magnitude.
    """
    if peak <= 0.0:
        return None
    drop, n_top, n_ref = flattening(peaks, peak)
    found = drop >= SOFT_DROP and min(n_top, n_ref) >= MIN_SOFT_PEAKS and n_ref >= MIN_REF_SHARE * n_top
    return SOFT_KNEE * float(peak) if found else None

