"""Basic processing nodes: gain, high-pass, parametric EQ, true-peak limiter.

All nodes take and return float32 ``[frames, channels]`` blocks at the graph's
sample rate. Filters are scipy second-order sections run with ``sosfilt`` and
an explicit ``zi`` per channel, reset in :meth:`start`: pedalboard's filters
keep state too, but their internal buffering and parameter semantics (Q of
shelves, plugin latency) are not documented precisely enough to promise
block-size invariance and exact gains, which the tests check here.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import butter, sosfilt

from restora.dsp.loudness import TruePeakDetector, oversampling_factor
from restora.graph.node import Block, Node, Outputs, Param


def db_to_gain(db: float) -> float:
    """Linear amplitude factor for ``db`` decibels."""
    return float(10.0 ** (db / 20.0))


def _out(block: np.ndarray) -> Outputs:
    return {"main": np.ascontiguousarray(block, dtype=np.float32)}


class GainNode(Node):
    """Multiplies the signal by ``gain_db``."""

    type_name = "gain"
    PARAMS = (Param("gain_db", 0.0, minimum=-60.0, maximum=24.0, unit="dB",
                    doc="Gain applied to every channel"),)

    def process(self, block: Block) -> Outputs:
        return _out(block * np.float32(db_to_gain(self.params["gain_db"])))


class _SosNode(Node):
    """A node running ``self.design()`` (second-order sections or None) with per-channel state."""

    def design(self) -> np.ndarray | None:
        raise NotImplementedError

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        self._sos = self.design()
        if self._sos is not None:
            self._zi = np.zeros((len(self._sos), 2, channels))

    def process(self, block: Block) -> Outputs:
        if self._sos is None or len(block) == 0:
            return _out(block)
        y, self._zi = sosfilt(self._sos, np.asarray(block, np.float64), axis=0, zi=self._zi)
        return _out(y)


def _max_design_hz(sample_rate: int) -> float:
    """Highest centre/cut-off frequency a biquad is designed at (below Nyquist)."""
    return 0.45 * sample_rate


class HighPassNode(_SosNode):
    """Butterworth high-pass: ``order`` × 6 dB/octave below ``cutoff_hz`` (-3 dB there)."""

    type_name = "highpass"
    PARAMS = (
        Param("cutoff_hz", 80.0, minimum=10.0, maximum=2000.0, unit="Hz", doc="-3 dB frequency"),
        Param("order", 2, kind="int", minimum=1, maximum=8, unit="",
              doc="Filter order; the slope is 6 dB/octave per order"),
    )

    def design(self) -> np.ndarray:
        cutoff = min(self.params["cutoff_hz"], _max_design_hz(self.sample_rate))
        return butter(self.params["order"], cutoff, "highpass", fs=self.sample_rate, output="sos")


BAND_TYPES = ("off", "peak", "lowshelf", "highshelf", "highpass", "lowpass")
PASS_TYPES = ("highpass", "lowpass")  # 12 dB/octave; their gain parameter is ignored
EQ_BANDS = 12
# Bands 5..12 default to "off", so presets written for four bands keep their sound.
_EQ_DEFAULTS = (("lowshelf", 100.0), ("peak", 500.0), ("peak", 2500.0), ("highshelf", 8000.0)) + \
    tuple(("off", 1000.0) for _ in range(EQ_BANDS - 4))


def _band_params(index: int) -> tuple[Param, ...]:
    kind, freq = _EQ_DEFAULTS[index - 1]
    prefix = f"band{index}_"
    return (
        Param(prefix + "type", kind, kind="choice", choices=BAND_TYPES, doc=f"Band {index} shape"),
        Param(prefix + "freq_hz", freq, minimum=20.0, maximum=20000.0, unit="Hz",
              doc=f"Band {index} centre (peak) or corner (shelf, pass) frequency"),
        Param(prefix + "gain_db", 0.0, minimum=-24.0, maximum=24.0, unit="dB",
              doc=f"Band {index} gain at the centre / on the shelf (ignored by pass filters)"),
        Param(prefix + "q", 0.707, minimum=0.1, maximum=18.0, unit="",
              doc=f"Band {index} quality factor (bandwidth of a peak, knee of a shelf or pass filter)"),
    )


def _rbj_pass(kind: str, cos: float, alpha: float) -> tuple[list, list]:
    """Numerator and denominator of the cookbook's 2nd-order high-/low-pass (12 dB/octave)."""
    sign = 1.0 if kind == "lowpass" else -1.0
    edge = (1 - sign * cos) / 2  # (1-cos)/2 for low-pass, (1+cos)/2 for high-pass
    b = [edge, sign * 2 * edge, edge]
    return b, [1 + alpha, -2 * cos, 1 - alpha]


