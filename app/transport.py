"""The transport bar: play/pause, stop, loop, A/B, level match and the time readout."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QWidget

AB_TEXT = {"A": "A: original", "B": "B: processed"}


def format_time(seconds: float) -> str:
    """``mm:ss.mmm`` (minutes keep counting past 59)."""
    ms = int(round(max(0.0, seconds) * 1000))
    return f"{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


class TransportBar(QWidget):
    """Buttons bound to a :class:`~restora.app.player.Player`; shows why playback is off when it is."""

    def __init__(self, player, parent: QWidget | None = None, interval_ms: int = 50) -> None:
        super().__init__(parent)
        self.player = player
        self.setAccessibleName("Transport")
        self.play_button = self._button("Play", "Play or pause")
        self.stop_button = self._button("Stop", "Stop and return to the start (or the loop start)")
        self.loop_button = self._button("Loop", "Loop the selection", checkable=True)
        self.ab_button = self._button(AB_TEXT["A"], "Switch between the original (A) and the processed result (B)",
                                      checkable=True)
        self.level_match = QCheckBox("Level match")
        self.level_match.setToolTip("Play B at the original's loudness, so louder does not sound better")
        self.level_match.setAccessibleName("Level match")
        self.time_label = QLabel()
        self.time_label.setAccessibleName("Playback time")
        self.message = QLabel()
        self.message.setAccessibleName("Playback status")
        self.message.setWordWrap(True)
        self._layout()
        self._connect()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.refresh)
        self._sync()
        self.message.setText(player.unavailable_reason())

    def _button(self, text: str, tip: str, checkable: bool = False) -> QPushButton:
        button = QPushButton(text)
        button.setCheckable(checkable)
        button.setToolTip(tip)
        button.setAccessibleName(text)
        return button

    def _layout(self) -> None:
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        for widget in (self.play_button, self.stop_button, self.loop_button, self.ab_button, self.level_match):
            row.addWidget(widget)
        row.addWidget(self.time_label)
        row.addWidget(self.message, 1)

    def _connect(self) -> None:
        p = self.player
        self.play_button.clicked.connect(p.toggle_play)
        self.stop_button.clicked.connect(p.stop)
        self.loop_button.toggled.connect(p.set_loop_enabled)
        self.ab_button.toggled.connect(lambda on: p.set_ab("B" if on else "A"))
        self.level_match.toggled.connect(p.set_level_match)
        p.state_changed.connect(self._on_state)
        p.ab_changed.connect(lambda _: self._sync())
        p.loop_changed.connect(lambda _: self._sync())
        p.source_changed.connect(self._sync)
        p.playback_failed.connect(self.message.setText)

    def _on_state(self, state: str) -> None:
        if state == "playing":
            self.message.setText("")
            self.timer.start()
        else:
            self.timer.stop()
        self._sync()

    def _sync(self) -> None:
        """Show the player's state on the controls (without feeding it back)."""
        p = self.player
        playing = p.state() == "playing"
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.setAccessibleName(self.play_button.text())
        for widget, value in ((self.ab_button, p.ab() == "B"), (self.loop_button, p.loop_enabled),
                              (self.level_match, p.level_match())):
            widget.blockSignals(True)
            widget.setChecked(value)
            widget.blockSignals(False)
        self.ab_button.setText(AB_TEXT[p.ab()])
        self.ab_button.setAccessibleName(f"A/B switch, hearing {AB_TEXT[p.ab()]}")
        has_source = p.source() is not None
        for widget in (self.play_button, self.stop_button):
            widget.setEnabled(has_source)
        self.refresh()

    def refresh(self) -> None:
        """Update the time readout: ``position / total``."""
        self.time_label.setText(f"{format_time(self.player.position_s())} / {format_time(self.player.duration_s())}")
