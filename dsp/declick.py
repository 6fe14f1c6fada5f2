"""Click and crackle removal: autoregressive (AR) detection and least-squares AR interpolation.

All functions work on one channel, float64 ``[frames]``, at any sample rate;
the caller (:class:`restora.graph.nodes_declick.DeclickNode`) cuts the stream
into fixed overlapping chunks. The method is the classic one of Vaseghi and
Rayner / Godsill: fit an AR model to the chunk, flag samples whose two-sided
prediction error is far above its local robust level, widen the flags to cover
each event, and replace the flagged samples by the values that minimise the
AR prediction error energy (LSAR interpolation, as in Janssen et al.).

scipy has no AR interpolator, so :func:`lsar_interpolate` is written by hand on
scipy's sparse matrices and sparse solver; the AR fit uses
``scipy.linalg.solve_toeplitz`` (Levinson recursion). :func:`lsar_interpolate`
also takes lower bounds on the magnitude of signed unknowns, which the
de-clipper (:mod:`restora.dsp.declip`) uses.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import solve_toeplitz
from scipy.ndimage import median_filter
from scipy.signal import fftconvolve
from scipy.sparse.linalg import spsolve

# White-noise correction of the AR fit (relative to the signal power): keeps
# Levinson stable on pure tones and sets a floor below which nothing is "error".
_NOISE_FLOOR = 1e-7
_ABS_FLOOR = 1e-7  # detection statistic below this (about -140 dBFS) is never a click


def ar_fit(x: np.ndarray, order: int) -> np.ndarray:
    """Prediction-error filter ``[1, a1..ap]`` (``e[t] = sum_k a_k x[t-k]``) of a Hann-windowed ``x`` [frames].

    Autocorrelation method; returns ``[1, 0, ...]`` for silence or input shorter than ``2 * order``.
    """
    a = np.zeros(order + 1)
    a[0] = 1.0
    n = len(x)
    if n < 2 * order or order == 0:
        return a
    w = x * np.hanning(n)
    r = fftconvolve(w, w[::-1])[n - 1: n + order]
    if r[0] <= 0.0:
        return a
    r[0] *= 1.0 + _NOISE_FLOOR
    a[1:] = -solve_toeplitz(r[:order], r[1:order + 1])
    return a


def click_statistic(x: np.ndarray, a: np.ndarray, frame: int) -> np.ndarray:
    """Click score [frames]: the smaller of the forward and backward AR errors, each over its local robust sigma.

    A click makes the forward error large from its start over the next ``p``
    samples and the backward error over the ``p`` before its end; both are
    large only on the click itself, which localises it without side lobes.
    Zero within ``p`` samples of either end (no context there).
    """
    p = len(a) - 1
    n = len(x)
    out = np.zeros(n)
    if n <= 2 * p + 1:
        return out
    fwd = np.convolve(x, a, "valid")[: n - 2 * p]          # errors at t = p .. n-p-1
    bwd = np.convolve(x, a[::-1], "valid")[p:]             # same samples, predicted from the future
    f = np.abs(fwd) / np.maximum(local_scale(fwd, frame), _ABS_FLOOR)
    b = np.abs(bwd) / np.maximum(local_scale(bwd, frame), _ABS_FLOOR)
    out[p: n - p] = np.minimum(f, b)
    return out


def local_scale(stat: np.ndarray, frame: int, span: int = 7) -> np.ndarray:
    """Robust standard deviation [frames] of ``stat``: 1.4826 × the median |stat| over about ``span`` frames.

    Medians of ``frame``-sample frames, then a median over ``span`` neighbouring
    frames, so that a burst filling one frame does not raise its own threshold.
    """
    n = len(stat)
    frames = max(1, -(-n // frame))
    padded = np.full(frames * frame, np.nan)
    padded[:n] = np.abs(stat)
    med = np.nanmedian(padded.reshape(frames, frame), axis=1)
    med = median_filter(med, size=span, mode="nearest")
    return 1.4826 * np.repeat(med, frame)[:n]


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in ``mask`` [frames]."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


# Bridging of dips inside a burst (_bridge): a gap no longer than BRIDGE_RUNS x the longer run beside it, or
# one where the score stays above BRIDGE_SHARE x the threshold for at least BRIDGE_RAISED of its samples.
BRIDGE_SHARE = 0.3
BRIDGE_RUNS = 1
BRIDGE_RAISED = 0.5


def _bridge(hits: np.ndarray, raised: np.ndarray, gap: int) -> np.ndarray:
    """``hits`` [frames] with each gap of at most ``gap`` samples between two runs filled when it is no longer
    than BRIDGE_RUNS x the longer run beside it or ``raised`` holds for BRIDGE_RAISED of it (the score stays
    up inside a burst).

    Two crackles a few samples apart stay two events: one long interpolated gap costs far more error than
    two short ones.
    """
    out = hits.copy()
    spans = runs(hits)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        g = b0 - a1
        if g <= gap and (g <= BRIDGE_RUNS * max(a1 - a0, b1 - b0) or raised[a1:b0].mean() >= BRIDGE_RAISED):
            out[a1:b0] = True
    return out


def detect_clicks(x: np.ndarray, a: np.ndarray, factor: float, widen: int, max_len: int,
                  frame: int, gap: int) -> np.ndarray:
    """Boolean mask [frames] of click samples in ``x``: :func:`click_statistic` above ``factor`` (robust sigmas).

    Detections closer than ``gap`` samples are joined where they look like one burst (:func:`_bridge`), each
    event is widened by up to ``widen`` samples on both sides (:func:`_widen`: the edges of a click can hide
    under the signal); events longer than ``max_len`` samples after widening are left alone (they are more
    likely transients than clicks).
    """
    stat = click_statistic(x, a, frame)
    hits = stat > factor
    if hits.any():
        # Inside a burst the score dips where a sample happens to fit the model: bridge those dips (_bridge),
        # then widen.
        hits = _bridge(hits, stat > BRIDGE_SHARE * factor, gap)
        if widen > 0:
            hits = _widen(hits, widen)
    for start, stop in runs(hits):
        if stop - start > max_len + 2 * widen:
            hits[start:stop] = False
    return hits


def _widen(hits: np.ndarray, widen: int) -> np.ndarray:
    """``hits`` [frames] with each run of ``n`` samples widened by ``min(widen, n)`` samples on both sides.

    A short event (crackle: 1-3 samples) is widened by little: every extra sample interpolated costs more
    error than its hidden edge would, whereas a burst's edges do hide under the signal.
    """
    out = hits.copy()
    for start, stop in runs(hits):
        w = min(widen, stop - start)
        out[max(0, start - w):stop + w] = True
    return out


def _error_matrix(a: np.ndarray, n: int, unknown: np.ndarray) -> sparse.csr_matrix:
    """Rows of the prediction-error operator (t = p..n-1) that touch an unknown sample: sparse [rows, n]."""
    p = len(a) - 1
    touch = np.convolve(unknown.astype(np.int32), np.ones(p + 1, np.int32))[p:n]  # rows t = p..n-1
    t = np.flatnonzero(touch) + p
    k = np.arange(p + 1)
    cols = (t[:, None] - k[None, :]).ravel()
    rows = np.repeat(np.arange(len(t)), p + 1)
    vals = np.tile(a, len(t))
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(t), n))


def lsar_interpolate(x: np.ndarray, a: np.ndarray, unknown: np.ndarray, lower: np.ndarray | None = None,
                     max_iter: int = 12) -> np.ndarray:
    """Replace ``x[unknown]`` [frames] by the values minimising the AR prediction error energy ``||A x||²``.

    ``lower`` (same shape as ``x``, used where ``unknown``) asks for
    ``sign(x) * result >= lower`` (the de-clipper: the true waveform is at least
    as far out as the clipped one, with the same sign); the bounded problem is
    solved by a primal active set (fix violated samples at their bound, free
    those whose gradient pulls them outward), at most ``max_iter`` solves, then
    clamped. Returns a new array; ``x`` is unchanged.
    """
    out = np.array(x, dtype=np.float64)
    idx = np.flatnonzero(unknown)
    n, p = len(x), len(a) - 1
    if len(idx) == 0 or n <= p:
        return out
    A = _error_matrix(a, n, unknown).tocsc()
    if A.shape[0] == 0:
        return out
    # Normal equations over all unknowns: H z = -g, with the known samples fixed.
    Au = A[:, idx]
    H = (Au.T @ Au).tocsr()
    known = out.copy()
    known[idx] = 0.0
    g = Au.T @ (A @ known)
    sign = np.where(x[idx] < 0, -1.0, 1.0)
    bound = None if lower is None else np.asarray(lower, np.float64)[idx]
    fixed = np.zeros(len(idx), bool)
    z = out[idx]
    for _ in range(max_iter if bound is not None else 1):
        z[~fixed] = _solve_free(H, g, z, fixed)
        if bound is None:
            break
        low = ~fixed & (sign * z < bound - 1e-12)
        grad = sign * (H @ z + g)   # d cost / d(sign * z), halved
        free = fixed & (grad < -1e-12)
        z[low] = sign[low] * bound[low]
        if not low.any() and not free.any():
            break
        fixed = (fixed | low) & ~free
    if bound is not None:
        z = sign * np.maximum(sign * z, bound)
    out[idx] = z
    return out


def _solve_free(H: sparse.csr_matrix, g: np.ndarray, z: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Values of the free unknowns minimising ``z^T H z / 2 + g^T z`` with ``z[fixed]`` held.

    Solved by scipy's sparse LU: H restricted to the unknowns is banded
    (half-bandwidth at most ``p``, as unknowns are sorted), so the natural
    ordering adds no fill. A tiny ridge keeps it non-singular where context is
    missing (chunk edges).
    """
    free = np.flatnonzero(~fixed)
    if len(free) == 0:
        return np.zeros(0)
    Hff = H[free][:, free]
    rhs = -(g[free] + H[free][:, fixed] @ z[fixed]) if fixed.any() else -g[free]
    ridge = 1e-9 * max(float(Hff.diagonal().mean()), 1e-30)
    Hff = (Hff + ridge * sparse.identity(len(free), format="csr")).tocsc()
    return np.atleast_1d(spsolve(Hff, rhs, permc_spec="NATURAL"))


