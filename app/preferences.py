"""Preferences dialog: output device, buffer size, sample rate, A/B level matching."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QVBoxLayout, QWidget)

from restora.app.settings import Settings

BUFFER_SIZES = [2 ** n for n in range(6, 14)]  # 64 .. 8192 frames
SAMPLE_RATES = [44100, 48000, 88200, 96000]
SYSTEM_DEFAULT = "System default"
FOLLOW_FILE = "Follow the file"


class PreferencesDialog(QDialog):
    """Edits audio settings; OK writes them to ``settings`` and emits ``applied()``.

    ``devices`` are sounddevice's device dicts (``index``, ``name``,
    ``default_samplerate``, ``max_output_channels``); devices without outputs
    are left out. An empty list means no output is usable: the device combo is
    disabled and ``unavailable_reason`` is shown instead.
    """

    applied = Signal()

    def __init__(self, settings: Settings, devices: list[dict], unavailable_reason: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Preferences")
        outputs = [d for d in devices if int(d.get("max_output_channels", 1)) > 0]
        form = QFormLayout()
        self.device_combo = self._device_combo(outputs)
        self.reason_label = QLabel(unavailable_reason or "No audio output device was found.")
        self.reason_label.setWordWrap(True)
        self.reason_label.setVisible(not outputs)
        self.device_combo.setEnabled(bool(outputs))
        form.addRow(self._label("&Output device:", self.device_combo), self.device_combo)
        form.addRow("", self.reason_label)
        self.buffer_combo = self._buffer_combo()
        form.addRow(self._label("&Buffer size:", self.buffer_combo), self.buffer_combo)
        self.rate_combo = self._rate_combo()
        form.addRow(self._label("Sample &rate:", self.rate_combo), self.rate_combo)
        self.level_match_check = QCheckBox("&Match loudness when switching A/B")
        self.level_match_check.setAccessibleName("Level-match A/B")
        self.level_match_check.setChecked(settings.level_match)
        form.addRow("", self.level_match_check)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    @staticmethod
    def _label(text: str, buddy: QWidget) -> QLabel:
        # The buddy makes the &-mnemonic focus the control and gives screen readers its name.
        label = QLabel(text)
        label.setBuddy(buddy)
        buddy.setAccessibleName(text.replace("&", "").rstrip(":"))
        return label

    def _device_combo(self, outputs: list[dict]) -> QComboBox:
        combo = QComboBox()
        combo.addItem(SYSTEM_DEFAULT, None)
        for device in outputs:
            rate = device.get("default_samplerate")
            detail = f" ({int(rate)} Hz)" if rate else ""
            combo.addItem(f"{device['name']}{detail}", str(device["name"]))
        chosen = self.settings.audio_device
        if chosen and combo.findData(chosen) < 0:
            # Keep a device that is unplugged right now rather than silently dropping it.
            combo.addItem(f"{chosen} (not connected)", chosen)
        combo.setCurrentIndex(max(0, combo.findData(chosen)) if chosen else 0)
        return combo

    def _buffer_combo(self) -> QComboBox:
        combo = QComboBox()
        for frames in BUFFER_SIZES:
            combo.addItem(f"{frames} frames", frames)
        index = combo.findData(self.settings.buffer_size)
        combo.setCurrentIndex(index if index >= 0 else combo.findData(512))
        combo.setToolTip("Smaller buffers react faster; larger ones avoid dropouts on a busy machine.")
        return combo

    def _rate_combo(self) -> QComboBox:
        combo = QComboBox()
        combo.addItem(FOLLOW_FILE, 0)
        for rate in SAMPLE_RATES:
            combo.addItem(f"{rate} Hz", rate)
        index = combo.findData(self.settings.sample_rate or 0)
        combo.setCurrentIndex(max(0, index))
        return combo

    def apply(self) -> None:
        """Write the dialog's choices to the settings and emit ``applied()``."""
        if self.device_combo.isEnabled():
            self.settings.audio_device = self.device_combo.currentData()
        self.settings.buffer_size = int(self.buffer_combo.currentData())
        self.settings.sample_rate = int(self.rate_combo.currentData()) or None
        self.settings.level_match = self.level_match_check.isChecked()
        self.settings.sync()
        self.applied.emit()

    def accept(self) -> None:
        self.apply()
        super().accept()
