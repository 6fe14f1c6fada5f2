"""The Export dialog: choose format, bit depth, rate, lanes and scope; write in the background.

The export runs :func:`restora.app.export_job.export_lanes` in a
:class:`~restora.app.jobs.Job`, so the window keeps drawing and Cancel works at
once; a cancelled or failed export leaves no file behind, and the dialog stays
open so the user can change something and try again.
"""

from __future__ import annotations

import copy
from pathlib import Path

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QProgressBar,
                               QPushButton, QRadioButton, QVBoxLayout, QWidget)

from restora.app.export_job import default_destinations, export_lanes
from restora.app.jobs import Job
from restora.dsp import audio_io
from restora.errors import AudioOutputError, RestoraError, UsageError
from restora.graph.file_job import WRITABLE, OutputOptions, default_ext
from restora.graph.lanes import lanes_for
from restora.graph.preset import Preset

SETTINGS_FOLDER = "export/folder"
COMMON_RATES = (8000, 16000, 22050, 32000, 44100, 48000, 88200, 96000)
_DEPTHS = {"wav": (16, 24, 32, "float"), "aiff": (16, 24, 32, "float"), "flac": (16, 24)}
_MP3_MAX_RATE = 48000


def _depth_label(depth) -> str:
    return "32-bit float" if depth == "float" else f"{depth}-bit"