def rbj_biquad(kind: str, freq_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """One SOS row [b0 b1 b2 1 a1 a2] of an Audio-EQ-Cookbook (R. Bristow-Johnson) filter.

    Written out because scipy has no peaking/shelving designer with a gain.
    ``kind`` is "peak", "lowshelf", "highshelf", "highpass" or "lowpass"; a peak
    gains exactly ``gain_db`` at ``freq_hz``, a shelf ``gain_db`` far beyond its
    corner; pass filters ignore ``gain_db`` (Q 0.707 = Butterworth, -3 dB at the corner).
    """
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate
    cos, alpha = np.cos(w0), np.sin(w0) / (2.0 * q)
    if kind in PASS_TYPES:
        b, den = _rbj_pass(kind, cos, alpha)
    elif kind == "peak":
        b = [1 + alpha * a, -2 * cos, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cos, 1 - alpha / a]
    else:
        sign = 1.0 if kind == "lowshelf" else -1.0  # highshelf mirrors cos terms
        root = 2.0 * np.sqrt(a) * alpha
        b = [a * ((a + 1) - sign * (a - 1) * cos + root),
             sign * 2 * a * ((a - 1) - sign * (a + 1) * cos),
             a * ((a + 1) - sign * (a - 1) * cos - root)]
        den = [(a + 1) + sign * (a - 1) * cos + root,
               -sign * 2 * ((a - 1) + sign * (a + 1) * cos),
               (a + 1) + sign * (a - 1) * cos - root]
    return np.array(b + den) / den[0]


class ParametricEqNode(_SosNode):
    """Parametric EQ of up to twelve bands; parameters ``band{1..12}_{type,freq_hz,gain_db,q}``.

    Band types: peak, lowshelf, highshelf (gain in dB), highpass and lowpass
    (RBJ 2nd order, 12 dB/octave, gain ignored). A band of type "off", or a
    peak/shelf with 0 dB gain, is skipped. Bands 5..12 are "off" by default.
    Frequencies above 0.45 × the sample rate are designed at 0.45 × the sample rate.
    """

    type_name = "eq"
    PARAMS = tuple(p for i in range(1, EQ_BANDS + 1) for p in _band_params(i))

    def design(self) -> np.ndarray | None:
        rows = []
        for i in range(1, EQ_BANDS + 1):
            kind, freq, gain, q = (self.params[f"band{i}_{k}"] for k in ("type", "freq_hz", "gain_db", "q"))
            if kind in PASS_TYPES or (kind != "off" and gain != 0.0):
                freq = min(freq, _max_design_hz(self.sample_rate))
                rows.append(rbj_biquad(kind, freq, gain, q, self.sample_rate))
        return np.array(rows) if rows else None


class _Window:
    """Causal sliding ``fn`` (min, max or mean) over ``width`` samples with carried history."""

    def __init__(self, width: int, fn, initial: float) -> None:
        self.width, self.fn = width, fn
        self._hist = np.full(width - 1, initial)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        ext = np.concatenate([self._hist, x])
        self._hist = ext[len(ext) - (self.width - 1):] if self.width > 1 else ext[:0]
        # The centred filter at index c spans [c - width//2, ...]; shift so each
        # output uses only the window ending at its own sample.
        full = self.fn(ext, size=self.width, mode="nearest")
        start = self.width // 2
        return full[start: start + len(x)]


class _Release:
    """Gain reduction (dB) that follows rises at once and decays exponentially.

    ``d[n] = max(g[n], a * d[n-1])``, computed without a Python loop: in the
    log domain it is a running maximum of ``log g[n] - n log a``.
    """

    CHUNK = 65536  # bounds n·log a so the running maximum keeps full precision

    def __init__(self, release_s: float, sample_rate: int) -> None:
        self.log_a = -1.0 / max(release_s * sample_rate, 1e-9)
        self._log_d = -np.inf

    def __call__(self, reduction_db: np.ndarray) -> np.ndarray:
        out = np.empty_like(reduction_db)
        for s in range(0, len(reduction_db), self.CHUNK):
            chunk = reduction_db[s: s + self.CHUNK]
            steps = np.arange(1, len(chunk) + 1) * self.log_a
            with np.errstate(divide="ignore"):
                shifted = np.log(chunk) - steps
            running = np.maximum.accumulate(np.maximum(shifted, self._log_d))
            log_d = running + steps
            self._log_d = log_d[-1]
            out[s: s + len(chunk)] = np.exp(log_d)
        return out


class LookaheadLimiter:
    """Brick-wall, true-peak-aware look-ahead limiter for ``[frames, channels]`` at ``sample_rate``.

    Written by hand: pedalboard.Limiter adds make-up gain towards 0 dBFS and
    watches sample peaks only, so it cannot promise a dBTP ceiling.

    Per sample: the oversampled peak of all channels (linked gain) around that
    sample (±1 sample) gives the gain it needs, ``ceiling / peak``; a forward
    minimum over the look-ahead, then an exponential release (in dB), then a
    moving average over the look-ahead (a linear attack ramp) make the gain
    curve. Each stage can only lower the gain below every need it covers, so
    the ceiling holds. :meth:`process` and :meth:`finish` follow the Node
    alignment rule (output ``i`` is input ``i``; same total length).
    """

    MARGIN_DB = 0.05  # head-room for the interpolation error of the detector

    def __init__(self, sample_rate: int, channels: int, ceiling_db: float,
                 release_ms: float, lookahead_ms: float = 5.0) -> None:
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.ceiling = db_to_gain(ceiling_db - self.MARGIN_DB)
        self.lookahead = max(1, int(round(lookahead_ms * 1e-3 * sample_rate)))
        self.release_s = release_ms * 1e-3
        self.reset()

    def reset(self) -> None:
        # Twice the meter's oversampling: at ×4 a peak can fall between the
        # interpolated points and read up to ~0.7 dB low near Nyquist.
        factor = 2 * oversampling_factor(self.sample_rate)
        self._detector = TruePeakDetector(self.sample_rate, self.channels, factor)
        step = 1.0 / self._detector.factor
        detect_delay = int(np.ceil(self._detector.group_delay + step))
        self.latency = self.lookahead + detect_delay
        self._peak_window = _Window(detect_delay + 2, maximum_filter1d, 0.0)
        self._hold = _Window(self.lookahead + 1, minimum_filter1d, 1.0)
        self._release = _Release(self.release_s, self.sample_rate)
        self._attack = _Window(self.lookahead + 1, uniform_filter1d, 1.0)
        self._delay = np.zeros((self.latency, self.channels))
        self._to_drop = self.latency
        self._frames_in = self._frames_out = 0

    def gain_curve(self, x: np.ndarray) -> np.ndarray:
        """Gains [frames] for the samples ``latency`` frames before ``x``'s."""
        # Below the ceiling the exact true peak does not change the gain (1).
        peak = self._peak_window(self._detector.process(x, threshold=self.ceiling).max(axis=1))
        with np.errstate(divide="ignore"):
            need = np.minimum(1.0, self.ceiling / peak)
        reduction_db = -20.0 * np.log10(self._hold(need))
        return self._attack(10.0 ** (-self._release(reduction_db) / 20.0))

    def _run(self, x: np.ndarray) -> np.ndarray:
        gain = self.gain_curve(x)
        ext = np.concatenate([self._delay, x])
        self._delay = ext[len(x):]
        y = ext[: len(x)] * gain[:, None]
        drop = min(self._to_drop, len(y))
        self._to_drop -= drop
        y = y[drop: drop + self._frames_in - self._frames_out]
        self._frames_out += len(y)
        return y.astype(np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Limit ``block`` [frames, channels]; returns the aligned frames ready."""
        x = np.asarray(block, np.float64).reshape(-1, self.channels)
        self._frames_in += len(x)
        return self._run(x)

    def finish(self) -> np.ndarray:
        """The last ``latency`` frames (fed through with zeros)."""
        return self._run(np.zeros((self.latency, self.channels)))


class LimiterNode(Node):
    """True-peak look-ahead limiter: output true peak stays at or below ``ceiling_db`` dBTP.

    Latency: look-ahead (5 ms) plus the detector's delay; the first frames come
    back late and the rest from :meth:`finish`, per the node contract.
    """

    type_name = "limiter"
    PARAMS = (
        Param("ceiling_db", -1.0, minimum=-20.0, maximum=0.0, unit="dBTP",
              doc="Highest true peak of the output"),
        Param("release_ms", 100.0, minimum=1.0, maximum=2000.0, unit="ms",
              doc="Time constant of the gain recovery (dB of reduction fall to 1/e)"),
        Param("lookahead_ms", 5.0, minimum=0.5, maximum=20.0, unit="ms",
              doc="Attack ramp length; also the added latency"),
    )

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        p = self.params
        self.limiter = LookaheadLimiter(sample_rate, channels, p["ceiling_db"],
                                        p["release_ms"], p["lookahead_ms"])

    def process(self, block: Block) -> Outputs:
        return _out(self.limiter.process(block))

    def finish(self) -> Outputs:
        return _out(self.limiter.finish())
