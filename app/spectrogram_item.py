"""Building blocks of the spectrogram views: frequency axis, tiled image layer, time view box.

A :class:`SpectrogramLayer` shows a dBFS spectrogram [columns, bins] in a plot
as tiles of :data:`TILE` columns, so redrawing while a file decodes only
re-renders the last tile. On a log-frequency display the bins are resampled
onto log-spaced rows and the y coordinate is log10(Hz); :class:`FrequencyAxis`
labels either in Hz.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal


TILE = 1024          # spectrogram columns per ImageItem
AXIS_WIDTH = 64      # fixed so the stacked plots' time axes line up
PLAYHEAD_PEN = pg.mkPen("#ff5252", width=2)
SELECTION_BRUSH = (90, 160, 255, 60)
DETAIL_MIN_HOP = 32  # frames; finer adds columns, not detail, at a Hann window's time resolution
LOG_ROWS = 512       # display rows on a log-frequency axis
LOG_MIN_HZ = 20.0
_NICE_HZ = [20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]


def hz_label(hz: float) -> str:
    """'500', '2k', '12.5k': a compact frequency label in Hz."""
    if hz >= 1000:
        return f"{hz / 1000:g}k"
    return f"{hz:g}"


class FrequencyAxis(pg.AxisItem):
    """A y axis labelled in Hz whether the plot's y coordinate is Hz or log10(Hz)."""

    def __init__(self, orientation: str = "left", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.log_scale = False
        self.setLabel("Frequency", units="")

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 — pyqtgraph override
        if not self.log_scale:
            return super().tickValues(minVal, maxVal, size)
        values = [math.log10(f) for f in _NICE_HZ if minVal <= math.log10(f) <= maxVal]
        return [(1.0, values)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 — pyqtgraph override
        if self.log_scale:
            return [hz_label(10.0 ** v) for v in values]
        return [hz_label(v) for v in values]


def frequency_rows(bins: int, sample_rate: int, log: bool) -> tuple[np.ndarray | None, float, float]:
    """Display rows for ``bins`` FFT bins: ``(fractional_bin_per_row | None, y0, height)``.

    Linear: None (rows are the bins), y in Hz. Log: LOG_ROWS fractional bin
    indices on a log-spaced grid from LOG_MIN_HZ to Nyquist, y in log10(Hz).
    ``y0``/``height`` place the image so each row is centred on its frequency.
    """
    nyquist = sample_rate / 2.0
    bin_hz = nyquist / (bins - 1)
    if not log:
        return None, -bin_hz / 2.0, bins * bin_hz
    lo, hi = math.log10(max(LOG_MIN_HZ, bin_hz)), math.log10(nyquist)
    step = (hi - lo) / (LOG_ROWS - 1)
    positions = 10.0 ** np.linspace(lo, hi, LOG_ROWS) / bin_hz
    return positions, lo - step / 2.0, LOG_ROWS * step


def resample_rows(db: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
    """float32 [columns, rows]: ``db`` [columns, bins] linearly interpolated at fractional bins."""
    if positions is None:
        return np.asarray(db, np.float32)
    low = np.clip(np.floor(positions).astype(int), 0, db.shape[1] - 1)
    high = np.minimum(low + 1, db.shape[1] - 1)
    frac = (positions - low).astype(np.float32)
    return db[:, low].astype(np.float32) * (1 - frac) + db[:, high].astype(np.float32) * frac


class SpectrogramLayer:
    """A spectrogram drawn in ``plot`` (a PlotItem), tiled, with an optional detail image on top.

    Column c of the data is drawn over ``x0_s + c*column_s .. + column_s`` seconds.
    """

    def __init__(self, plot: pg.PlotItem, colormap: pg.ColorMap, levels: tuple[float, float]) -> None:
        self.plot = plot
        self.colormap = colormap
        self.levels = levels
        self.log = False
        self.tiles: list[pg.ImageItem] = []
        self.detail = self._new_image(z=1)
        self.detail.setVisible(False)
        self._db = None
        self._geometry = (0.0, 1.0, 48000)
        self._detail_args = None

    def _new_image(self, z: float = 0) -> pg.ImageItem:
        image = pg.ImageItem(axisOrder="col-major", autoDownsample=True)
        image.setColorMap(self.colormap)
        image.setZValue(-10 + z)  # below the selection and playhead
        self.plot.addItem(image)
        return image

    def set_data(self, db: np.ndarray | None, x0_s: float, column_s: float, sample_rate: int,
                 changed_from: int = 0) -> None:
        """Show ``db`` float [columns, bins] dBFS (NaN = transparent); re-render from column ``changed_from``."""
        self._db, self._geometry = db, (x0_s, column_s, sample_rate)
        columns = 0 if db is None else len(db)
        needed = math.ceil(columns / TILE)
        while len(self.tiles) > needed:
            self.plot.removeItem(self.tiles.pop())
        while len(self.tiles) < needed:
            self.tiles.append(self._new_image())
        if columns:
            positions, y0, height = frequency_rows(db.shape[1], sample_rate, self.log)
            for index in range(max(0, changed_from) // TILE, needed):
                part = db[index * TILE:(index + 1) * TILE]
                tile = self.tiles[index]
                tile.setImage(resample_rows(part, positions), levels=self.levels, autoLevels=False)
                tile.setRect(x0_s + index * TILE * column_s, y0, len(part) * column_s, height)

    def set_detail(self, db: np.ndarray | None, x0_s: float = 0.0, column_s: float = 1.0) -> None:
        """Show a finer spectrogram over part of the time axis, or hide it (None)."""
        self._detail_args = None if db is None else (db, x0_s, column_s)
        self.detail.setVisible(db is not None)
        if db is None or not len(db):
            return
        positions, y0, height = frequency_rows(db.shape[1], self._geometry[2], self.log)
        self.detail.setImage(resample_rows(db, positions), levels=self.levels, autoLevels=False)
        self.detail.setRect(x0_s, y0, len(db) * column_s, height)

    def set_log(self, log: bool) -> None:
        self.log = bool(log)
        self._redraw()

    def set_levels(self, low: float, high: float) -> None:
        self.levels = (float(low), float(high))
        for image in self.images():
            image.setLevels(self.levels)

    def set_visible(self, visible: bool) -> None:
        for tile in self.tiles:
            tile.setVisible(visible)
        self.detail.setVisible(visible and self._detail_args is not None)

    def images(self) -> list[pg.ImageItem]:
        return self.tiles + [self.detail]

    def columns(self) -> int:
        return 0 if self._db is None else len(self._db)

    def _redraw(self) -> None:
        if self._db is not None:
            self.set_data(self._db, *self._geometry)
        if self._detail_args is not None:
            self.set_detail(*self._detail_args)


class TimeViewBox(pg.ViewBox):
    """A ViewBox whose x axis is time: click to seek, shift+drag to select a time range.

    ``seek_requested(float)`` seconds; ``selection_dragged(float, float, bool)``
    start and end seconds, True when the drag has ended.
    """

    seek_requested = Signal(float)
    selection_dragged = Signal(float, float, bool)

    def mouseClickEvent(self, ev):  # noqa: N802 — pyqtgraph override
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.seek_requested.emit(float(self.mapSceneToView(ev.scenePos()).x()))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 — pyqtgraph override
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if axis is None and shift and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            start = self.mapToView(QPointF(ev.buttonDownPos())).x()
            end = self.mapToView(QPointF(ev.pos())).x()
            self.selection_dragged.emit(float(min(start, end)), float(max(start, end)), bool(ev.isFinish()))
        else:
            super().mouseDragEvent(ev, axis)


def time_plot(frequency: bool) -> pg.PlotItem:
    """A PlotItem on a :class:`TimeViewBox` with a hidden selection region and a playhead.

    ``frequency`` gives it a :class:`FrequencyAxis`; the region and the line are
    reachable as ``plot.region`` and ``plot.playhead``.
    """
    axes = {"left": FrequencyAxis("left")} if frequency else {}
    plot = pg.PlotItem(viewBox=TimeViewBox(), axisItems=axes)
    plot.getAxis("left").setWidth(AXIS_WIDTH)
    region = pg.LinearRegionItem(brush=SELECTION_BRUSH, movable=True)
    region.setZValue(10)
    region.setVisible(False)
    plot.addItem(region, ignoreBounds=True)
    playhead = pg.InfiniteLine(0, angle=90, movable=False, pen=PLAYHEAD_PEN)
    playhead.setZValue(20)
    plot.addItem(playhead, ignoreBounds=True)
    plot.region, plot.playhead = region, playhead
    return plot


def peak_line(mins: np.ndarray, maxs: np.ndarray, bucket: int, sample_rate: int,
              start_frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x seconds, y) of a zig-zag line through min/max peaks: each bucket draws as a vertical stroke."""
    times = (start_frame + np.arange(len(mins)) * bucket + bucket / 2) / sample_rate
    return np.repeat(times, 2), np.column_stack([mins, maxs]).ravel()


def detail_plan(visible: tuple[float, float], sample_rate: int, pixels: float, overview,
                decoded: int) -> tuple[int, int, int, int] | None:
    """What to recompute for a zoomed-in view, or None when the overview is fine enough.

    ``visible`` is the shown time range in seconds, ``pixels`` the plot width.
    Returns ``(start, stop, hop, bucket)`` in frames: the range (half a screen
    either side, so panning stays drawn), the STFT hop and the peak bucket.
    """
    x0, x1 = visible
    pixels = max(100.0, pixels)
    frames = (x1 - x0) * sample_rate
    if frames / overview.hop >= pixels / 2 and frames / overview.bucket_frames >= pixels:
        return None
    start = max(0, int((x0 - (x1 - x0) / 2) * sample_rate))
    stop = min(decoded, int((x1 + (x1 - x0) / 2) * sample_rate))
    if stop - start < 2:
        return None
    hop = int(np.clip(frames / pixels, DETAIL_MIN_HOP, overview.n_fft))
    return start, stop, hop, max(1, int(frames / (2 * pixels)))
