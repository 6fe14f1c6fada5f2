"""EQ matching, analytic baseline: fit biquad bands so a source's long-term tone matches a reference's.

Spectra are Welch averages of Hann-windowed frames (50 % overlap), power
spectral density in full-scale²/Hz averaged over channels (a power average, so
anti-phase stereo does not cancel). Files are streamed in blocks, at any rate.
The fit targets the smoothed reference/source difference in dB with its mean
removed (level is not the EQ's job) and refines band frequency, gain and Q with
``scipy.optimize.least_squares`` on a log-frequency grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.optimize import least_squares

from restora.errors import UsageError

MIN_SECONDS = 1.0
SILENCE_POWER = 1e-12  # mean square below -120 dBFS counts as silence
MAX_GAIN_DB, MIN_Q, MAX_Q = 18.0, 0.3, 6.0
PASS_TYPES = ("highpass", "lowpass")  # 12 dB/octave, gain 0 (as graph.nodes_basic designs them)
PASS_Q = (0.5, 1.4)  # pass filters: no resonant peaks at the corner
GAIN_PENALTY = 0.02  # a faint pull towards 0 dB: ties between bands go to the smaller gains
PASS_EDGE_DROP_DB = 10.0  # a pass filter is tried only where the target falls this far at an edge


@dataclass(frozen=True)
class Band:
    """One EQ band in the eq node's terms: type, frequency (Hz), gain (dB), Q."""

    type: str
    freq_hz: float
    gain_db: float
    q: float


@dataclass
class Spectrum:
    """Long-term spectrum: ``freqs`` [bins] Hz and ``psd`` [bins] full-scale²/Hz at ``sample_rate``."""

    freqs: np.ndarray
    psd: np.ndarray
    sample_rate: int
    duration_s: float


def fft_size(sample_rate: int) -> int:
    """Power-of-two frame length giving 6-8 Hz resolution (≤ sr/4, so 1 s holds several frames)."""
    return int(2 ** np.ceil(np.log2(sample_rate / 8.0)))


