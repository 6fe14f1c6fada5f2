"""Match EQ to a reference: fit bands in the background, show and edit them, apply them as an eq node.

The bands in the table and under the handles are the fitted (or edited) ones
at full strength; *Amount* scales their gains for the result curve, the match
error and what *Apply to chain* writes, so moving Amount never loses an edit.
Spectra and the fit run in a :class:`restora.app.jobs.Job`; a newer fit
supersedes an older one, whose result is then dropped.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel,
                               QPushButton, QSlider, QSpinBox, QSplitter, QTableWidget, QVBoxLayout)

from restora.app.chain import ChainModel, find_param, relinked
from restora.app.chain_commands import ChainState, SnapshotCommand
from restora.app.eq_curve_view import Q_STEP, EqCurveView
from restora.app.jobs import Job
from restora.cli.cmd_eq_match import NODE_NAMES, eq_preset
from restora.dsp import eq_match as em
from restora.errors import ModelError
from restora.graph.nodes_basic import BAND_TYPES, PASS_TYPES
from restora.graph.preset import NodeSpec

#: Returns the document's audio to match, ``(float [frames, channels], sample rate Hz)``, or None.
AudioProvider = Callable[[], "tuple[np.ndarray, int] | None"]
NODE_ID = "eq-match"
COLUMNS = ("Type", "Freq (Hz)", "Gain (dB)", "Q")


def document_audio(window) -> tuple[np.ndarray, int] | None:
    """The main window's decoded audio (only the selection, if any) and its rate (Hz); None until read."""
    source = window.source
    if source is None or not source.complete:
        return None
    start, stop = 0, source.frames
    selection = window.views.selection()
    if selection is not None:
        start, stop = (round(t * source.sample_rate) for t in selection)
    return source.data[max(0, start):min(stop, source.frames)], source.sample_rate


def _limits(name: str) -> tuple[float, float]:
    param = find_param("eq", f"band1_{name}")
    return param.minimum, param.maximum


def fit(audio: np.ndarray, sample_rate: int, reference: Path, n_bands: int):
    """``(source Spectrum, reference Spectrum, bands, note)``: the slow part, run on a worker thread.

    When the trained predictor behind ``match_bands`` is not installed the
    analytic fit is used instead, and ``note`` says so (else it is empty).
    """
    source = em.spectrum_of_array(audio, sample_rate, "the source audio")
    ref = em.spectrum_of_file(reference, f"reference {reference.name}")
    matcher = getattr(em, "match_bands", em.fit_bands)  # match_bands supersedes fit_bands where present
    try:
        return source, ref, node_bands(matcher(source, ref, n_bands)), ""
    except ModelError as exc:
        # A missing model must not leave the user without any match.
        note = f" Analytic fit used: {exc}"
        return source, ref, node_bands(em.fit_bands(source, ref, n_bands)), note


def eq_params(bands) -> dict:
    """The eq node's ``band{i}_*`` parameters (Hz, dB) for ``bands``; bands beyond them are off."""
    return eq_preset(bands).nodes[0].params


def node_bands(bands) -> list[em.Band]:
    """``bands`` with the eq node's type names (a fit may use the JSON names, ``low_shelf``)."""
    return [replace(b, type=NODE_NAMES.get(b.type, b.type)) for b in bands]


