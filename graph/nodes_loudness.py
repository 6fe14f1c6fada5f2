"""Loudness nodes: a BS.1770 / EBU R128 meter and a two-pass loudness normaliser.

Blocks are float32 ``[frames, channels]`` at the graph's sample rate.
"""

from __future__ import annotations

import numpy as np

from restora.dsp.loudness import SEGMENTS_PER_SECOND, SHORT_TERM_SEGMENTS, LoudnessMeter
from restora.graph.nodes_basic import LookaheadLimiter, db_to_gain
from restora.graph.node import Block, Measurement, Node, Outputs, Param, empty


class LoudnessMeterNode(Node):
    """Analysis node: passes audio unchanged and measures it.

    Measurements attached at :meth:`finish` (whole file): ``integrated_lufs``
    (LUFS), ``true_peak_dbtp`` (dBTP), ``loudness_range_lu`` (LU),
    ``momentary_max_lufs`` and ``short_term_max_lufs`` (LUFS), ``sample_peak_dbfs``
    (dBFS); and per 1 s segment ``short_term_lufs``: the 3 s short-term
    loudness ending at the end of that second (from the 3rd second on).
    Values are ``None`` where undefined (silence, too short).
    """

    type_name = "loudness-meter"

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        self.meter = LoudnessMeter(sample_rate, channels)

    def process(self, block: Block) -> Outputs:
        self.meter.process(block)
        return {"main": block}

    def finish(self) -> Outputs:
        self.measurements = meter_measurements(self.meter)
        return {"main": empty(self.channels)}


def meter_measurements(meter: LoudnessMeter) -> list[Measurement]:
    """Whole-file and per-second Measurements of a fed :class:`LoudnessMeter`."""
    r = meter.result()
    out = [Measurement("integrated_lufs", r.integrated_lufs, "LUFS"),
           Measurement("true_peak_dbtp", r.true_peak_dbtp, "dBTP"),
           Measurement("loudness_range_lu", r.loudness_range_lu, "LU"),
           Measurement("momentary_max_lufs", r.momentary_max_lufs, "LUFS"),
           Measurement("short_term_max_lufs", r.short_term_max_lufs, "LUFS"),
           Measurement("sample_peak_dbfs", r.sample_peak_dbfs, "dBFS")]
    series = meter.short_term_series()
    # series[k] is the 3 s window ending with segment k + 30 (100 ms steps),
    # so every 10th one ends on a whole second.
    for k in range(0, len(series), SEGMENTS_PER_SECOND):
        end_s = (k + SHORT_TERM_SEGMENTS) / SEGMENTS_PER_SECOND
        value = float(series[k]) if np.isfinite(series[k]) else None
        out.append(Measurement("short_term_lufs", value, "LUFS", end_s - 1.0, end_s))
    return out