class _Welch:
    """Accumulates Welch power of ``[frames, channels]`` blocks fed in any sizes."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate, self.n = int(sample_rate), fft_size(sample_rate)
        self.window = np.hanning(self.n)
        self.carry: np.ndarray | None = None
        self.total, self.frames, self.samples, self.sum_sq = 0.0, 0, 0, 0.0

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, np.float64)
        x = x[:, None] if x.ndim == 1 else x
        if not np.all(np.isfinite(x)):
            raise UsageError("audio contains NaN or infinite samples")
        self.samples += len(x)
        self.sum_sq += float(np.mean(x ** 2, axis=1).sum())
        x = x if self.carry is None else np.concatenate([self.carry, x])
        hop = self.n // 2
        count = (len(x) - self.n) // hop + 1 if len(x) >= self.n else 0
        if count > 0:
            frames = sliding_window_view(x, self.n, axis=0)[::hop][:count]  # [count, ch, n]
            power = np.abs(np.fft.rfft(frames * self.window, axis=-1)) ** 2
            self.total = self.total + power.mean(axis=1).sum(axis=0)
            self.frames += count
        self.carry = x[count * hop:]

    def result(self, what: str) -> Spectrum:
        seconds = self.samples / self.sample_rate
        if seconds < MIN_SECONDS:
            raise UsageError(f"{what} is too short ({seconds:.2f} s; at least {MIN_SECONDS:g} s needed)")
        if self.sum_sq / self.samples < SILENCE_POWER:
            raise UsageError(f"{what} is silent (below -120 dBFS): no tone to measure")
        # One-sided density: the window's energy and the rate turn |X|² into units per Hz.
        psd = 2.0 * self.total / (self.frames * self.sample_rate * np.sum(self.window ** 2))
        freqs = np.fft.rfftfreq(self.n, 1.0 / self.sample_rate)
        return Spectrum(freqs, psd, self.sample_rate, seconds)


def spectrum_of_array(audio: np.ndarray, sample_rate: int, what: str = "audio") -> Spectrum:
    """Long-term spectrum of ``audio`` [frames] or [frames, channels] at ``sample_rate`` Hz."""
    welch = _Welch(sample_rate)
    welch.feed(audio)
    return welch.result(what)


def spectrum_of_file(path: str | Path, what: str | None = None) -> Spectrum:
    """Long-term spectrum of an audio file, streamed in blocks (never loaded whole)."""
    from restora.dsp.audio_io import probe, read_blocks

    info = probe(path)
    welch = _Welch(info.sample_rate)
    for block in read_blocks(path, info=info):
        welch.feed(block)
    return welch.result(what or str(path))


def smoothed_db(spec: Spectrum, centres: np.ndarray, fraction: float) -> np.ndarray:
    """Mean density (dB) in a 1/``fraction``-octave window around each of ``centres`` [n] Hz.

    Windows holding no FFT bin (low frequencies) fall back to interpolation.
    """
    half = 2.0 ** (0.5 / fraction)
    cum = np.concatenate([[0.0], np.cumsum(spec.psd)])
    lo = np.searchsorted(spec.freqs, centres / half)
    hi = np.searchsorted(spec.freqs, centres * half)
    count = hi - lo
    mean = np.where(count > 0, (cum[hi] - cum[lo]) / np.maximum(count, 1), np.interp(centres, spec.freqs, spec.psd))
    return 10.0 * np.log10(np.maximum(mean, 1e-30))


def analysis_top_hz(*rates: int) -> float:
    """Highest frequency compared: min(20 kHz, 0.45 × the lowest sample rate)."""
    return min(20000.0, 0.45 * min(rates))


def third_octave_centres(top_hz: float) -> np.ndarray:
    """Nominal-base-2 1/3-octave centres (Hz) from 20 Hz to ``top_hz``."""
    k = np.arange(-17, 14)  # 1000·2^(k/3): 19.7 Hz .. 20.2 kHz
    centres = 1000.0 * 2.0 ** (k / 3.0)
    return centres[(centres >= 19.0) & (centres <= top_hz)]


def third_octave_levels(spec: Spectrum, top_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(centres [n] Hz, levels [n] dB)``: long-term 1/3-octave band levels (density, dB re 1/Hz)."""
    centres = third_octave_centres(top_hz or analysis_top_hz(spec.sample_rate))
    return centres, smoothed_db(spec, centres, 3.0)


