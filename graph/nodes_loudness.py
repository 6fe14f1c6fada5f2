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
    """Two-pass loudness normalisation to ``target_lufs`` with a true-peak ceiling.

    Interface (``NEEDS_WHOLE_FILE = True``), as the graph runner drives it:

    1. :meth:`start` (sample rate, channels);
    2. pass 1: :meth:`analyze` on every block of the stream (measures
       integrated loudness; returns nothing);
    3. pass 2: :meth:`process` on the same blocks again, then :meth:`finish`.
       The gain ``target_lufs - measured`` is applied, followed by a
       look-ahead true-peak limiter at ``true_peak_db`` dBTP; the limiter's
       latency follows the node contract (fewer frames first, the rest from
       :meth:`finish`, total length equal to the input).

    Silence (integrated loudness undefined) gets unity gain. Measurements
    ``input_integrated_lufs`` and ``applied_gain_db`` are attached.
    """

    type_name = "loudness-normalize"
    NEEDS_WHOLE_FILE = True
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
        self.meter = LoudnessMeter(sample_rate, channels, true_peak=False)
        self.limiter = LookaheadLimiter(sample_rate, channels, self.params["true_peak_db"],
                                        self.params["release_ms"])
        self.gain_db: float | None = None

    def analyze(self, block: Block) -> None:
        """Pass 1: measure ``block`` [frames, channels]."""
        self.meter.process(block)

    def _gain(self) -> float:
        if self.gain_db is None:
            measured = self.meter.integrated()
            self.gain_db = 0.0 if measured is None else self.params["target_lufs"] - measured
            self.measurements = [Measurement("input_integrated_lufs", measured, "LUFS"),
                                 Measurement("applied_gain_db", self.gain_db, "dB")]
        return db_to_gain(self.gain_db)

    def process(self, block: Block) -> Outputs:
        """Pass 2: gain and limit ``block``; returns the aligned frames ready."""
        return {"main": self.limiter.process(np.asarray(block, np.float64) * self._gain())}

    def finish(self) -> Outputs:
        self._gain()
        return {"main": self.limiter.finish()}