class ExportDialog(QDialog):
    """Export lanes of ``in_path`` processed by ``preset``.

    ``lanes`` are the lane names offered (main first); ``source_rate`` is the
    source's sample rate in Hz; ``selection`` a frame range of the source, or
    None when nothing is selected. ``exported(dict)`` carries ``{lane: Path}``
    of the written files.
    """

    exported = Signal(dict)

    def __init__(self, in_path: Path, preset: Preset, lanes: list[str], source_rate: int,
                 selection: tuple[int, int] | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.in_path = Path(in_path)
        self.preset = preset
        self.source_rate = int(source_rate)
        self.selection = selection
        self.lane_names = list(lanes) or [lane.name for lane in lanes_for(preset)]
        self._info = self._probe()
        self._job: Job | None = None
        self._build()
        self.format_combo.setCurrentText(default_ext(self.in_path))
        self._format_changed()
        self.set_destination(self._default_destination())

    # -- building --------------------------------------------------------------
    def _probe(self):
        try:
            return audio_io.probe(self.in_path)
        except RestoraError:
            return None  # the export itself will say what is wrong with the file

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.format_combo = self._combo("Format", WRITABLE)
        self.depth_combo = self._combo("Bit depth", ())
        self.rate_combo = self._combo("Sample rate", ())
        form.addRow("Format", self.format_combo)
        form.addRow("Bit depth", self.depth_combo)
        form.addRow("Sample rate", self.rate_combo)
        layout.addLayout(form)
        layout.addWidget(self._lanes_box())
        layout.addWidget(self._scope_box())
        layout.addLayout(self._destination_row())
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setAccessibleName("Export progress")
        self.status_label = QLabel("")
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addLayout(self._buttons_row())
        self.format_combo.currentTextChanged.connect(self._format_changed)

    def _combo(self, name: str, items) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(name)
        combo.addItems(list(items))
        return combo

    def _lanes_box(self) -> QGroupBox:
        box = QGroupBox("Outputs")
        row = QVBoxLayout(box)
        self.lane_boxes: dict[str, QCheckBox] = {}
        for index, name in enumerate(self.lane_names):
            check = QCheckBox(name)
            check.setAccessibleName(f"Export lane {name}")
            check.setChecked(index == 0)
            row.addWidget(check)
            self.lane_boxes[name] = check
        self.sum_check = QCheckBox("As one file (their sum)")
        self.sum_check.setAccessibleName("Export the chosen lanes summed into one file")
        self.sum_check.setToolTip("Mix the chosen lanes into one file, e.g. every stem but the vocals")
        row.addWidget(self.sum_check)
        return box

    def _scope_box(self) -> QGroupBox:
        box = QGroupBox("Range")
        row = QHBoxLayout(box)
        self.whole_radio = QRadioButton("Whole file")
        self.selection_radio = QRadioButton(self._selection_text())
        self.whole_radio.setAccessibleName("Export whole file")
        self.selection_radio.setAccessibleName("Export selection only")
        group = QButtonGroup(box)
        for radio in (self.whole_radio, self.selection_radio):
            group.addButton(radio)
            row.addWidget(radio)
        self.whole_radio.setChecked(True)
        self.selection_radio.setEnabled(self.selection is not None)
        return box

    def _selection_text(self) -> str:
        if self.selection is None:
            return "Selection only (nothing selected)"
        a, b = (f / self.source_rate for f in self.selection)
        return f"Selection only ({a:.2f}–{b:.2f} s)"

    def _destination_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.dest_edit = QLineEdit()
        self.dest_edit.setAccessibleName("Destination")
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(QLabel("Save to"))
        row.addWidget(self.dest_edit, 1)
        row.addWidget(self.browse_button)
        return row

    def _buttons_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.cancel_button = QPushButton("Close")
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(self.reject)
        row.addWidget(self.export_button)
        row.addWidget(self.cancel_button)
        return row

    # -- fields ----------------------------------------------------------------
    def set_destination(self, path: Path | str) -> None:
        """File (one lane) or folder (several lanes) to write to."""
        self.dest_edit.setText(str(path))

    def set_lanes(self, names: list[str]) -> None:
        """Check exactly the lanes in ``names``."""
        for name, check in self.lane_boxes.items():
            check.setChecked(name in names)

    def chosen_lanes(self) -> list[str]:
        """Lane names to write; one ``"a+b"`` name when they are to be summed into one file."""
        names = [name for name, check in self.lane_boxes.items() if check.isChecked()]
        if self.sum_check.isChecked() and len(names) > 1:
            return ["+".join(names)]
        return names

    def _default_destination(self) -> Path:
        folder = Path(str(QSettings().value(SETTINGS_FOLDER, "") or ""))
        if not str(folder) or str(folder) == "." or not folder.is_dir():
            folder = self.in_path.parent
        return folder / f"{self.in_path.stem}-restored.{self.format_combo.currentText()}"

    def _format_changed(self) -> None:
        fmt = self.format_combo.currentText()
        self._fill_depths(fmt)
        self._fill_rates(fmt)
        text = self.dest_edit.text().strip()
        if text and Path(text).suffix.lower().lstrip(".") in WRITABLE + ("aif",):
            self.dest_edit.setText(str(Path(text).with_suffix("." + fmt)))

    def _fill_depths(self, fmt: str) -> None:
        self.depth_combo.clear()
        depths = _DEPTHS.get(fmt, ())
        for depth in depths:
            self.depth_combo.addItem(_depth_label(depth), depth)
        if not depths:
            self.depth_combo.addItem("— (lossy format)", None)
        self.depth_combo.setEnabled(bool(depths))
        source = audio_io.default_output_spec(self._info, f"x.{fmt}")[2] if self._info else 24
        index = self.depth_combo.findData(source)
        self.depth_combo.setCurrentIndex(max(index, 0))

    def _fill_rates(self, fmt: str) -> None:
        self.rate_combo.clear()
        if fmt == "opus":
            self.rate_combo.addItem("48000 Hz (Opus)", None)
            self.rate_combo.setEnabled(False)
            return
        self.rate_combo.setEnabled(True)
        working = self.preset.working_rate(self.source_rate)
        if working != self.source_rate:  # an upscale node raises the rate the chain runs at
            self.rate_combo.addItem(f"Processed ({working} Hz)", None)
        else:
            self.rate_combo.addItem(f"Source ({self.source_rate} Hz)", None)
        for rate in COMMON_RATES:
            if fmt != "mp3" or rate <= _MP3_MAX_RATE:
                self.rate_combo.addItem(f"{rate} Hz", rate)

    def _browse(self) -> None:
        current = self.dest_edit.text()
        if len(self.chosen_lanes()) > 1:
            path = QFileDialog.getExistingDirectory(self, "Export to folder", str(Path(current).parent))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export to file", current)
        if path:
            self.set_destination(path)

    # -- exporting -------------------------------------------------------------
    def _request(self) -> tuple[dict[str, Path], OutputOptions, tuple[int, int] | None]:
        """What the fields ask for; UsageError/AudioOutputError with a plain message when invalid."""
        text = self.dest_edit.text().strip()
        if not text:
            raise UsageError("choose where to save the export")
        fmt = self.format_combo.currentText()
        destinations = default_destinations(self.in_path, self.chosen_lanes(), Path(text).expanduser(), fmt)
        for path in destinations.values():
            if path.exists() and self.in_path.exists() and path.samefile(self.in_path):
                raise AudioOutputError(f"cannot write {path}: it is the input file; choose another name")
        options = OutputOptions(format=fmt, bit_depth=self.depth_combo.currentData(),
                                sample_rate=self.rate_combo.currentData())
        scope = self.selection if self.selection_radio.isChecked() and self.selection else None
        return destinations, options, scope

    def start_export(self) -> None:
        """Check the fields and start writing in the background."""
        if self._job is not None:
            return
        try:
            destinations, options, scope = self._request()
        except RestoraError as exc:
            self._show_error(str(exc))
            return
        existing = [p for p in destinations.values() if p.exists()]
        if existing:
            if not self._confirm_overwrite(existing):
                return
            options.overwrite = True
        # A snapshot: the editor may change the chain while the export runs.
        in_path, preset = self.in_path, copy.deepcopy(self.preset)
        job = Job(lambda cancel, progress: export_lanes(in_path, preset, destinations, options, scope=scope,
                                                        cancel=cancel, progress=progress), self)
        job.progress.connect(lambda f: self.progress_bar.setValue(round(f * 1000)))
        job.finished.connect(self._done)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        self._job = job
        self._set_busy(True)
        self.status_label.setText("Exporting…")
        job.start()

    def shutdown(self) -> None:
        """Cancel the running job and wait for its thread (when the main window closes)."""
        if self._job is not None:
            self._job.stop()

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.format_combo, self.depth_combo, self.rate_combo, self.dest_edit,
                       self.browse_button, self.export_button, *self.lane_boxes.values(), self.sum_check,
                       self.whole_radio):
            widget.setEnabled(not busy)
        self.selection_radio.setEnabled(not busy and self.selection is not None)
        if not busy:
            self._format_changed_enablement()
        self.cancel_button.setText("Cancel" if busy else "Close")
        self.progress_bar.setValue(0)

    def _format_changed_enablement(self) -> None:
        fmt = self.format_combo.currentText()
        self.depth_combo.setEnabled(fmt in _DEPTHS)
        self.rate_combo.setEnabled(fmt != "opus")

    def _done(self, written: dict) -> None:
        self._job = None
        self._set_busy(False)
        folder = next(iter(written.values())).parent
        QSettings().setValue(SETTINGS_FOLDER, str(folder))
        self.status_label.setText("Exported " + ", ".join(p.name for p in written.values()))
        self.exported.emit(dict(written))
        self.accept()

    def _failed(self, message: str) -> None:
        self._job = None
        self._set_busy(False)
        self.status_label.setText("Export failed; nothing was written")
        self._show_error(message)

    def _cancelled(self) -> None:
        self._job = None
        self._set_busy(False)
        self.status_label.setText("Export cancelled; nothing was written")

    def reject(self) -> None:
        """Cancel a running export (the dialog stays open), else close."""
        if self._job is not None:
            self._job.cancel()
            self.status_label.setText("Cancelling…")
            return
        super().reject()

    @property
    def busy(self) -> bool:
        return self._job is not None

    def _show_error(self, message: str) -> None:
        QMessageBox.warning(self, "Export failed", message)

    def _confirm_overwrite(self, paths: list[Path]) -> bool:
        names = "\n".join(str(p) for p in paths)
        answer = QMessageBox.question(self, "Replace files?", f"These files exist already:\n{names}\n\nReplace them?")
        return answer == QMessageBox.StandardButton.Yes