class LoudnessNormalizeNode(Node):
    """Loudness normalisation to ``target_lufs`` with a true-peak ceiling, in several passes.

    Interface (``NEEDS_WHOLE_FILE = True``), as the graph runner drives it:

    1. :meth:`start` (sample rate, channels);
    2. pass 1: :meth:`analyze` on every block (integrated loudness and true
       peak of the input); the gain is ``target_lufs - measured``;
    3. while :meth:`needs_another_pass` says so: :meth:`analyze` on every
       block again, *simulating* the gain and the limiter and measuring the
       result, then correcting the gain by what the limiter took away
       (peaky speech can lose 1 dB or more). At most ``MAX_SIMULATIONS``
       passes; none when the gained input already fits under the ceiling;
    4. final pass: :meth:`process` on the blocks, then :meth:`finish`: the
       gain, then the look-ahead true-peak limiter at ``true_peak_db`` dBTP
       (latency per the node contract: same total length, aligned).

    Silence (integrated loudness undefined) gets unity gain. Measurements:
    ``input_integrated_lufs``, ``applied_gain_db``, ``predicted_lufs``.
    """

    type_name = "loudness-normalize"
    NEEDS_WHOLE_FILE = True
    MAX_SIMULATIONS = 4
    MAX_STEP_DB = 6.0
    TOLERANCE_LU = 0.08
    PARAMS = (
        Param("target_lufs", -16.0, minimum=-40.0, maximum=-5.0, unit="LUFS",
              doc="Integrated loudness of the result"),
        Param("true_peak_db", -1.0, minimum=-9.0, maximum=0.0, unit="dBTP",
              doc="Ceiling for the true peak of the result"),
        Param("release_ms", 100.0, minimum=1.0, maximum=2000.0, unit="ms",
              doc="Release time constant of the peak limiter"),
    )

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        self.meter = LoudnessMeter(sample_rate, channels, true_peak=True)
        self.limiter = self._new_limiter()
        self.gain_db: float | None = None
        self._measured: float | None = None
        self._predicted: float | None = None
        self._simulations = 0

    def _new_limiter(self) -> LookaheadLimiter:
        return LookaheadLimiter(self.sample_rate, self.channels, self.params["true_peak_db"],
                                self.params["release_ms"])

    def analyze(self, block: Block) -> None:
        """Pass 1: measure ``block``; later passes: simulate gain + limiter and measure that."""
        if self.gain_db is None:
            self.meter.process(block)
        else:
            self.meter.process(self.limiter.process(np.asarray(block, np.float64) * db_to_gain(self.gain_db)))

    def needs_another_pass(self) -> bool:
        target = self.params["target_lufs"]
        if self.gain_db is None:  # end of pass 1
            self._measured = self.meter.integrated()
            if self._measured is None:
                self.gain_db = 0.0
                return self._done(None)
            self.gain_db = target - self._measured
            self._last_point = (0.0, self._measured)  # (gain dB, loudness LUFS) with no limiting
            peak = self.meter.true_peak_dbtp()
            if peak is None or peak + self.gain_db <= self.params["true_peak_db"] - 0.1:
                return self._done(target)  # the limiter will not act: the gain is exact
            return self._simulate_again()
        self.meter.process(self.limiter.finish())  # end of a simulation pass
        predicted = self.meter.integrated()
        if predicted is None or abs(target - predicted) <= self.TOLERANCE_LU:
            return self._done(predicted)
        # Secant step on loudness(gain): limiting makes each added dB of gain
        # add less than 1 dB of loudness, so a plain "add the shortfall" step
        # would creep towards the target over many passes.
        last_gain, last_loudness = self._last_point
        slope = (predicted - last_loudness) / (self.gain_db - last_gain) if self.gain_db != last_gain else 1.0
        self._last_point = (self.gain_db, predicted)
        step = (target - predicted) / float(np.clip(slope, 0.2, 1.0))
        self.gain_db += float(np.clip(step, -self.MAX_STEP_DB, self.MAX_STEP_DB))
        if self._simulations >= self.MAX_SIMULATIONS:
            return self._done(None)  # corrected once more without checking the result
        return self._simulate_again()

    def _simulate_again(self) -> bool:
        self._simulations += 1
        self.meter = LoudnessMeter(self.sample_rate, self.channels, true_peak=False)
        self.limiter = self._new_limiter()
        return True

    def _done(self, predicted: float | None) -> bool:
        self.limiter = self._new_limiter()
        self.measurements = [Measurement("input_integrated_lufs", self._measured, "LUFS"),
                             Measurement("applied_gain_db", self.gain_db, "dB"),
                             Measurement("predicted_lufs", predicted, "LUFS"),
                             Measurement("simulation_passes", float(self._simulations), "")]
        return False

    def _gain(self) -> float:
        if self.gain_db is None:  # driven without analysis passes: change nothing
            self.gain_db = 0.0
        return db_to_gain(self.gain_db)

    def process(self, block: Block) -> Outputs:
        """Final pass: gain and limit ``block``; returns the aligned frames ready."""
        gain = self._gain()
        return {"main": self.limiter.process(np.asarray(block, np.float64) * gain)}

    def finish(self) -> Outputs:
        self._gain()
        return {"main": self.limiter.finish()}
