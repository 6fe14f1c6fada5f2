"""Clipping repair: find the clip level from the histogram pile-up, rebuild clipped runs by constrained AR
interpolation.

One channel, float64 ``[frames]``, any sample rate. A clipped waveform piles
up at its clip level: far more samples sit just below the peak than a natural
signal puts there (a pure sine, the most peaked natural case, has a density
ratio of 2.7 between the top ``tol`` band and the ``2 tol`` below it, see
:func:`pile_up_ratio`). Samples at or above ``level * (1 - tol)`` are treated
as unknown and rebuilt by least-squares AR interpolation
(:func:`restora.dsp.declick.lsar_interpolate`) under the constraint that each
keeps its sign and is at least as far out as the clipped value (true for hard
clipping and for any soft, monotonic saturation).
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


def clipped_mask(x: np.ndarray, pos_level: float, neg_level: float, tol: float, max_len: int) -> np.ndarray:
    """Boolean mask [frames]: samples at or beyond ``(1 - tol)`` × the level of their sign, in runs of at most
    ``max_len`` samples (longer runs cannot be rebuilt from their surroundings and stay as they are).

    A level of ``inf`` means that polarity is not clipped.
    """
    mask = (x >= pos_level * (1 - tol)) | (x <= -neg_level * (1 - tol))
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
