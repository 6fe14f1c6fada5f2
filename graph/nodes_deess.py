"""De-ess node: turns the sibilant band (about 4-10 kHz) down while it dominates the full band.

Blocks are float32 ``[frames, channels]`` at the graph's rate. The design is in
:mod:`restora.dsp.deess`: a linear-phase band-pass and its exact complement,
so with no reduction ``main`` equals the input. Outputs: ``main`` (de-essed)
and ``sibilance`` (what was removed; ``main + sibilance`` = input). The
band-pass delay (about 2 ms) is look-ahead in the node's terms: the first
frames come back from :meth:`finish`. Reports ``max_reduction_db`` (dB, the
largest reduction applied) at the end of the stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from restora.dsp.deess import FirBand, SibilanceDetector, band_edges, bandpass_taps
from restora.graph.node import Block, Measurement, Node, Outputs, Param, ParameterError, empty


class DeessNode(Node):
    """Split-band de-esser with a band-relative threshold; outputs ``main`` and ``sibilance``."""

    type_name = "de-ess"
    OUTPUTS = ("main", "sibilance")
    PARAMS = (
        Param("low_hz", 4000.0, minimum=1000.0, maximum=16000.0, unit="Hz",
              doc="Lower edge of the sibilant band"),
        Param("high_hz", 10000.0, minimum=2000.0, maximum=20000.0, unit="Hz",
              doc="Upper edge of the sibilant band (clamped to 0.45 x the sample rate)"),
        Param("threshold_db", -15.0, minimum=-60.0, maximum=0.0, unit="dB",
              doc="Band level relative to the full band above which the band is turned down"),
        Param("max_reduction_db", 12.0, minimum=0.0, maximum=40.0, unit="dB",
              doc="Largest reduction of the sibilant band"),
        Param("attack_ms", 1.0, minimum=0.1, maximum=50.0, unit="ms",
              doc="Time constant of the reduction's rise (one-pole)"),
        Param("release_ms", 60.0, minimum=5.0, maximum=1000.0, unit="ms",
              doc="Time constant of the reduction's exponential fall (in dB)"),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params["low_hz"] >= self.params["high_hz"]:
            raise ParameterError(f"low_hz={self.params['low_hz']} must be below high_hz={self.params['high_hz']}")

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        p = self.params
        edges = band_edges(p["low_hz"], p["high_hz"], sample_rate)
        self._band = None if edges is None else FirBand(bandpass_taps(*edges, sample_rate), channels)
        self._detector = SibilanceDetector(sample_rate, p["threshold_db"], p["max_reduction_db"],
                                           p["attack_ms"], p["release_ms"])
        self._to_drop = 0 if self._band is None else self._band.delay
        self._max_reduction = 0.0

    def _run(self, x: np.ndarray) -> Outputs:
        if self._band is None:
            return {"main": np.ascontiguousarray(x, np.float32), "sibilance": np.zeros_like(x, np.float32)}
        band, delayed = self._band(np.asarray(x, np.float64))
        reduction = self._detector(band, delayed) if len(x) else np.zeros(0)
        if len(reduction):
            self._max_reduction = max(self._max_reduction, float(reduction.max()))
        removed = band * (1.0 - 10.0 ** (-reduction / 20.0))[:, None]
        drop = min(self._to_drop, len(x))
        self._to_drop -= drop
        return {"main": (delayed - removed)[drop:].astype(np.float32), "sibilance": removed[drop:].astype(np.float32)}

    def process(self, block: Block) -> Outputs:
        return self._run(block)

    def finish(self) -> Outputs:
        tail = 0 if self._band is None else self._band.delay  # flushes exactly the frames still owed
        out = self._run(np.zeros((tail, self.channels))) if tail else {
            name: empty(self.channels) for name in self.OUTPUTS}
        self.measurements.append(Measurement("max_reduction_db", round(self._max_reduction, 6), "dB"))
        return out
