"""Hum detection and removal: a harmonic-series search; fitted-sinusoid subtraction or a bank of fixed notches.

Detection (:func:`detect_hum`) looks at a mono float64 signal (any sample rate),
resampled to 8 kHz (hum harmonics that matter for finding the fundamental lie
below 4 kHz, and a fixed rate keeps the spectrum small). A Hann-windowed,
zero-padded periodogram (about 0.06 Hz per bin) is compared with its running
median over ±20 Hz (the noise floor); narrow peaks above the floor are
candidates. A steady hum is a harmonic series, so each candidate fundamental
(a peak, or a half or third of one, between 40 and 400 Hz) scores the summed
prominence of the peaks it explains; the best (highest fundamental among
near-ties, so that a series of even harmonics is not given twice as many
notches as it needs) is refined by a least-squares fit of ``f_k = k f0`` over
its peaks. Mains (50/60 Hz ± ``MAINS_TOLERANCE_HZ``) is tried first and
needs two peaks of ``MAINS_PROMINENCE_DB`` or one of ``MAINS_SINGLE_PEAK_DB``;
any other series needs two peaks of ``PROMINENCE_DB`` or one of
``SINGLE_PEAK_DB``, and a level that stays steady over the analysis (a held
note swells or fades). On the benchmark's music with hum at -20 dB this finds
11 of 12 hums from 4 s and takes no note for hum (the first version, from
2 s with one threshold: 2 of 12, and a note in 2 of 6 clean recordings).

Removal, default (:func:`subtract_hum`): the least-squares fit of sinusoids
at the harmonics over a window (at the fundamental that window finds near the
given one, :func:`track_fundamental`, so a drifting mains is followed), each
harmonic weighted by how far it stands above the programme beside it,
subtracted; see its docstring. The benchmark
(docs/benchmarks.md, "Classic repairs") measured it 3-6 dB better in waveform
SDR than a zero-phase notch on the fundamental, and it leaves clean passages
nearly untouched; the notch bank is kept as ``method=notch``.

Removal by notches (:func:`notch_bank`) uses one fixed second-order notch per harmonic
rather than adaptive notches: mains frequency drifts by well under 0.1 Hz over
minutes, which a notch a few hertz wide covers, and fixed filters give an
output that is exactly reproducible and independent of how the stream is cut
into blocks. Each notch is ``(1 - a) + a·N(z)`` with ``N`` scipy's ``iirnotch``:
same poles, so it stays a biquad, with a finite depth ``-20 log10(1 - a)`` dB.
The bandwidth grows with the harmonic number because the fundamental's
estimation error (and any drift) is multiplied by ``k`` at harmonic ``k``.
Widths are a compromise: a 1.5 Hz notch (amount 100 %) takes a hum that is
detected to within 0.02 Hz down by about 50 dB after a second, and still 14 dB
when the hum drifts 0.1 Hz away, but its phase shift reaches tens of hertz
around it: on speech whose harmonics lie near the notches the waveform error
away from the notches is about -29 dB (-33 dB at 50 %), the level change 0.2 dB.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import find_peaks, iirnotch, resample_poly

DETECT_RATE = 8000  # Hz, rate of the detection spectrum
F0_RANGE = (40.0, 400.0)  # Hz, fundamentals searched
PROMINENCE_DB = 20.0  # a peak must stand this far above the local median (noise maxima reach ~11 dB)
SINGLE_PEAK_DB = 35.0  # a lone peak (no harmonics) needs this much to count as hum
# Mains is one narrow hypothesis, so its series is accepted on weaker evidence: a hum at -20 dB under dense
# music often stands only 12-27 dB above the floor (docs/benchmarks.md).
MAINS_PROMINENCE_DB = 12.0
MAINS_SINGLE_PEAK_DB = 20.0
# Grids hold 50/60 Hz within ±0.2 Hz; 0.6 Hz leaves room for recordings a little off speed yet keeps out
# the nearest notes (G1 49.0 Hz, A#1 58.3 Hz, B1 61.7 Hz).
MAINS_TOLERANCE_HZ = 0.6
# Any other series must keep its level within this many dB over the analysis's quarters: a held note
# swells or fades, a hum does not.
STEADY_DB = 3.0
FLOOR_HALF_WIDTH_HZ = 20.0
MAX_HARMONIC_SEARCHED = 16
MIN_DETECT_S = 0.5  # shorter analyses do not resolve a 40 Hz fundamental


def _spectrum_db(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and power (dB) of mono ``x`` at ``rate`` Hz, resampled to DETECT_RATE."""
    g = np.gcd(int(rate), DETECT_RATE)
    if rate != DETECT_RATE:
        x = resample_poly(x, DETECT_RATE // g, int(rate) // g)
    n_fft = 1 << max(17, int(np.ceil(np.log2(len(x) * 4))))
    spec = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x)), n_fft)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1.0 / DETECT_RATE)
    return freqs, 10.0 * np.log10(spec + 1e-30)


