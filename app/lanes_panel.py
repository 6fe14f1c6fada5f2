"""Per-lane solo, mute and gain for what B plays (main result, stems, removed)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QSlider, QToolButton, QVBoxLayout, QWidget

from restora.app.playback import LaneSetting

GAIN_MIN_DB, GAIN_MAX_DB = -24.0, 12.0
STEPS_PER_DB = 2  # the slider moves in 0.5 dB steps


class LaneRow:
    """The controls of one lane: ``solo``, ``mute`` (checkable buttons), ``gain`` slider, ``gain_label``."""

    def __init__(self, name: str, setting) -> None:
        self.name = name
        self.label = QLabel(name)
        self.solo = _toggle("S", f"Solo {name}", f"Hear only the soloed lanes ({name})")
        self.mute = _toggle("M", f"Mute {name}", f"Silence {name} in B")
        self.gain = QSlider(Qt.Horizontal)
        self.gain.setRange(int(GAIN_MIN_DB * STEPS_PER_DB), int(GAIN_MAX_DB * STEPS_PER_DB))
        self.gain.setPageStep(2 * STEPS_PER_DB)
        self.gain.setAccessibleName(f"{name} gain")
        self.gain.setToolTip(f"{name} gain in B ({GAIN_MIN_DB:+.0f} to {GAIN_MAX_DB:+.0f} dB)")
        self.gain_label = QLabel()
        self.gain_label.setMinimumWidth(56)
        self.show(setting)

    def show(self, setting) -> None:
        """Set the controls from a LaneSetting without emitting their signals."""
        for widget, apply in ((self.solo, lambda: self.solo.setChecked(setting.solo)),
                              (self.mute, lambda: self.mute.setChecked(setting.mute)),
                              (self.gain, lambda: self.gain.setValue(round(setting.gain_db * STEPS_PER_DB)))):
            widget.blockSignals(True)
            apply()
            widget.blockSignals(False)
        self.gain_label.setText(f"{setting.gain_db:+.1f} dB")

    def gain_db(self) -> float:
        return self.gain.value() / STEPS_PER_DB


def _toggle(text: str, name: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setCheckable(True)
    button.setAccessibleName(name)
    button.setToolTip(tip)
    button.setFocusPolicy(Qt.StrongFocus)
    return button


class LanesPanel(QWidget):
    """One row per lane, bound to ``player.set_lane``; follows ``player.lanes_changed``."""

    lane_changed = Signal(str)

    def __init__(self, player, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.setAccessibleName("Lanes")
        self.rows: dict[str, LaneRow] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        self.empty = QLabel("No processed lanes yet")
        outer.addWidget(self.empty)
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._grid_host)
        outer.addStretch(1)
        player.lanes_changed.connect(self.set_lanes)
        self.set_lanes(list(player.lane_settings()))

    def set_lanes(self, names: list[str]) -> None:
        """Rebuild the rows for ``names`` (main lane first)."""
        if list(names) == list(self.rows):
            settings = self.player.lane_settings()
            for name, row in self.rows.items():
                if name in settings:
                    row.show(settings[name])
            return
        for row in self.rows.values():
            for widget in (row.label, row.solo, row.mute, row.gain, row.gain_label):
                self._grid.removeWidget(widget)
                # Hidden at once: deletion waits for the event loop, and until then an
                # unlaid-out widget would paint over the whole panel.
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
        self.rows = {}
        settings = self.player.lane_settings()
        for r, name in enumerate(names):
            row = LaneRow(name, settings.get(name) or LaneSetting(mute=r > 0))
            for c, widget in enumerate((row.label, row.solo, row.mute, row.gain, row.gain_label)):
                self._grid.addWidget(widget, r, c)
            row.solo.toggled.connect(lambda on, n=name: self._set(n, solo=on))
            row.mute.toggled.connect(lambda on, n=name: self._set(n, mute=on))
            row.gain.valueChanged.connect(lambda v, n=name: self._set(n, gain_db=v / STEPS_PER_DB))
            self.rows[name] = row
        self.empty.setVisible(not names)

    def _set(self, name: str, **change) -> None:
        self.player.set_lane(name, **change)
        row = self.rows.get(name)
        if row is not None:
            row.gain_label.setText(f"{row.gain_db():+.1f} dB")
        self.lane_changed.emit(name)

