"""De-hum node: finds a steady hum (mains 50/60 Hz or any 40-400 Hz fundamental) and notches it out.

Blocks are float32 ``[frames, channels]`` at the graph's rate. With
``frequency_hz`` = 0 the node holds its output back until it has seen the first
``analysis_s`` seconds (counted in samples from the start, so the decision does
not depend on block size; a shorter stream is analysed whole at ``finish``),
detects the hum on the channel mean (:func:`restora.dsp.dehum.detect_hum`),
then removes it from the held samples and everything after. ``method``
``subtract`` (default): in fixed 2 s windows from the stream's start, joined
by 0.25 s cross-fades (:class:`restora.dsp.windowed.WindowedProcessor`), the
least-squares fit of sinusoids at the harmonics is subtracted
(:func:`restora.dsp.dehum.subtract_hum`; each window follows the hum within
±0.15 Hz of the detected or given fundamental), which leaves the phase of
everything else alone (latency: one window). ``notch``: a fixed notch bank
(:func:`restora.dsp.dehum.notch_bank`), causal, whose phase shift reaches tens
of hertz around every notch (about 5-8 dB worse waveform SDR on speech). With no hum found the audio passes
through untouched. A set ``frequency_hz`` skips detection and adds no latency.
Memory is bounded by the analysis window. Reports ``hum_hz`` (Hz, None when no
hum was found).

Limitation: in automatic mode a musical note held at a steady level through
the whole analysis window, with no mains hum beside it, looks like hum; the
subtraction then takes it away only where it stands far above its surroundings.
Set ``frequency_hz`` (or leave the node out) for such material.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal import sosfilt

from restora.dsp.dehum import (F0_RANGE, SUBTRACT_OVERLAP_S, SUBTRACT_WINDOW_S, detect_hum, notch_bank,
                               subtract_hum)
from restora.dsp.windowed import WindowedProcessor
from restora.graph.node import Block, Measurement, Node, Outputs, Param, ParameterError, empty


class DehumNode(Node):
    """Removes a hum fundamental and its harmonics: fitted sinusoids subtracted, or notches (``method``)."""

    type_name = "de-hum"
    PARAMS = (
        Param("frequency_hz", 0.0, minimum=0.0, maximum=F0_RANGE[1], unit="Hz",
              doc=f"Hum fundamental; 0 detects it (mains or any steady hum, {F0_RANGE[0]:g}-{F0_RANGE[1]:g} Hz)"),
        Param("harmonics", 8, kind="int", minimum=0, maximum=40, unit="",
              doc="Harmonics notched above the fundamental (those above 0.45 x the sample rate are skipped)"),
        Param("amount", 100.0, minimum=0.0, maximum=100.0, unit="%",
              doc="subtract: share of the fitted hum taken away; notch: depth (0.6 dB per %, 60 dB at 100 %) and "
                  "width (0.5 Hz at 0 %, 1.5 Hz at 100 % on the fundamental, 10 % wider per harmonic number)"),
        Param("method", "subtract", kind="choice", choices=("subtract", "notch"),
              doc="subtract: fitted sinusoids at the harmonics are subtracted (the rest keeps its phase); notch: a "
                  "fixed notch bank (amount sets depth and width)"),
        Param("analysis_s", 4.0, minimum=0.5, maximum=10.0, unit="s",
              doc="Length of the stream's start analysed to detect the hum (output waits for it)"),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        f = self.params["frequency_hz"]
        if 0.0 < f < F0_RANGE[0] / 2:
            raise ParameterError(f"frequency_hz={f} is too low (0 for automatic, or at least {F0_RANGE[0] / 2:g} Hz)")

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        self._window = round(self.params["analysis_s"] * sample_rate)
        self._held: list[np.ndarray] = []
        self._held_frames = 0
        self._decided = False
        self._sos: np.ndarray | None = None
        self._subtract: WindowedProcessor | None = None
        if self.params["frequency_hz"] > 0:
            self._decide(self.params["frequency_hz"])

    def _decide(self, f0: float | None) -> None:
        """Fix the hum frequency (None: pass through) and build the filters."""
        self._decided = True
        self.measurements.append(Measurement("hum_hz", None if f0 is None else float(f0), "Hz"))
        self._subtract = None
        if f0 is not None and self.params["method"] == "subtract":
            p, rate = self.params, self.sample_rate
            self._subtract = WindowedProcessor(
                lambda chunk: subtract_hum(chunk, rate, f0, p["harmonics"], p["amount"] / 100.0).astype(np.float32),
                round(SUBTRACT_WINDOW_S * rate), round(SUBTRACT_OVERLAP_S * rate), self.channels)
        elif f0 is not None:
            self._sos = notch_bank(f0, self.params["harmonics"], self.params["amount"], self.sample_rate)
        if self._sos is not None:
            self._zi = np.zeros((len(self._sos), 2, self.channels))

    def _filter(self, x: np.ndarray) -> np.ndarray:
        if self._subtract is not None:
            return self._subtract.process(np.asarray(x, np.float32))
        if self._sos is None or len(x) == 0:
            return np.ascontiguousarray(x, np.float32)
        y, self._zi = sosfilt(self._sos, np.asarray(x, np.float64), axis=0, zi=self._zi)
        return y.astype(np.float32)

    def _release_held(self) -> np.ndarray:
        held = np.concatenate(self._held) if self._held else empty(self.channels)
        self._held, self._held_frames = [], 0
        self._decide(detect_hum(held.astype(np.float64).mean(axis=1), self.sample_rate))
        return self._filter(held)

    def process(self, block: Block) -> Outputs:
        if self._decided:
            return {"main": self._filter(block)}
        need = self._window - self._held_frames
        self._held.append(np.array(block[:need], np.float32))
        self._held_frames += len(self._held[-1])
        if self._held_frames < self._window:
            return {"main": empty(self.channels)}
        first = self._release_held()
        return {"main": np.concatenate([first, self._filter(block[need:])])}

    def finish(self) -> Outputs:
        out = empty(self.channels) if self._decided else self._release_held()
        if self._subtract is not None:
            out = np.concatenate([out, self._subtract.finish()])
        return {"main": out}


def fix_hum_frequencies(preset, head, rate: int):
    """``preset`` with each automatic ``de-hum`` node fed by the graph input given the hum a run from the file's
    start finds: ``frequency_hz`` set to it, or the node bypassed when there is none.

    ``head(frames)`` returns the input's first ``frames`` [frames, channels] at ``rate`` Hz. The GUI's
    preview starts wherever the playhead is; detecting per segment could find another hum there (a held
    note) than the export does, which analyses the file's start.
    """
    from restora.graph.preset import GRAPH_INPUT

    overrides = []
    for spec in preset.nodes:
        if spec.type != DehumNode.type_name or spec.input != GRAPH_INPUT or spec.bypass:
            continue
        params = DehumNode(**spec.params).params
        if params["frequency_hz"] > 0:
            continue
        x = np.asarray(head(round(params["analysis_s"] * rate)), np.float64)
        f0 = detect_hum(x.mean(axis=1), rate) if x.size else None
        overrides.append(f"{spec.id}.frequency_hz={f0!r}" if f0 else f"{spec.id}.bypass=true")
    return preset.with_overrides(overrides) if overrides else preset
