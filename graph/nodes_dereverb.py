"""``dereverb``: WPE dereverberation on fixed windows (:func:`restora.dsp.dereverb.dereverb_window`).

At the node's rate ``sr`` (Hz), audio float32 ``[frames, channels]``, each channel
dereverberated on its own. The stream is cut into windows of ``WINDOW_S`` (8 s) at
fixed positions from its start, overlapping by ``OVERLAP_S`` (1 s) and joined by
cross-fades (:class:`restora.dsp.windowed.WindowedProcessor`), so the output does
not depend on the block size; latency and memory are one window. Within a window
the STFT (Hann, 512/128 at 16 kHz, 2048/512 at 44.1/48 kHz, so one frame of
``taps``/``delay`` is 8-11.6 ms) is dereverberated by nara-wpe's offline ``wpe``.
Measurement: ``reduction_db`` (dB, input energy over output energy: the reverb removed).
"""

from __future__ import annotations

import numpy as np

from restora.dsp.dereverb import OVERLAP_S, WINDOW_S, dereverb_window
from restora.dsp.windowed import WindowedProcessor
from restora.graph.node import Block, Measurement, Node, Outputs, Param


class DereverbNode(Node):
    """Removes late reverberation (room tail) while keeping the direct sound and early reflections."""

    type_name = "dereverb"
    PARAMS = (
        Param("taps", 10, kind="int", minimum=1, maximum=40, unit="frames",
              doc="length of the prediction filter in STFT frames (8-11.6 ms each); longer tails need more"),
        Param("delay", 3, kind="int", minimum=1, maximum=10, unit="frames",
              doc="the prediction starts this many frames back: what lies closer (direct sound, early "
                  "reflections; 24-35 ms at 3) is kept"),
        Param("iterations", 3, kind="int", minimum=1, maximum=10, unit="",
              doc="re-estimations of the filters (each weighted by the last result's power); more removes more "
                  "and costs proportionally more time"),
    )

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        p = self.params
        self._energy = [0.0, 0.0]  # input, output energy

        def window(chunk: np.ndarray) -> np.ndarray:
            return dereverb_window(chunk, sample_rate, p["taps"], p["delay"], p["iterations"])

        self._windows = WindowedProcessor(window, round(WINDOW_S * sample_rate), round(OVERLAP_S * sample_rate),
                                          channels)

    def _count(self, x: np.ndarray, i: int) -> None:
        self._energy[i] += float(np.sum(np.square(x, dtype=np.float64)))

    def process(self, block: Block) -> Outputs:
        block = np.asarray(block, np.float32)
        self._count(block, 0)
        out = self._windows.process(block)
        self._count(out, 1)
        return {"main": out}

    def finish(self) -> Outputs:
        out = self._windows.finish()
        self._count(out, 1)
        e_in, e_out = self._energy
        value = round(float(10 * np.log10(e_in / e_out)), 2) if e_in > 0 and e_out > 0 else None
        self.measurements.append(Measurement("reduction_db", value, "dB"))
        return {"main": out}
