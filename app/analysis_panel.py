"""Analysis panel: loudness, true peak, loudness range and DNSMOS of the original and the result.

Measuring minutes of audio (DNSMOS especially) takes seconds, so it runs on a
Python thread; results come back through a queued Qt signal tagged with a job
number, and only the newest job's results are shown, so calling
:meth:`AnalysisPanel.analyse` again simply supersedes (and cancels) the old one.
"""

from __future__ import annotations

import threading
import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from restora.errors import AudioInputError, Cancelled, RestoraError, UsageError

# (key, row label, decimals shown)
ROWS = [
    ("lufs", "Integrated loudness (LUFS)", 1),
    ("true_peak_db", "True peak (dBTP)", 1),
    ("lra", "Loudness range (LU)", 1),
    ("sig", "DNSMOS SIG (speech)", 2),
    ("bak", "DNSMOS BAK (background)", 2),
    ("ovrl", "DNSMOS OVRL (overall)", 2),
]
COLUMNS = ["Original", "Processed", "Change"]
MISSING = "—"
BLOCK_FRAMES = 1 << 16


def measure(audio: np.ndarray, sample_rate: int, dnsmos: bool = True,
            cancel: threading.Event | None = None) -> tuple[dict, str]:
    """Figures of float [frames, channels] ``audio`` at ``sample_rate`` Hz, and a note.

    Keys as in :data:`ROWS` (LUFS, dBTP, LU, MOS 1–5), None where a figure does
    not exist (silence, too short, DNSMOS not installed). The note says why
    DNSMOS is missing, else it is empty. Raises Cancelled when ``cancel`` is set.
    """
    from restora.graph.taps import MeterTap

    audio = np.asarray(audio, np.float32)
    audio = audio[:, None] if audio.ndim == 1 else audio
    if audio.ndim != 2:
        raise UsageError(f"audio must be [frames, channels], got an array of shape {audio.shape}")
    if not np.isfinite(audio).all():
        # The meters would silently report NaN; say what is wrong with the signal instead.
        raise AudioInputError("the audio contains NaN or infinite samples")
    tap = MeterTap(None, int(sample_rate), audio.shape[1], dnsmos=dnsmos)
    for start in range(0, len(audio), BLOCK_FRAMES):
        if cancel is not None and cancel.is_set():
            raise Cancelled("analysis cancelled")
        tap.write(audio[start:start + BLOCK_FRAMES])
    results = tap.results() if len(audio) else {"lufs": None, "true_peak_db": None, "dnsmos": {}}
    lra = tap.loudness.loudness_range() if len(audio) else None
    figures = {"lufs": results["lufs"], "true_peak_db": results["true_peak_db"],
               "lra": None if lra is None else round(float(lra), 2)}
    figures.update({k: results["dnsmos"].get(k) for k in ("sig", "bak", "ovrl")})
    return figures, _dnsmos_note(dnsmos, tap.dnsmos is not None)


def _dnsmos_note(wanted: bool, running: bool) -> str:
    if not wanted:
        return "DNSMOS is switched off."
    if running:
        return ""
    try:
        from restora.models import store
        from restora.models.dnsmos import MODEL_ID

        store.require(MODEL_ID)
    except RestoraError as exc:
        return f"DNSMOS not available: {exc}"
    return "DNSMOS not available (see the log)."


def change(original: dict, processed: dict | None) -> dict:
    """Processed minus original for each figure both have (dB, LU or MOS points)."""
    out = {}
    for key, _, _ in ROWS:
        a = original.get(key)
        b = processed.get(key) if processed else None
        out[key] = None if a is None or b is None else round(b - a, 3)
    return out


class _Relay(QObject):
    # Parentless and held by the worker, so a late result never hits a deleted C++ object.
    done = Signal(int, dict)
    error = Signal(int, str)