class EqMatchPanel(QDialog):
    """The dialog. ``fitted()`` after each finished fit, ``failed(message)`` when one could not run."""

    fitted = Signal()
    failed = Signal(str)

    def __init__(self, chain: ChainModel, audio: AudioProvider, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Match EQ to reference")
        self.chain, self._audio = chain, audio
        self.reference: Path | None = None
        self.source_spec = self.reference_spec = None
        self.bands: list[em.Band] = []
        self.node_id: str | None = None
        self._job: Job | None = None
        self._jobs: list[Job] = []
        self._syncing = False
        self._build()
        self.resize(1100, 640)

    # -- construction -------------------------------------------------------
    def _build(self) -> None:
        self.ref_button = QPushButton("&Reference…", clicked=self.choose_reference)
        self.ref_label = QLabel("No reference chosen")
        self.fit_button = QPushButton("&Fit again", clicked=self.refit)
        self.fit_button.setToolTip("Measure the document (its selection, if any) and the reference, and fit anew")
        self.bands_spin = QSpinBox(minimum=1, maximum=12, value=6, suffix=" bands")
        self.bands_spin.setAccessibleName("Number of bands")
        self.bands_spin.valueChanged.connect(lambda _n: self.refit())
        self.amount = QSlider(Qt.Horizontal, minimum=0, maximum=100, value=100)
        self.amount.setAccessibleName("Amount")
        self.amount_label = QLabel("100 %")
        self.amount.valueChanged.connect(self._amount_changed)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("EQ match status")
        self.error_label = QLabel("")
        self.error_label.setAccessibleName("Match error")
        self.apply_button = QPushButton("&Apply to chain", clicked=self.apply_to_chain, enabled=False)
        self.view = EqCurveView()
        self.view.band_dragged.connect(lambda i, f, g: self.set_band(i, freq_hz=f, gain_db=g))
        self.view.band_q_step.connect(lambda i, s: self.set_band(i, q=self.bands[i].q * Q_STEP ** s))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("EQ bands")
        self.table.setMinimumWidth(400)
        top = QHBoxLayout()
        for widget in (self.ref_button, self.ref_label, self.fit_button, self.bands_spin, QLabel("Amount"), self.amount,
                       self.amount_label):
            top.addWidget(widget)
        split = QSplitter()
        split.addWidget(self.view)
        split.addWidget(self.table)
        split.setStretchFactor(0, 3)
        bottom = QHBoxLayout()
        bottom.addWidget(self.error_label, 1)
        bottom.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)

    # -- fitting -------------------------------------------------------------
    def choose_reference(self) -> None:
        from restora.app.main_window import AUDIO_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Reference recording", "", AUDIO_FILTER)
        if path:
            self.set_reference(Path(path))

    def set_reference(self, path: str | Path) -> None:
        """Use the audio file at ``path`` as the reference and fit again."""
        self.reference = Path(path)
        self.ref_label.setText(self.reference.name)
        self.refit()

    @property
    def running(self) -> bool:
        """True while a fit is in progress."""
        return self._job is not None and self._job.running

    def refit(self) -> None:
        """Fit the chosen number of bands in the background (superseding a running fit)."""
        if self.reference is None:
            return
        audio = self._audio()
        if audio is None:
            self._fail("Open a recording and wait until it has been read.")
            return
        data, rate, reference, n = audio[0], audio[1], self.reference, self.bands_spin.value()
        job = Job(lambda cancel, progress: fit(data, rate, reference, n), self, name="restora-eq-match")
        job.finished.connect(lambda result, j=job: self._fitted(j, result))
        job.failed.connect(lambda message, j=job: self._job is j and self._fail(message))  # drop stale ones
        self._job = job
        self._jobs = [j for j in self._jobs if j.running] + [job]
        self.status.setText("Measuring and fitting…")
        self.apply_button.setEnabled(False)
        job.start()

    def _fitted(self, job: Job, result) -> None:
        if job is not self._job:
            return  # superseded by a newer fit
        self.source_spec, self.reference_spec, self.bands, note = result
        self.status.setText(f"Fitted {len(self.bands)} band(s) to {self.reference.name}.{note}")
        self.apply_button.setEnabled(True)
        self._fill_table()
        self.view.set_range(self._top_hz())
        self.refresh()
        self.fitted.emit()

    def _fail(self, message: str) -> None:
        self.status.setText(f"<span style='color:#e5534b'>{html.escape(message)}</span>")
        self.apply_button.setEnabled(bool(self.bands))
        self.failed.emit(message)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Wait for running fits (before the window goes); their results are dropped."""
        self._job = None
        for job in self._jobs:
            job.stop(timeout_s)

    # -- editing --------------------------------------------------------------
    def applied_bands(self) -> list[em.Band]:
        """The bands scaled by Amount: what the result curve, the error and the chain use."""
        return em.apply_amount(self.bands, float(self.amount.value()))

    def set_band(self, index: int, **changes) -> None:
        """Change band ``index`` (``type``, ``freq_hz`` Hz, ``gain_db`` dB, ``q``), clamped to the eq node's ranges."""
        band = replace(self.bands[index], **changes)
        lo_f, hi_f = _limits("freq_hz")
        lo_g, hi_g = _limits("gain_db")
        lo_q, hi_q = _limits("q")
        gain = 0.0 if band.type in PASS_TYPES else float(np.clip(band.gain_db, lo_g, hi_g))
        self.bands[index] = replace(band, freq_hz=float(np.clip(band.freq_hz, lo_f, min(hi_f, self._top_hz()))),
                                    gain_db=gain, q=float(np.clip(band.q, lo_q, hi_q)))
        self._fill_row(index)
        self.refresh()

    def _amount_changed(self, value: int) -> None:
        self.amount_label.setText(f"{value} %")
        self.refresh()

    def _top_hz(self) -> float:
        if self.source_spec is None:
            return 20000.0
        return em.analysis_top_hz(self.source_spec.sample_rate, self.reference_spec.sample_rate)

    def refresh(self) -> None:
        """Redraw curves and handles and recompute the match error from the current bands."""
        if self.source_spec is None:
            return
        src, ref, rate = self.source_spec, self.reference_spec, self.source_spec.sample_rate
        freqs = 20.0 * 2.0 ** (np.arange(0, np.log2(self._top_hz() / 20.0) * 48 + 1) / 48.0)
        src_db, ref_db = em.smoothed_db(src, freqs, 6.0), em.smoothed_db(ref, freqs, 6.0)
        ref_db = ref_db - np.mean(ref_db - src_db)  # level is not the EQ's job: align the means
        eq_db = em.response_db(self.applied_bands(), freqs, rate)
        self.view.show_spectra(freqs, src_db, ref_db, src_db + eq_db)
        self.view.show_eq(freqs, eq_db)
        self.view.set_bands(self.bands)
        before, after = em.match_error_db(src, ref), em.match_error_db(src, ref, self.applied_bands())
        self.error_label.setText(f"match error: {before:.2f} dB before, {after:.2f} dB after")
        self.errors = (before, after)

    errors: tuple[float, float] | None = None

    # -- the table ------------------------------------------------------------
    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.bands))
        for row in range(len(self.bands)):
            combo = QComboBox()
            combo.addItems(BAND_TYPES)
            combo.currentTextChanged.connect(lambda text, r=row: self._edited(r, type=text))
            self.table.setCellWidget(row, 0, combo)
            for col, (name, decimals) in enumerate((("freq_hz", 1), ("gain_db", 2), ("q", 3)), start=1):
                spin = QDoubleSpinBox(decimals=decimals, keyboardTracking=False)
                spin.setRange(*_limits(name))
                spin.valueChanged.connect(lambda value, r=row, n=name: self._edited(r, **{n: value}))
                self.table.setCellWidget(row, col, spin)
            self._fill_row(row)
        self.table.resizeColumnsToContents()

    def _fill_row(self, row: int) -> None:
        band = self.bands[row]
        self._syncing = True
        try:
            self.table.cellWidget(row, 0).setCurrentText(band.type)
            for col, value in enumerate((band.freq_hz, band.gain_db, band.q), start=1):
                self.table.cellWidget(row, col).setValue(value)
            self.table.cellWidget(row, 2).setEnabled(band.type not in PASS_TYPES + ("off",))
        finally:
            self._syncing = False

    def _edited(self, row: int, **changes) -> None:
        if not self._syncing:
            self.set_band(row, **changes)

    def band_row(self, row: int) -> tuple[str, float, float, float]:
        """What the table shows for band ``row``: ``(type, freq Hz, gain dB, Q)``."""
        cells = [self.table.cellWidget(row, col) for col in range(len(COLUMNS))]
        return (cells[0].currentText(), *(cell.value() for cell in cells[1:]))

    # -- the chain ------------------------------------------------------------
    def apply_to_chain(self) -> None:
        """Put the bands (scaled by Amount) into the chain as one undo step.

        The eq node this panel added before is updated if it is still there;
        otherwise a new one is appended to the chain.
        """
        if not self.bands:
            return
        params = eq_params(self.applied_bands())
        data = self.chain.to_json() or {}
        before = ChainState(self.chain.nodes(), self.chain.outputs(), self.chain.name, data.get("description", ""))
        after = before.copy()
        if self.node_id in self.chain.node_ids() and self.chain.node(self.node_id).type == "eq":
            spec = after.nodes[self.chain.index_of(self.node_id)]
            spec.params.update(params)
            text = f"Update {self.node_id} from the EQ match"
        else:
            self.node_id = self._free_id()
            after.nodes.append(NodeSpec(id=self.node_id, type="eq", params=self._defaults() | params))
            after = relinked(after)
            text = f"Add {self.node_id} (EQ match)"
        self.chain.undo_stack.push(SnapshotCommand(self.chain, text, before, after))
        self.status.setText(f"{text}.")

    @staticmethod
    def _defaults() -> dict:
        from restora.graph.registry import node_class

        return node_class("eq")().params

    def _free_id(self) -> str:
        taken, n, node_id = set(self.chain.node_ids()), 2, NODE_ID
        while node_id in taken:
            node_id, n = f"{NODE_ID}-{n}", n + 1
        return node_id