def _peaks(freqs: np.ndarray, db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz, parabolically refined) and prominences (dB over the local median) of narrow peaks
    at least MAINS_PROMINENCE_DB high."""
    step = freqs[1]
    top = min(len(freqs) - 1, int((F0_RANGE[1] * MAX_HARMONIC_SEARCHED + 2 * FLOOR_HALF_WIDTH_HZ) / step))
    db = db[:top]
    # The median of every 4th bin is plenty for a floor and four times cheaper.
    coarse = median_filter(db[::4], size=int(2 * FLOOR_HALF_WIDTH_HZ / (4 * step)) | 1, mode="nearest")
    floor = np.interp(np.arange(top), np.arange(0, top, 4), coarse)
    rel = db - floor
    idx, _ = find_peaks(rel, height=MAINS_PROMINENCE_DB, distance=max(1, int(5.0 / step)))
    idx = idx[(idx > 0) & (idx < top - 1) & (freqs[idx] >= F0_RANGE[0] * 0.9)]
    return freqs[idx] + _vertex(db[idx - 1], db[idx], db[idx + 1]) * step, rel[idx]


def _vertex(a, b, c):
    """Offset (in grid steps, within ±0.5) of the top of the parabola through ``(-1, a), (0, b), (1, c)``;
    0 where it is not a maximum. Works on scalars and arrays."""
    denom = np.asarray(a - 2 * b + c, np.float64)
    return np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)


def _harmonic_basis(n: int, rate: int, f0: float, ks: np.ndarray) -> np.ndarray:
    """[n, 2K]: cosines then sines at ``ks * f0`` Hz over ``n`` samples at ``rate`` Hz from phase 0."""
    angles = 2 * np.pi * f0 * np.outer(np.arange(n) / rate, ks)
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=1)


def _score(f0: float, pf: np.ndarray, pp: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Summed prominence of the peaks ``pf`` a series on ``f0`` explains, with their harmonic numbers."""
    k = np.round(pf / f0)
    tol = 0.01 * f0 + 0.3  # Hz: allows the coarse f0 of a candidate derived from one peak
    hit = (k >= 1) & (k <= MAX_HARMONIC_SEARCHED) & (np.abs(pf - k * f0) <= tol)
    return float(pp[hit].sum()), k[hit], hit


def _best_series(candidates: list[float], pf: np.ndarray, pp: np.ndarray, single_db: float,
                 odd: bool = False) -> float | None:
    """The candidate fundamental (Hz) whose series explains the most prominence, or None when that series has
    fewer than two peaks and none of ``single_db``.

    ``odd``: only series with a peak on an odd harmonic (else f0 is a sub-harmonic of the real series).
    """
    best, best_score = None, 0.0
    for f0 in sorted(candidates):
        score, k, _ = _score(f0, pf, pp)
        if odd and not np.any(k % 2 == 1):
            continue
        if score > best_score * 1.02 or (best is not None and score >= best_score * 0.98 and f0 > best):
            best, best_score = f0, max(score, best_score)
    if best is None:
        return None
    hit = _score(best, pf, pp)[2]
    return best if hit.sum() >= 2 or pp[hit].max() >= single_db else None