def declick(x: np.ndarray, order: int, factor: float, widen: int, max_len: int, frame: int, gap: int,
            passes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Detect and repair clicks in ``x`` [frames]; returns (repaired [frames] float64, click mask [frames]).

    ``passes`` > 1 refits the AR model on the repaired signal and interpolates
    again (the clicks themselves bias the first fit).
    """
    x = np.asarray(x, np.float64)
    a = ar_fit(x, order)
    mask = detect_clicks(x, a, factor, widen, max_len, frame, gap)
    if not mask.any():
        return x.copy(), mask
    y = lsar_interpolate(x, a, mask)
    for _ in range(passes - 1):
        y = lsar_interpolate(x, ar_fit(y, order), mask)
    return limit_to_context(y, mask, order), mask


def limit_to_context(y: np.ndarray, mask: np.ndarray, margin: int, headroom: float = 1.5) -> np.ndarray:
    """Clamp each interpolated run of ``y`` [frames] to ``headroom`` × the peak of the ``margin`` samples around it.

    A guard: a poorly conditioned AR fit can make a long gap ring up; no
    repair should be louder than the signal around it.
    """
    y = y.copy()
    for start, stop in runs(mask):
        lo, hi = max(0, start - margin), min(len(y), stop + margin)
        around = np.concatenate([y[lo:start], y[stop:hi]])
        limit = headroom * float(np.max(np.abs(around))) if len(around) else 0.0
        np.clip(y[start:stop], -limit, limit, out=y[start:stop])
    return y
