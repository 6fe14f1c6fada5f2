"""The model manager: the bundled models and the user's own, with adding (drag and drop) and removing.

Files that can be added: ``.onnx`` models and DeepFilterNet export tarballs.

Adding runs :func:`restora.models.byo.add_model.add` on a worker thread (it
loads the file once in a separate process, which takes seconds); a rejected
file is one sentence in the status line, and the dialog stays usable. What
the file does not say (its sample rate, an MDX-Net model's n_fft, stem
names) comes from the form above the buttons. ``models_changed`` tells the
window to refresh the node palette, where each added model is ``model:<id>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from restora.app.jobs import Job

COLUMNS = ("id", "kind", "rate", "status", "source")


class ModelManagerDialog(QDialog):
    """Table of models; Add (file dialog or drop ``.onnx`` files), Remove (added models only)."""

    models_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setAcceptDrops(True)
        self.job: Job | None = None
        self._queue: list[Path] = []
        #: ``confirm(question) -> bool``; tests replace it to answer without a modal box.
        self.confirm: Callable[[str], bool] = self._ask
        self._build()
        self.refresh()

    def _build(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Models")
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.task = QComboBox()
        self.task.addItems(["(from the file)", "enhance", "separate", "extract", "upscale"])
        self.rate = QSpinBox()
        self.rate.setRange(0, 192000)
        self.rate.setSpecialValueText("(from the file)")
        self.n_fft = QSpinBox()
        self.n_fft.setRange(0, 16384)
        self.n_fft.setSpecialValueText("(from the file)")
        self.stems = QLineEdit()
        self.stems.setPlaceholderText("e.g. vocals (comma-separated)")
        self.model_id = QLineEdit()
        self.model_id.setPlaceholderText("(the file name)")
        self.card = QLineEdit()
        self.card.setPlaceholderText("optional model card JSON: anything else the file does not say")
        card_button = QPushButton("…")
        card_button.setAccessibleName("Choose a model card")
        card_row = QHBoxLayout()
        card_row.addWidget(self.card)
        card_row.addWidget(card_button)
        form = QFormLayout()
        for label, widget in (("Id", self.model_id), ("Task", self.task), ("Sample rate, Hz", self.rate),
                              ("STFT size (n_fft)", self.n_fft), ("Stems", self.stems)):
            widget.setAccessibleName(label)
            form.addRow(label, widget)
        self.card.setAccessibleName("Model card")
        form.addRow("Model card", card_row)
        card_button.clicked.connect(self._browse_card)
        self.add_button = QPushButton("&Add model file…")
        self.remove_button = QPushButton("&Remove")
        close = QPushButton("Close")
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        self.status = QLabel("Drop .onnx files here to add them.")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(QLabel("For the next file added, where it does not say:"))
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.add_button.clicked.connect(self._browse)
        self.remove_button.clicked.connect(self.remove_selected)
        close.clicked.connect(self.close)

    # -- table -------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the table: bundled models with their install state, then the added ones."""
        from restora.models import fetch, registry, store
        from restora.models.byo import user_store

        cards = [registry.card(m) for m in registry.ids()]
        rows = [(c.id, c.task, str(c.sample_rate), fetch.status(c.id), "bundled") for c in cards]
        for model in user_store.list_models():
            c = model.contract
            state = "damaged" if store.manifest_damage(model.folder) else "added"
            rows.append((model.id, f"{c.task} ({c.kind})", str(c.sample_rate), state, model.onnx.name))
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))

    def selected_id(self) -> str | None:
        row = self.table.currentRow()
        return self.table.item(row, 0).text() if row >= 0 else None

    # -- adding ------------------------------------------------------------
    def hints(self) -> dict:
        """Contract values from the form (only those set)."""
        hints: dict = {}
        if self.task.currentIndex() > 0:
            hints["task"] = self.task.currentText()
        if self.rate.value():
            hints["sample_rate"] = self.rate.value()
        if self.n_fft.value():
            hints["n_fft"] = self.n_fft.value()
        stems = [s.strip() for s in self.stems.text().split(",") if s.strip()]
        if stems:
            hints["stems"] = stems
        return hints

    def _browse_card(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model card", "", "Model cards (*.json)")
        if path:
            self.card.setText(path)

    def _browse(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add ONNX models", "",
                                                "ONNX models and DeepFilterNet exports (*.onnx *.tar.gz)")
        for path in paths:
            self.add_file(Path(path))

    def add_file(self, path: Path) -> None:
        """Add ``path`` on a worker thread (queued behind one already being added)."""
        self._queue.append(Path(path))
        if self.job is None or not self.job.running:
            self._next()

    def _next(self) -> None:
        from restora.models.byo.add_model import add

        if not self._queue:
            return
        path = self._queue.pop(0)
        hints, model_id = self.hints(), self.model_id.text().strip() or None
        card = Path(self.card.text().strip()) if self.card.text().strip() else None
        self.status.setText(f"Checking {path.name}: loading it once in a separate process…")
        self.job = Job(lambda cancel, progress: add(path, card, hints, model_id), parent=self, name="restora-add")
        self.job.finished.connect(lambda model: self._added(model))
        self.job.failed.connect(lambda message: self._failed(path, message))
        self.job.start()

    def _added(self, model) -> None:
        self.status.setText(f"Added '{model.id}': {model.contract.kind} model, {model.contract.task}; it is the node "
                            f"type model:{model.id} in the palette.")
        self.model_id.clear()
        self.card.clear()
        self.refresh()
        self.models_changed.emit()
        self._next()

    def _failed(self, path: Path, message: str) -> None:
        self.status.setText(f"{path.name} was not added: {message}")
        self._next()

    def dragEnterEvent(self, event) -> None:
        if any(_addable(u.toLocalFile()) for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if _addable(url.toLocalFile()):
                self.add_file(Path(url.toLocalFile()))
        event.acceptProposedAction()

    # -- removing ----------------------------------------------------------
    def remove_selected(self) -> None:
        from restora.models import registry
        from restora.models.byo import user_store

        model_id = self.selected_id()
        if model_id is None:
            return
        if model_id in registry.ids():
            self.status.setText(f"'{model_id}' is bundled with Restora and cannot be removed.")
            return
        if not self.confirm(f"Remove the model '{model_id}' and its files?"):
            return
        user_store.remove(model_id)
        self.status.setText(f"Removed '{model_id}'.")
        self.refresh()
        self.models_changed.emit()

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Remove model", question)
        return answer == QMessageBox.StandardButton.Yes

def _addable(path: str) -> bool:
    """An ONNX file or a DeepFilterNet export tarball (by name; the add itself checks the content)."""
    return path.lower().endswith((".onnx", ".tar.gz", ".tgz"))