def detect_hum(x: np.ndarray, rate: int) -> float | None:
    """Fundamental (Hz) of a steady hum in mono float ``x`` at ``rate`` Hz, or None when there is none.

    Mains (a series on 50 or 60 Hz, ±``MAINS_TOLERANCE_HZ``, peaks from ``MAINS_PROMINENCE_DB``) wins over
    any other series, so steady notes in the programme do not hide the hum under them. Any other series
    needs peaks of ``PROMINENCE_DB`` and a level steady within ``STEADY_DB`` over the analysis (:func:`_steady`).
    """
    x = np.asarray(x, np.float64)
    if len(x) < MIN_DETECT_S * rate or not np.any(x):
        return None
    pf, pp = _peaks(*_spectrum_db(x, rate))
    mains = [f for f in _candidates(pf) if min(abs(f - 50.0), abs(f - 60.0)) <= MAINS_TOLERANCE_HZ]
    best = _best_series(mains, pf, pp, MAINS_SINGLE_PEAK_DB, odd=True)
    if best is None:
        strong = pp >= PROMINENCE_DB
        pf, pp = pf[strong], pp[strong]
        best = _best_series(_candidates(pf), pf, pp, SINGLE_PEAK_DB)
        if best is None or not _steady(x, rate, best, _score(best, pf, pp)[1]):
            return None
    _, k, hit = _score(best, pf, pp)
    w = 10 ** (pp[hit] / 20)
    # Least squares on f_k = k f0: the higher harmonics pin the fundamental down most.
    f0 = float(np.sum(w * k * pf[hit]) / np.sum(w * k * k))
    return f0 if F0_RANGE[0] * 0.98 <= f0 <= F0_RANGE[1] * 1.02 else None


def _candidates(pf: np.ndarray) -> list[float]:
    """Fundamentals (Hz, in F0_RANGE) that could explain peaks ``pf``: each peak, its half and its third."""
    return [f / m for f in pf for m in (1, 2, 3) if F0_RANGE[0] <= f / m <= F0_RANGE[1]]


def _steady(x: np.ndarray, rate: int, f0: float, ks: np.ndarray) -> bool:
    """Whether the sinusoids at ``ks * f0`` Hz in mono ``x`` at ``rate`` Hz keep their summed power within
    STEADY_DB from one quarter of ``x`` to the next (least-squares fits per quarter)."""
    quarter = len(x) // 4
    basis = _harmonic_basis(quarter, rate, f0, ks)
    power = [np.sum(np.linalg.lstsq(basis, x[i * quarter:(i + 1) * quarter], rcond=None)[0] ** 2)
             for i in range(4)]
    return 10 * np.log10(max(power) / max(min(power), 1e-300)) <= STEADY_DB


def notch_depth_db(amount_pct: float) -> float:
    """Depth (dB) of every notch for ``amount`` in percent: 0 % none, 100 % 60 dB."""
    return 0.6 * float(amount_pct)


def notch_bandwidth_hz(amount_pct: float, harmonic: int) -> float:
    """-3 dB width (Hz) of the notch on harmonic ``harmonic`` (1 = fundamental)."""
    base = 0.5 + 1.0 * amount_pct / 100.0
    return base * (1.0 + 0.1 * (harmonic - 1))


def notch_bank(f0: float, harmonics: int, amount_pct: float, rate: int) -> np.ndarray | None:
    """Second-order sections [n, 6] notching ``f0`` and ``harmonics`` harmonics at ``rate`` Hz.

    Harmonics above 0.45 × ``rate`` are left out; None when nothing is notched.
    """
    a = 1.0 - 10.0 ** (-notch_depth_db(amount_pct) / 20.0)
    rows = []
    for k in range(1, harmonics + 2):
        fk = k * f0
        if a <= 0.0 or fk >= 0.45 * rate:
            break
        bw = min(notch_bandwidth_hz(amount_pct, k), 0.5 * fk)
        b, den = iirnotch(fk, fk / bw, fs=rate)
        rows.append(np.concatenate([(1.0 - a) * den + a * b, den]))
    return np.array(rows) if rows else None


SUBTRACT_WINDOW_S, SUBTRACT_OVERLAP_S = 2.0, 0.25  # fit length and cross-fade of the subtraction method
#: Over-subtraction of the background in the per-harmonic gain (see :func:`subtract_hum`): a harmonic is only
#: taken away where its fitted power exceeds this many times what the programme alone would put there.
BACKGROUND_FACTOR = 2.0
#: Offsets (in steps of 1 / window length) where the background is measured beside each harmonic: orthogonal
#: to the harmonic's own sinusoids over the window, and close enough (1-2.5 Hz in 2 s) to share its level.
BACKGROUND_OFFSETS = (-5, -4, -3, -2, 2, 3, 4, 5)


