"""The Batch dialog: process every audio file under a folder, one file at a time, in the background.

The dialog is non-modal: scanning and every file run in a :class:`~restora.app.jobs.Job`,
so the main window stays usable, and closing the dialog only hides it (the
batch goes on; Cancel stops it). The output tree mirrors the input tree as in
``restora batch``; each file is written all-or-nothing by
:func:`~restora.app.export_job.export_lanes`, so a failing file leaves no output
and does not stop the others, and a cancel removes the file in progress.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QProgressBar, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from restora.app.export_job import (BatchItem, eta_seconds, format_seconds, overall_fraction, run_batch_item,
                                    scan_folder)
from restora.app.jobs import Job
from restora.errors import RestoraError, UsageError
from restora.graph.file_job import WRITABLE, OutputOptions
from restora.graph.preset import Preset, builtin_names, load_preset

SETTINGS_OUTPUT = "batch/output_folder"
SETTINGS_INPUT = "batch/input_folder"
CURRENT, FROM_FILE = "__current__", "__file__"
COLUMNS = ("File", "Status", "Progress", "Time")


@dataclass
class _Run:
    """What one Start fixed: preset, folders, options, and the clock for the ETA."""

    preset: Preset
    root: Path
    out_root: Path
    options: OutputOptions
    skip_existing: bool
    started: float


class BatchDialog(QDialog):
    """Batch-process a folder with the editor's chain, a built-in preset or a preset file.

    ``preset_provider()`` returns the editor's current chain (None when there
    is none). ``finished_batch(summary)`` is emitted when a batch ends (done or
    cancelled); ``summary`` holds counts per status (``done``, ``failed``,
    ``skipped``, ``cancelled``), ``files`` ({input path: status text}),
    ``output_folder`` and ``seconds`` (wall time).
    """

    finished_batch = Signal(dict)

    def __init__(self, preset_provider: Callable[[], Preset | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch processing")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.preset_provider = preset_provider
        self.items: list[BatchItem] = []
        self._scanned_root: Path | None = None
        self._job: Job | None = None
        self._run: _Run | None = None
        self._next = 0
        self._start_after_scan = False
        self._build()
        settings = QSettings()
        self.input_edit.setText(str(settings.value(SETTINGS_INPUT, "") or ""))
        self.output_edit.setText(str(settings.value(SETTINGS_OUTPUT, "") or ""))

    # -- building --------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.addRow("Preset", self._preset_row())
        self.input_edit, row = self._folder_row("Input folder")
        form.addRow("Input folder", row)
        self.output_edit, row = self._folder_row("Output folder")
        form.addRow("Output folder", row)
        self.format_combo = QComboBox()
        self.format_combo.setAccessibleName("Format")
        self.format_combo.addItem("Same as source", None)
        for fmt in WRITABLE:
            self.format_combo.addItem(fmt, fmt)
        form.addRow("Format", self.format_combo)
        self.skip_check = QCheckBox("Skip files whose outputs exist")
        self.skip_check.setAccessibleName("Skip existing")
        form.addRow("", self.skip_check)
        layout.addLayout(form)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName("Batch queue")
        layout.addWidget(self.table, 1)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setAccessibleName("Batch progress")
        self.eta_label = QLabel("")
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.eta_label)
        layout.addLayout(self._buttons_row())

    def _preset_row(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName("Preset")
        self.preset_combo.addItem("Current chain (editor)", CURRENT)
        for name in builtin_names():
            self.preset_combo.addItem(name, name)
        self.preset_combo.addItem("Preset file…", FROM_FILE)
        self.preset_file_edit = QLineEdit()
        self.preset_file_edit.setAccessibleName("Preset file")
        self.preset_file_edit.setPlaceholderText("preset .json")
        self.preset_file_edit.setEnabled(False)
        self.preset_combo.currentIndexChanged.connect(
            lambda: self.preset_file_edit.setEnabled(self.preset_combo.currentData() == FROM_FILE))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse_preset)
        for widget in (self.preset_combo, self.preset_file_edit, browse):
            row.addWidget(widget)
        return box

    def _folder_row(self, name: str) -> tuple[QLineEdit, QWidget]:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit()
        edit.setAccessibleName(name)
        browse = QPushButton("Choose…")
        browse.clicked.connect(lambda: self._browse_folder(edit, name))
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return edit, box

    def _buttons_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.scan_button = QPushButton("Scan")
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.scan_button.clicked.connect(self.scan)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.scan_button)
        row.addStretch(1)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        return row

    def _browse_folder(self, edit: QLineEdit, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, edit.text())
        if path:
            edit.setText(path)

    def _browse_preset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Preset file", "", "Presets (*.json)")
        if path:
            self.preset_combo.setCurrentIndex(self.preset_combo.findData(FROM_FILE))
            self.preset_file_edit.setText(path)

    # -- fields ----------------------------------------------------------------
    def set_folders(self, input_folder: Path | str, output_folder: Path | str) -> None:
        self.input_edit.setText(str(input_folder))
        self.output_edit.setText(str(output_folder))

    def set_preset(self, name_or_path: str) -> None:
        """Choose a built-in preset by name, ``"current"`` for the editor's chain, else a preset file."""
        key = CURRENT if name_or_path == "current" else name_or_path
        index = self.preset_combo.findData(key)
        if index < 0:
            index = self.preset_combo.findData(FROM_FILE)
            self.preset_file_edit.setText(str(name_or_path))
        self.preset_combo.setCurrentIndex(index)

    def status_of(self, path: Path | str) -> str:
        """The status text shown for input ``path`` ("" if it is not queued)."""
        for item in self.items:
            if item.path == Path(path):
                return item.status
        return ""

    @property
    def running(self) -> bool:
        return self._job is not None

    def _input_root(self) -> Path:
        text = self.input_edit.text().strip()
        if not text:
            raise UsageError("choose an input folder")
        root = Path(text).expanduser()
        if not root.is_dir():
            raise UsageError(f"{root}: not a folder")
        return root

    def _output_root(self, root: Path) -> Path:
        text = self.output_edit.text().strip()
        if not text:
            raise UsageError("choose an output folder")
        out = Path(text).expanduser()
        if out.resolve() == root.resolve():
            raise UsageError("the output folder is the input folder; choose another one so no input is replaced")
        return out

    def _resolve_preset(self) -> Preset:
        key = self.preset_combo.currentData()
        if key == CURRENT:
            preset = self.preset_provider()
            if preset is None:
                raise UsageError("there is no chain in the editor; choose a built-in preset or a preset file")
            return preset
        if key == FROM_FILE:
            text = self.preset_file_edit.text().strip()
            if not text:
                raise UsageError("choose a preset file")
            return load_preset(Path(text).expanduser())
        return load_preset(key)

    # -- scanning --------------------------------------------------------------
    def scan(self) -> None:
        """List the audio files under the input folder into the queue (in the background)."""
        if self._job is not None:
            return
        try:
            root = self._input_root()
        except RestoraError as exc:
            self._start_after_scan = False
            self._show_error(str(exc))
            return
        out_text = self.output_edit.text().strip()
        exclude = Path(out_text).expanduser() if out_text else root / ".restora-no-output"
        job = Job(lambda cancel, progress: scan_folder(root, exclude, cancel), self, name="restora-scan")
        job.finished.connect(lambda items: self._scanned(root, items))
        job.failed.connect(self._scan_failed)
        job.cancelled.connect(lambda: self._set_busy(False))
        self._job = job
        self._set_busy(True)
        self.eta_label.setText("Scanning…")
        job.start()

    def _scanned(self, root: Path, items: list[BatchItem]) -> None:
        self._job = None
        self._set_busy(False)
        self.items = items
        self._scanned_root = root
        self._fill_table()
        self.eta_label.setText(f"{len(items)} file(s) found" if items else "No audio files found")
        if self._start_after_scan:
            self._start_after_scan = False
            if items:
                self.start()
            else:
                self._show_error(f"{root}: no audio files found")

    def _scan_failed(self, message: str) -> None:
        self._job = None
        self._start_after_scan = False
        self._set_busy(False)
        self._show_error(message)

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.items))
        for row, item in enumerate(self.items):
            name = str(item.path.relative_to(self._scanned_root))
            for col, text in enumerate((name, item.status, "", "")):
                self.table.setItem(row, col, QTableWidgetItem(text))

    def _show_row(self, index: int, progress: str = "") -> None:
        item = self.items[index]
        self.table.item(index, 1).setText(item.status)
        self.table.item(index, 2).setText(progress)
        self.table.item(index, 3).setText(format_seconds(item.seconds) if item.seconds else "")

    # -- running ---------------------------------------------------------------
    def start(self) -> None:
        """Process the queue one file at a time (scanning first when needed)."""
        if self._job is not None:
            return
        try:
            root = self._input_root()
            out_root = self._output_root(root)
            # A snapshot: the editor may change the chain while the batch runs.
            preset = copy.deepcopy(self._resolve_preset())
        except RestoraError as exc:
            self._show_error(str(exc))
            return
        if self._scanned_root is None or self._scanned_root.resolve() != root.resolve() or not self._queued_left():
            self._start_after_scan = True
            self.scan()
            return
        settings = QSettings()
        settings.setValue(SETTINGS_OUTPUT, str(out_root))
        settings.setValue(SETTINGS_INPUT, str(root))
        options = OutputOptions(format=self.format_combo.currentData())
        self._run = _Run(preset, root, out_root, options, self.skip_check.isChecked(), time.monotonic())
        self._next = 0
        self._set_busy(True)
        self.cancel_button.setEnabled(True)
        self._run_next()

    def _queued_left(self) -> bool:
        return any(item.status == "queued" for item in self.items)

    def _run_next(self) -> None:
        while self._next < len(self.items) and self.items[self._next].status != "queued":
            self._next += 1
        if self._next >= len(self.items):
            self._finish()
            return
        index, run = self._next, self._run
        item = self.items[index]
        item.status = "running 0%"
        self._show_row(index, "0%")
        job = Job(lambda cancel, progress: run_batch_item(item, run.preset, run.root, run.out_root, run.options,
                                                   run.skip_existing, cancel, progress), self, name="restora-batch")
        job.progress.connect(lambda f: self._file_progress(index, f))
        job.finished.connect(lambda outcome: self._file_ended(index, outcome))
        job.failed.connect(lambda message: self._file_ended(index, ("failed", message)))
        job.cancelled.connect(lambda: self._file_ended(index, ("cancelled", "")))
        self._job = job
        job.start()

    def _file_progress(self, index: int, fraction: float) -> None:
        item = self.items[index]
        item.status = f"running {fraction * 100:.0f}%"
        item.fraction = fraction
        self._show_row(index, f"{fraction * 100:.0f}%")
        self._show_overall()

    def _file_ended(self, index: int, outcome: tuple[str, object]) -> None:
        self._job = None
        item = self.items[index]
        item.kind, detail = outcome
        if item.kind == "done":
            item.seconds = float(detail)
        item.fraction = 1.0 if item.kind in ("done", "skipped") else 0.0
        item.status = _status_text(item, detail)
        self._show_row(index, "100%" if item.kind == "done" else "")
        self._show_overall()
        if item.kind == "cancelled":
            self._mark_rest_cancelled()
            self._finish()
            return
        self._next = index + 1
        self._run_next()

    def _mark_rest_cancelled(self) -> None:
        for index, item in enumerate(self.items):
            if item.status == "queued":
                item.status, item.kind = "cancelled", "cancelled"
                self._show_row(index)

    def _show_overall(self) -> None:
        self.progress_bar.setValue(round(1000 * overall_fraction(self.items)))
        if self._run is None:
            return
        elapsed = time.monotonic() - self._run.started
        eta = eta_seconds(self.items, elapsed)
        finished = sum(item.kind != "queued" for item in self.items)
        text = f"{finished} of {len(self.items)} file(s) finished"
        if eta is not None:
            text += f" — about {format_seconds(eta)} left"
        self.eta_label.setText(text)

    def cancel(self) -> None:
        """Stop after cleaning up the file in progress; files already done stay."""
        if self._job is not None:
            self._job.cancel()
            self.eta_label.setText("Cancelling…")

    def _finish(self) -> None:
        run, self._run = self._run, None
        self._set_busy(False)
        self.cancel_button.setEnabled(False)
        summary = self._summary(run)
        self.eta_label.setText(", ".join(f"{n} {k}" for k, n in summary.items() if isinstance(n, int) and n))
        self.finished_batch.emit(summary)

    def _summary(self, run: _Run | None) -> dict:
        counts = {kind: sum(item.kind == kind for item in self.items)
                  for kind in ("done", "failed", "skipped", "cancelled")}
        return {**counts, "files": {str(item.path): item.status for item in self.items},
                "output_folder": str(run.out_root) if run else "",
                "seconds": time.monotonic() - run.started if run else 0.0}

    def shutdown(self) -> None:
        """Cancel the running job and wait for its thread (when the main window closes)."""
        if self._job is not None:
            self._job.stop()

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.scan_button, self.start_button, self.preset_combo, self.input_edit,
                       self.output_edit, self.format_combo, self.skip_check):
            widget.setEnabled(not busy)
        self.preset_file_edit.setEnabled(not busy and self.preset_combo.currentData() == FROM_FILE)

    def _show_error(self, message: str) -> None:
        QMessageBox.warning(self, "Batch", message)


def _status_text(item: BatchItem, detail: object) -> str:
    """The queue's status for a finished file."""
    if item.kind == "done":
        return f"done in {format_seconds(item.seconds)}"
    if item.kind in ("skipped", "failed"):
        return f"{item.kind}: {detail}"
    return "cancelled"
