"""Level meters: dBFS bars with peak hold and latched clip lights, fed from the player."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

FLOOR_DB = -60.0
HOLD_S = 1.5
FALL_DB_PER_S = 30.0  # bars fall smoothly instead of flickering between callback peaks
_GREEN, _YELLOW, _RED = QColor("#3fbf5f"), QColor("#e0c040"), QColor("#e04040")
_TRACK, _LED_OFF, _TICK = QColor("#202326"), QColor("#4a2020"), QColor("#f0f0f0")


def to_db(peaks: np.ndarray) -> np.ndarray:
    """Linear full-scale peaks [channels] → dBFS [channels], floored at −60."""
    peaks = np.asarray(peaks, np.float64)
    return np.maximum(20.0 * np.log10(np.maximum(peaks, 1e-9)), FLOOR_DB)


class LevelMeter(QWidget):
    """Peak bars per channel in dBFS (−60..0) with a held peak tick and a clip light.

    The clip light stays on until the user clicks the meter or presses Space
    on it. ``clock`` (seconds) is injectable so the hold can be tested.
    """

    clip_cleared = Signal()

    def __init__(self, title: str = "Level", channels: int = 2, orientation=Qt.Vertical, *,
                 hold_s: float = HOLD_S, clock=time.monotonic, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title, self.orientation, self.hold_s, self._clock = title, orientation, hold_s, clock
        self.setAccessibleName(f"{title} level meter")
        self.setToolTip(f"{title} peak level (dBFS). Click or press Space to clear the clip light.")
        self.setFocusPolicy(Qt.StrongFocus)
        if orientation == Qt.Vertical:
            self.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Expanding)
        else:
            self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self._resize(channels)

    def _resize(self, channels: int) -> None:
        now = self._clock()
        self._level = np.full(channels, FLOOR_DB)
        self._hold = np.full(channels, FLOOR_DB)
        self._hold_at = np.full(channels, now)
        self._clip = np.zeros(channels, bool)
        self._last = now
        self.updateGeometry()

    def update_levels(self, peaks: np.ndarray, clipped: np.ndarray) -> None:
        """Show new peaks (linear full scale, [channels]) and clip flags (bool [channels])."""
        peaks = np.atleast_1d(np.asarray(peaks, np.float64))
        if len(peaks) != len(self._level):
            self._resize(len(peaks))
        now = self._clock()
        db = to_db(peaks)
        fallen = self._level - FALL_DB_PER_S * max(0.0, now - self._last)
        self._level = np.maximum(db, np.maximum(fallen, FLOOR_DB))
        self._last = now
        higher = db >= self._hold
        expired = now - self._hold_at > self.hold_s
        self._hold = np.where(higher, db, np.where(expired, self._level, self._hold))
        self._hold_at = np.where(higher | expired, now, self._hold_at)
        newly = np.atleast_1d(np.asarray(clipped, bool)) & ~self._clip
        if newly.any():
            self._clip |= newly
            self.setAccessibleDescription(f"{self.title}: clipped")
        self.update()

    def levels_db(self) -> np.ndarray:
        return self._level.copy()

    def peak_hold_db(self) -> np.ndarray:
        return self._hold.copy()

    def clipped(self) -> np.ndarray:
        return self._clip.copy()

    def reset_clip(self) -> None:
        self._clip[:] = False
        self.setAccessibleDescription(f"{self.title}: no clipping")
        self.clip_cleared.emit()
        self.update()

    def mousePressEvent(self, event) -> None:
        self.reset_clip()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Space, Qt.Key_Return, Qt.Key_Enter):
            self.reset_clip()
        else:
            super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        n = max(1, len(self._level))
        return QSize(12 * n + 4, 140) if self.orientation == Qt.Vertical else QSize(180, 8 * n + 12)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing, False)
        w, h = self.width(), self.height()
        n = len(self._level)
        led = 6.0
        for ch in range(n):
            if self.orientation == Qt.Vertical:
                lane = QRectF(ch * w / n + 1, led + 2, w / n - 2, h - led - 3)
                led_rect = QRectF(lane.left(), 0, lane.width(), led)
            else:
                lane = QRectF(0, ch * h / n + 1, w - led - 3, h / n - 2)
                led_rect = QRectF(w - led, lane.top(), led, lane.height())
            self._paint_channel(painter, lane, ch)
            painter.fillRect(led_rect, _RED if self._clip[ch] else _LED_OFF)
        if self.hasFocus():
            painter.setPen(self.palette().highlight().color())
            painter.drawRect(0, 0, w - 1, h - 1)

    def _paint_channel(self, painter: QPainter, lane: QRectF, ch: int) -> None:
        painter.fillRect(lane, _TRACK)
        level = self._level[ch]
        for lo, hi, color in ((FLOOR_DB, -12.0, _GREEN), (-12.0, -3.0, _YELLOW), (-3.0, 0.0, _RED)):
            if level > lo:
                painter.fillRect(self._span(lane, lo, min(level, hi)), color)
        hold = self._hold[ch]
        if hold > FLOOR_DB:
            tick = self._span(lane, hold, hold)
            painter.fillRect(tick.adjusted(0, -1, 0, 1) if self.orientation == Qt.Vertical
                             else tick.adjusted(-1, 0, 1, 0), _TICK)

    def _span(self, lane: QRectF, lo_db: float, hi_db: float) -> QRectF:
        """The part of ``lane`` between two dB values (0 dB at the top or the right)."""
        a, b = ((v - FLOOR_DB) / -FLOOR_DB for v in (lo_db, hi_db))
        if self.orientation == Qt.Vertical:
            return QRectF(lane.left(), lane.bottom() - b * lane.height(), lane.width(), (b - a) * lane.height())
        return QRectF(lane.left() + a * lane.width(), lane.top(), (b - a) * lane.width(), lane.height())

class MetersPanel(QWidget):
    """Input (the original) and output (what is sent to the device) meters, polled from a Player."""

    def __init__(self, player, parent: QWidget | None = None, interval_ms: int = 50,
                 orientation=Qt.Vertical) -> None:
        super().__init__(parent)
        self.player = player
        self.setAccessibleName("Level meters")
        self.input_meter = LevelMeter("Input", orientation=orientation)
        self.output_meter = LevelMeter("Output", orientation=orientation)
        grid = QGridLayout(self)
        grid.setContentsMargins(2, 2, 2, 2)
        for col, (label, meter) in enumerate((("In", self.input_meter), ("Out", self.output_meter))):
            if orientation == Qt.Vertical:
                grid.addWidget(meter, 0, col)
                grid.addWidget(QLabel(label), 1, col, Qt.AlignHCenter)
            else:
                grid.addWidget(QLabel(label), col, 0)
                grid.addWidget(meter, col, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def poll(self) -> None:
        """Move the player's peaks since the last poll onto the meters."""
        reading = self.player.take_meters()
        if reading is None:
            zero = np.zeros(len(self.input_meter.levels_db()))
            self.input_meter.update_levels(zero, zero.astype(bool))
            self.output_meter.update_levels(zero, zero.astype(bool))
            return
        self.input_meter.update_levels(reading.input_peak, reading.input_clip)
        self.output_meter.update_levels(reading.output_peak, reading.output_clip)