def subtract_hum(x: np.ndarray, rate: int, f0: float, harmonics: int, fraction: float) -> np.ndarray:
    """``x`` [n, channels] (any float) minus ``fraction`` of its least-squares fit by sinusoids at ``k * f0`` Hz,
    ``k`` = 1 .. ``harmonics`` + 1 (those below 0.45 ``rate``), each weighted by a gain; float64 [n, channels].

    The subtraction method: the hum is a sum of steady sinusoids, so fitting their amplitudes and phases over
    a short window (cos and sin per harmonic, one least-squares solve for all channels) and subtracting the
    fit removes them without touching the phase of anything else, where a notch bank shifts the phase of
    every component within tens of hertz. What else it would remove is the programme's own projection onto
    those sinusoids over the window, whose expected power is the programme's level beside the harmonic
    (:func:`_background_power`). Each harmonic's fit is therefore scaled by the gain
    ``max(0, 1 - BACKGROUND_FACTOR * background / fitted power)``: 1 where the hum stands far above the
    programme, 0 where the fit is no larger than the programme alone gives (a harmonic the hum does not have,
    a clean passage).
    """
    x = np.asarray(x, np.float64)
    ks = np.array([k for k in range(1, harmonics + 2) if k * f0 < 0.45 * rate])
    if len(x) < 2 * len(ks) + 1 or not len(ks) or fraction <= 0.0:
        return x.copy()
    basis = _harmonic_basis(len(x), rate, track_fundamental(x, rate, f0, ks), ks)  # [n, 2K]
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)  # [2K, channels]
    fit = basis @ coef
    fitted = coef[: len(ks)] ** 2 + coef[len(ks):] ** 2  # [K, channels], amplitude squared
    # Measured on what the fit leaves, so the hum's own spectral leakage cannot pass for programme.
    background = _background_power(x - fit, rate, ks * f0)
    gain = np.clip(1.0 - BACKGROUND_FACTOR * background / np.maximum(fitted, 1e-300), 0.0, 1.0)
    if np.all(gain == 1.0):
        return x - fraction * fit
    return x - fraction * (basis @ (coef * np.concatenate([gain, gain])))


#: Each window looks for the hum within this span (Hz) of the fundamental it was given, on this grid, using its
#: first TRACK_HARMONICS harmonics: mains drifts by a few hundredths of a hertz over minutes, which a 2 s fit
#: at the 9th harmonic cannot absorb (0.05 Hz there is almost a whole cycle of phase over the window).
TRACK_SPAN_HZ, TRACK_STEP_HZ, TRACK_HARMONICS = 0.15, 0.03, 5


def track_fundamental(x: np.ndarray, rate: int, f0: float, ks: np.ndarray) -> float:
    """The fundamental (Hz) within ±TRACK_SPAN_HZ of ``f0`` whose harmonics ``ks[:TRACK_HARMONICS]`` hold the
    most power in ``x`` [n, channels] at ``rate`` Hz (demodulated amplitudes on a TRACK_STEP_HZ grid, parabolic
    peak); ``f0`` itself when the best lies on the grid's edge (no peak inside: no hum to follow)."""
    mono = x.mean(axis=1)
    t = np.arange(len(mono)) / rate
    grid = f0 + np.arange(-TRACK_SPAN_HZ, TRACK_SPAN_HZ + TRACK_STEP_HZ / 2, TRACK_STEP_HZ)
    power = np.zeros(len(grid))
    for k in ks[:TRACK_HARMONICS]:
        base = mono * np.exp(-2j * np.pi * k * (f0 - TRACK_SPAN_HZ) * t)
        step = np.exp(-2j * np.pi * k * TRACK_STEP_HZ * t)
        for i in range(len(grid)):
            power[i] += abs(np.sum(base)) ** 2
            base *= step
    i = int(np.argmax(power))
    if not 0 < i < len(grid) - 1:
        return f0
    return float(grid[i] + _vertex(power[i - 1], power[i], power[i + 1]) * TRACK_STEP_HZ)


def _background_power(x: np.ndarray, rate: int, freqs: np.ndarray) -> np.ndarray:
    """[K, channels]: the squared amplitude a sinusoid fit at each of ``freqs`` (Hz) would get from ``x``
    [n, channels] at ``rate`` Hz (the programme, with the hum fit taken out) from the programme alone: the
    median over BACKGROUND_OFFSETS of the squared amplitude in the window's DFT bins beside the frequency,
    over ln 2 (the median of an exponential variable)."""
    n = len(x)
    spectrum = np.abs(np.fft.rfft(x, axis=0)) ** 2 * (2.0 / n) ** 2  # [bins, channels]
    centre = np.round(np.asarray(freqs) * n / rate).astype(int)
    idx = np.clip(centre[:, None] + np.array(BACKGROUND_OFFSETS)[None, :], 0, len(spectrum) - 1)  # [K, M]
    return np.median(spectrum[idx], axis=1) / np.log(2.0)
