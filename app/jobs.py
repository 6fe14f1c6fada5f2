"""Running long work (export, batch files, scans) off the GUI thread, reported by Qt signals.

A :class:`Job` calls ``work(cancel, progress)`` on a worker thread. Its public
signals are always emitted on the thread that owns the Job (the GUI thread):
the worker only emits private relay signals, which Qt queues to that thread.
Progress is throttled on the worker side, so however often the work reports,
the GUI thread receives at most ``max_rate_hz`` progress events per second.
Failures become one plain sentence for a dialog, never a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from restora.errors import Cancelled, RestoraError

log = logging.getLogger("restora")

#: ``work(cancel, progress)``: check ``cancel`` often, call ``progress(fraction in [0, 1])``.
Work = Callable[[threading.Event, Callable[[float], None]], object]


def error_message(exc: BaseException) -> str:
    """What the user reads about ``exc``: RestoraError text as is, anything else prefixed and logged."""
    if isinstance(exc, RestoraError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory: close other programs or process a shorter file"
    log.error("unexpected error in a background job", exc_info=exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"Unexpected error: {exc.strerror}{where}"
    return f"Unexpected error: {type(exc).__name__}: {exc}"


class Job(QObject):
    """``work`` run once on a worker thread; connect the signals, then call :meth:`start`.

    Exactly one of ``finished(result)``, ``failed(message)`` or ``cancelled()``
    ends every started job. ``cancel()`` only asks: the work stops at its next
    check of the event and the job then reports ``cancelled``.
    """

    progress = Signal(float)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    _relay_progress = Signal(float)
    _relay_end = Signal(str, object)

    def __init__(self, work: Work, parent: QObject | None = None, *, max_rate_hz: float = 20.0,
                 name: str = "restora-job") -> None:
        super().__init__(parent)
        self._work = work
        self._name = name
        self._min_interval = 1.0 / max_rate_hz if max_rate_hz > 0 else 0.0
        self._last_emit = float("-inf")
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self._relay_progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._relay_end.connect(self._on_end, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the ending signal has been emitted."""
        return self._running

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> None:
        """Begin the work on a new daemon thread (a job runs once)."""
        if self._thread is not None:
            raise RuntimeError("a Job runs only once; make a new one")
        self._running = True
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the work to stop; ``cancelled`` follows once it has cleaned up."""
        self._cancel.set()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Cancel and wait for the worker thread to end (e.g. when the window closes)."""
        self.cancel()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread has ended (signals still need the event loop)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- worker thread -------------------------------------------------------
    def _report(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last_emit >= self._min_interval:
            self._last_emit = now
            self._relay_progress.emit(float(fraction))

    def _run(self) -> None:
        try:
            result = self._work(self._cancel, self._report)
        except Cancelled:
            self._relay_end.emit("cancelled", None)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message
            self._relay_end.emit("failed", error_message(exc))
        else:
            self._relay_end.emit("finished", result)

    # -- owner's thread ------------------------------------------------------
    @Slot(float)
    def _on_progress(self, fraction: float) -> None:
        if self._running:
            self.progress.emit(fraction)

    @Slot(str, object)
    def _on_end(self, kind: str, payload: object) -> None:
        self._running = False
        if kind == "finished":
            self.finished.emit(payload)
        elif kind == "failed":
            self.failed.emit(payload)
        else:
            self.cancelled.emit()