def response_db(bands: list[Band], freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """Magnitude response (dB) [n] of ``bands`` at ``freqs`` [n] Hz, as the eq node designs them."""
    from restora.graph.nodes_basic import PASS_TYPES, rbj_biquad

    z1 = np.exp(-1j * 2.0 * np.pi * np.asarray(freqs) / sample_rate)
    total = np.zeros(len(z1))
    for b in bands:
        if b.type == "off" or (b.type not in PASS_TYPES and b.gain_db == 0.0):
            continue
        row = rbj_biquad(b.type, min(b.freq_hz, 0.45 * sample_rate), b.gain_db, b.q, sample_rate)
        h = (row[0] + row[1] * z1 + row[2] * z1 ** 2) / (row[3] + row[4] * z1 + row[5] * z1 ** 2)
        total += 20.0 * np.log10(np.maximum(np.abs(h), 1e-15))
    return total


def match_error_db(source: Spectrum, reference: Spectrum, bands: list[Band] | None = None) -> float:
    """RMS dB difference of 1/3-octave levels (20 Hz .. min(20 kHz, 0.45·sr)), mean removed.

    With ``bands`` the source is taken as EQ'd by them (an LTI filter scales
    the long-term density by |H|², so no audio needs processing).
    """
    centres, src = third_octave_levels(source, analysis_top_hz(source.sample_rate, reference.sample_rate))
    ref = smoothed_db(reference, centres, 3.0)
    if bands:
        src = src + response_db(bands, centres, source.sample_rate)
    diff = ref - src
    return float(np.sqrt(np.mean((diff - diff.mean()) ** 2)))


def apply_amount(bands: list[Band], amount_pct: float) -> list[Band]:
    """Bands with every gain scaled by ``amount_pct`` / 100 (0 = flat, 100 = as fitted)."""
    if not 0.0 <= amount_pct <= 100.0:
        raise UsageError(f"amount {amount_pct:g} % is out of range [0, 100]")
    return [replace(b, gain_db=b.gain_db * amount_pct / 100.0) for b in bands]


def _fit_types(n_bands: int) -> list[str]:
    """Band shapes of the initial guess: low shelf, peaks, high shelf (one band: a peak)."""
    if n_bands == 1:
        return ["peak"]
    return ["lowshelf"] + ["peak"] * (n_bands - 2) + ["highshelf"]


class _Model:
    """Parameter vector ``[offset_db, (log f, gain_db, log q) × bands]`` ↔ bands and residuals."""

    def __init__(self, types: list[str], grid: np.ndarray, target: np.ndarray, sample_rate: int, top: float):
        self.types, self.grid, self.target, self.sr = types, grid, target, sample_rate
        q_range = [PASS_Q if k in PASS_TYPES else (MIN_Q, MAX_Q) for k in types]
        self.lower = np.array([-60.0] + [v for (lo, _) in q_range for v in (np.log(20.0), -MAX_GAIN_DB, np.log(lo))])
        self.upper = np.array([60.0] + [v for (_, hi) in q_range for v in (np.log(top), MAX_GAIN_DB, np.log(hi))])
        # Gain penalty per band, scaled with the grid so it weighs the same at any rate.
        self.gain_weight = GAIN_PENALTY * np.sqrt(len(grid) / 240.0)

    def bands(self, p: np.ndarray) -> list[Band]:
        t = p[1:].reshape(-1, 3)
        return [Band(k, float(np.exp(f)), 0.0 if k in PASS_TYPES else float(g), float(np.exp(q)))
                for k, (f, g, q) in zip(self.types, t)]

    def cost(self, p: np.ndarray) -> float:
        return float(np.sum(self.residual(p) ** 2))

    def residual(self, p: np.ndarray) -> np.ndarray:
        fit = p[0] + response_db(self.bands(p), self.grid, self.sr)
        # A faint pull towards 0 dB keeps redundant bands from cancelling each other at large gains.
        return np.concatenate([fit - self.target, self.gain_weight * p[2::3]])

    def clip(self, p: np.ndarray) -> np.ndarray:
        span = self.upper - self.lower
        return np.clip(p, self.lower + 1e-6 * span, self.upper - 1e-6 * span)

    def solve(self, p: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
        """Least-squares refinement of the parameters where ``free`` is True."""
        free = np.ones(len(p), bool) if free is None else free
        full = self.clip(p)

        def fun(sub):
            full[free] = sub
            return self.residual(full)

        # Bounded effort: on mismatched content the last iterations gain hundredths of a dB.
        sol = least_squares(fun, full[free], bounds=(self.lower[free], self.upper[free]), x_scale="jac",
                            ftol=1e-6, xtol=1e-6, max_nfev=60)
        full[free] = sol.x
        return full.copy()


def target_curve(source: Spectrum, reference: Spectrum, grid: np.ndarray) -> np.ndarray:
    """Reference minus source (dB) at ``grid`` [n] Hz, smoothed in 1/6 octaves, mean removed."""
    diff = smoothed_db(reference, grid, 6.0) - smoothed_db(source, grid, 6.0)
    return diff - diff.mean()


def fit_bands(source: Spectrum, reference: Spectrum, n_bands: int = 6,
              initial: list[Band] | None = None) -> list[Band]:
    """Fit ``n_bands`` (1..12) biquads that turn the source's tone into the reference's.

    Frequencies stay in [20 Hz, min(20 kHz, 0.45 × source rate)], gains in ±18 dB,
    Q in [0.3, 6]. Without ``initial``: shelves at 150 Hz and 8 kHz fitted first;
    with it (e.g. the trained predictor's bands), its bands of largest |gain|
    start the fit instead. Then each further peak is placed at the largest
    remaining error, and all bands are refined jointly. Where the target falls
    steeply at an edge, a fit with a high-pass (low-pass) in place of the low
    (high) shelf is tried too and kept unless clearly worse.
    """
    if not 1 <= n_bands <= 12:
        raise UsageError(f"number of bands {n_bands} is out of range [1, 12]")
    top = analysis_top_hz(source.sample_rate, reference.sample_rate)
    grid = 20.0 * 2.0 ** (np.arange(0, np.log2(top / 20.0) * 24 + 1) / 24.0)  # 1/24 octave
    target = target_curve(source, reference, grid)
    seeds = _strongest(initial, n_bands) if initial else [Band(k, 0.0, 0.0, 0.707) for k in _fit_types(n_bands)
                                                          if k != "peak"]
    model, p = _fit_from(seeds, n_bands, grid, target, source.sample_rate, top)
    median = float(np.median(target))
    for shelf, kind, edge in (("lowshelf", "highpass", 0), ("highshelf", "lowpass", -1)):
        if shelf not in [b.type for b in seeds] or target[edge] > median - PASS_EDGE_DROP_DB:
            continue
        inside = np.nonzero(target >= median - 3.0)[0]  # the corner: where the edge's fall begins
        corner = float(grid[inside[0] if edge == 0 else inside[-1]])
        alt_seeds = [Band(kind, corner, 0.0, 0.707) if b.type == shelf else b for b in seeds]
        alt, q = _fit_from(alt_seeds, n_bands, grid, target, source.sample_rate, top)
        # A pass filter is the natural reading of a steep edge: prefer it unless it fits clearly worse.
        if alt.cost(q) < 1.25 * model.cost(p):
            model, p, seeds = alt, q, alt_seeds
    return model.bands(p)


def _fit_from(seeds: list[Band], n_bands: int, grid: np.ndarray, target: np.ndarray, sr: int,
              top: float) -> tuple[_Model, np.ndarray]:
    """Fit ``seeds`` (freq 0 = default start) first, then add peaks one at a time at the largest error."""
    types = [b.type for b in seeds] + ["peak"] * (n_bands - len(seeds))
    model = _Model(types, grid, target, sr, top)
    p = _initial_vector(model, [b for b in seeds], top)
    free = np.ones(len(p), bool)
    free[1 + 3 * len(seeds):] = False
    p = model.solve(p, free)
    for i in range(len(seeds), n_bands):
        err = model.target - p[0] - response_db(model.bands(p), grid, model.sr)
        at = int(np.argmax(np.abs(err)))
        p[1 + 3 * i: 4 + 3 * i] = np.log(grid[at]), np.clip(err[at], -MAX_GAIN_DB, MAX_GAIN_DB), np.log(1.4)
    return model, model.solve(p)


def _strongest(bands: list[Band], n: int) -> list[Band]:
    """The ``n`` bands of largest |gain| (pass filters first), in their original order."""
    keep = sorted(range(len(bands)), key=lambda i: -(1e9 if bands[i].gain_db == 0 else abs(bands[i].gain_db)))[:n]
    return [bands[i] for i in sorted(keep)]


def _initial_vector(model: _Model, seeds: list[Band], top: float) -> np.ndarray:
    """Parameter vector: ``seeds`` first (a frequency of 0 means the type's default start), clipped to bounds."""
    start = {"lowshelf": 150.0, "highshelf": min(8000.0, 0.6 * top), "peak": 1000.0}
    p = np.zeros(1 + 3 * len(model.types))
    p[1::3] = np.log([start.get(k, 1000.0) for k in model.types])
    p[3::3] = np.log(0.707)
    for i, b in enumerate(seeds):
        freq = b.freq_hz or start[b.type]
        p[1 + 3 * i: 4 + 3 * i] = np.log(min(max(freq, 20.0), top)), b.gain_db, np.log(b.q)
    return model.clip(p)


METHODS = ("hybrid", "fit", "network")


def match_bands(source: Spectrum, reference: Spectrum, n_bands: int = 6, method: str = "hybrid") -> list[Band]:
    """EQ bands giving the source the reference's long-term tone.

    ``method``: ``"fit"`` the analytic least-squares fit alone; ``"network"`` the
    trained predictor's four bands (the ``n_bands`` strongest of them when
    fewer are asked for); ``"hybrid"`` the predictor's bands refined by the fit,
    with further peaks where the error remains.
    """
    if method not in METHODS:
        raise UsageError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if method == "fit":
        return fit_bands(source, reference, n_bands)
    from restora.models import eq_predictor

    guess = eq_predictor.predict(source, reference)
    if method == "network":
        return _strongest(guess, n_bands)
    return fit_bands(source, reference, n_bands, initial=guess)