class AnalysisPanel(QWidget):
    """Table of Original / Processed / Change figures with an Analyse button.

    ``analyse_requested()`` is emitted by the button (the main window answers
    with :meth:`analyse`); ``finished(dict)`` carries ``{"original",
    "processed" (None if not given), "change", "note"}``; ``failed(str)`` a
    plain-words reason. ``dnsmos=False`` skips the (slow) DNSMOS model.
    """

    analyse_requested = Signal()
    finished = Signal(dict)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, dnsmos: bool = True) -> None:
        super().__init__(parent)
        self.dnsmos = dnsmos
        self.results: dict | None = None
        self._job = 0
        self._job_running = False
        self._cancel = threading.Event()
        self._relay = _Relay()
        self._relay.done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self._relay.error.connect(self._on_error, Qt.ConnectionType.QueuedConnection)
        self._build()

    def _build(self) -> None:
        self.button = QPushButton("&Analyse")
        self.button.setAccessibleName("Analyse original and processed audio")
        self.button.setToolTip("Measure loudness, true peak and DNSMOS of the original and the result")
        self.button.clicked.connect(self.analyse_requested)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: DNSMOS gives no useful progress
        self.busy.setAccessibleName("Analysis running")
        self.busy.setMaximumHeight(12)
        self.busy.setVisible(False)
        self.table = QTableWidget(len(ROWS), len(COLUMNS))
        self.table.setAccessibleName("Analysis results")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setVerticalHeaderLabels([label for _, label, _ in ROWS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Analysis note")
        self._fill({}, None, {})
        top = QHBoxLayout()
        top.addWidget(self.button)
        top.addWidget(self.busy, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(self.note)

    @property
    def running(self) -> bool:
        """True while an analysis is in progress."""
        return self._job_running

    def analyse(self, original: np.ndarray, processed: np.ndarray | None, sample_rate: int) -> None:
        """Measure float32 [frames, channels] arrays at ``sample_rate`` Hz in the background."""
        self.cancel()
        self._job += 1
        self._cancel = cancel = threading.Event()
        self._set_busy(True)
        self.note.setText("Analysing…")
        worker = threading.Thread(target=self._work, name="restora-analysis", daemon=True,
                                  args=(self._job, self._relay, cancel, original, processed, int(sample_rate),
                                        self.dnsmos))
        worker.start()
        self._worker = worker

    _worker: threading.Thread | None = None

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop and join the running analysis (before the widget is destroyed)."""
        self.cancel()
        if self._worker is not None:
            self._worker.join(timeout_s)
            self._worker = None

    def cancel(self) -> None:
        """Stop the running analysis, if any (its results are dropped)."""
        self._cancel.set()
        self._set_busy(False)

    @staticmethod
    def _work(job: int, relay: _Relay, cancel: threading.Event, original, processed, rate: int,
              dnsmos: bool) -> None:
        try:
            before, note = measure(original, rate, dnsmos, cancel)
            after = measure(processed, rate, dnsmos, cancel)[0] if processed is not None else None
            relay.done.emit(job, {"original": before, "processed": after,
                                  "change": change(before, after), "note": note})
        except Cancelled:
            return
        except (RestoraError, ValueError, MemoryError) as exc:
            relay.error.emit(job, f"Analysis failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - a measuring bug must not take the session down
            relay.error.emit(job, f"Analysis failed unexpectedly: {type(exc).__name__}: {exc}")

    def _on_done(self, job: int, result: dict) -> None:
        if job != self._job or self._cancel.is_set():
            return  # superseded
        self._set_busy(False)
        self.results = result
        self._fill(result["original"], result["processed"], result["change"])
        self.note.setText(result["note"])
        self.finished.emit(result)

    def _on_error(self, job: int, message: str) -> None:
        if job != self._job or self._cancel.is_set():
            return
        self._set_busy(False)
        self.note.setText(message)
        self.failed.emit(message)

    def _set_busy(self, busy: bool) -> None:
        self._job_running = busy
        self.busy.setVisible(busy)

    def _fill(self, original: dict, processed: dict | None, delta: dict) -> None:
        for row, (key, _, decimals) in enumerate(ROWS):
            values = (original.get(key), (processed or {}).get(key), delta.get(key))
            for col, value in enumerate(values):
                signed = col == 2
                item = QTableWidgetItem(_format(value, decimals, signed))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)

    def cell_text(self, key: str, column: str) -> str:
        """The text shown for figure ``key`` (see ROWS) in ``column`` (see COLUMNS)."""
        row = [k for k, _, _ in ROWS].index(key)
        return self.table.item(row, COLUMNS.index(column)).text()


def _format(value: float | None, decimals: int, signed: bool) -> str:
    if value is None:
        return MISSING
    value = round(value, decimals) + 0.0  # no "-0.0" for a change that rounds away
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
