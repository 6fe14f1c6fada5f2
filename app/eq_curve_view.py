"""The EQ-match plot: spectra of source, reference and result above, the EQ curve with band handles below.

Both plots share a log-frequency x axis (Hz). pyqtgraph's log mode maps curve
data itself, but items placed by position (the handles) live in view
coordinates, i.e. log10(Hz); :func:`_to_view` and :func:`_from_view` convert.
The view only draws and reports gestures; the panel owns the bands.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal

from restora.graph.nodes_basic import PASS_TYPES

COLOURS = {"source": "#7f8fa6", "reference": "#e1a23b", "result": "#4cc38a", "eq": "#5aa9e6"}
Q_STEP = 2.0 ** (1.0 / 6.0)  # one wheel notch changes Q by a sixth of an octave's ratio
# pyqtgraph's own log ticks (3·10¹ 4·10¹ …) crowd into an unreadable row.
TICKS_HZ = [(20, "20"), (50, "50"), (100, "100"), (200, "200"), (500, "500"), (1000, "1k"), (2000, "2k"),
            (5000, "5k"), (10000, "10k"), (20000, "20k")]


def _to_view(freq_hz: float, gain_db: float) -> tuple[float, float]:
    return math.log10(max(freq_hz, 1e-3)), gain_db


def _from_view(x: float, y: float) -> tuple[float, float]:
    return 10.0 ** x, y


class BandHandle(pg.TargetItem):
    """A draggable marker for one band; the mouse wheel over it reports Q steps."""

    def __init__(self, index: int, wheeled) -> None:
        super().__init__(pos=(3.0, 0.0), size=13, symbol="o", movable=True, label=str(index + 1),
                         pen=pg.mkPen("w"), brush=pg.mkBrush(COLOURS["eq"]), hoverBrush=pg.mkBrush("w"))
        self.index = index
        self._wheeled = wheeled

    def wheelEvent(self, ev) -> None:  # noqa: N802 — Qt override
        self._wheeled(self.index, 1 if ev.delta() > 0 else -1)
        ev.accept()


class EqCurveView(pg.GraphicsLayoutWidget):
    """Spectra (dB density) and EQ response (dB) against frequency (Hz).

    Signals: ``band_dragged(index, freq_hz, gain_db)`` while a handle moves
    (gain already 0 for pass filters, values clamped by the panel),
    ``band_q_step(index, steps)`` for the mouse wheel (+1 = narrower),
    ``drag_finished(index)`` when the mouse is released.
    """

    band_dragged = Signal(int, float, float)
    band_q_step = Signal(int, int)
    drag_finished = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAccessibleName("EQ match curves")
        self.spectra = self.addPlot(row=0, col=0)
        self.eq_plot = self.addPlot(row=1, col=0)
        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 2)
        for plot, label in ((self.spectra, "level (dB)"), (self.eq_plot, "EQ (dB)")):
            plot.setLogMode(x=True, y=False)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("left", label)
            plot.setMouseEnabled(x=False, y=False)
            plot.getAxis("bottom").setTicks([[(math.log10(f), text) for f, text in TICKS_HZ], []])
        self.eq_plot.setLabel("bottom", "frequency (Hz)")
        self.eq_plot.setXLink(self.spectra)
        self.spectra.addLegend(offset=(-10, 10))
        self.curves = {name: self.spectra.plot(pen=pg.mkPen(COLOURS[name], width=w), name=name)
                       for name, w in (("source", 1.5), ("reference", 1.5), ("result", 2.2))}
        self.eq_plot.addLine(y=0.0, pen=pg.mkPen("#888", width=1))
        self.curves["eq"] = self.eq_plot.plot(pen=pg.mkPen(COLOURS["eq"], width=2))
        self.eq_plot.setYRange(-18.0, 18.0)
        self.handles: list[BandHandle] = []
        self._types: list[str] = []
        self._placing = False

    def set_range(self, top_hz: float) -> None:
        """Show 20 Hz .. ``top_hz`` Hz."""
        self.spectra.setXRange(math.log10(20.0), math.log10(top_hz), padding=0.02)

    def show_spectra(self, freqs: np.ndarray, source_db: np.ndarray, reference_db: np.ndarray,
                     result_db: np.ndarray) -> None:
        """Draw the three spectra (dB) at ``freqs`` (Hz)."""
        for name, data in (("source", source_db), ("reference", reference_db), ("result", result_db)):
            self.curves[name].setData(freqs, data)

    def show_eq(self, freqs: np.ndarray, eq_db: np.ndarray) -> None:
        """Draw the EQ response (dB) at ``freqs`` (Hz); the axis grows to hold it, at least ±18 dB."""
        self.curves["eq"].setData(freqs, eq_db)
        span = max(18.0, float(np.max(np.abs(eq_db))) + 3.0 if len(eq_db) else 18.0)
        self.eq_plot.setYRange(-span, span, padding=0.0)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(freqs Hz, values dB)`` drawn for ``name`` (source, reference, result or eq)."""
        x, y = self.curves[name].getOriginalDataset()
        return (np.array([]) if x is None else x), (np.array([]) if y is None else y)

    def set_bands(self, bands) -> None:
        """Place one handle per band (``type``, ``freq_hz``, ``gain_db``); makes or drops handles as needed."""
        while len(self.handles) > len(bands):
            self.eq_plot.removeItem(self.handles.pop())
        while len(self.handles) < len(bands):
            handle = BandHandle(len(self.handles), self.band_q_step.emit)
            handle.sigPositionChanged.connect(self._handle_moved)
            handle.sigPositionChangeFinished.connect(lambda h: self.drag_finished.emit(h.index))
            self.eq_plot.addItem(handle)
            self.handles.append(handle)
        self._types = [b.type for b in bands]
        self._placing = True
        try:
            for handle, band in zip(self.handles, bands):
                handle.setPos(*_to_view(band.freq_hz, band.gain_db))
                handle.setVisible(band.type != "off")
        finally:
            self._placing = False

    def drag_handle(self, index: int, freq_hz: float, gain_db: float) -> None:
        """Move handle ``index`` as a mouse drag would (tests, keyboard-free scripting)."""
        self.handles[index].setPos(*_to_view(freq_hz, gain_db))
        self.drag_finished.emit(index)

    def handle_position(self, index: int) -> tuple[float, float]:
        """Where handle ``index`` is: ``(freq_hz, gain_db)``."""
        pos = self.handles[index].pos()
        return _from_view(pos.x(), pos.y())

    def _handle_moved(self, handle: BandHandle) -> None:
        if self._placing:
            return
        freq, gain = _from_view(handle.pos().x(), handle.pos().y())
        if self._types[handle.index] in PASS_TYPES:
            gain = 0.0
        self.band_dragged.emit(handle.index, freq, gain)
