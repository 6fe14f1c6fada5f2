"""Opening a recording progressively: decode in a thread, report progress to Qt.

:meth:`SourceLoader.start` probes the file at once (so a bad file is refused
with a readable message before anything starts), then a Python thread decodes
it into a :class:`~restora.app.source.SourceAudio` and feeds an
:class:`~restora.app.overview.Overview`. Qt queues the signals emitted from that
thread to the GUI thread, where the window redraws what has arrived.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from restora.app.overview import Overview
from restora.app.source import SourceAudio
from restora.dsp import audio_io

READ_S = 0.25        # read_blocks block length; small so the first paint comes fast
FIRST_PUSH_S = 0.5   # the first overview update
MAX_PUSH_S = 4.0     # later updates grow to this (fewer, cheaper numpy calls)
PROGRESS_INTERVAL_S = 0.05  # ≤ 20 progress signals a second
UNKNOWN_LENGTH_S = 60.0     # capacity guess when the container states no length


class SourceLoader(QObject):
    """Decodes ``path`` into ``self.source`` and ``self.overview`` in a background thread.

    Signals (emitted from the decode thread; connect from the GUI thread and Qt
    queues them): ``progressed(int)`` decoded frames so far, at most 20 times a
    second and once at the end; ``finished()`` when every frame is decoded;
    ``failed(str)`` with a plain message when decoding stops on an error.
    """

    progressed = Signal(int)
    finished = Signal()
    failed = Signal(str)

    def __init__(self, path: str | Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.source: SourceAudio | None = None
        self.overview: Overview | None = None
        self._info = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._feed_error: Exception | None = None

    def start(self) -> None:
        """Probe the file and start decoding; raises RestoraError if it cannot be opened."""
        info = audio_io.probe(self.path)
        rate = info.sample_rate
        expected = info.frames or int((info.duration_s or UNKNOWN_LENGTH_S) * rate)
        expected = max(1, expected)
        data = np.zeros((expected, info.channels), np.float32)
        self.source = SourceAudio(self.path, rate, info.channels, expected, data)
        self.overview = Overview(rate, info.channels, expected)
        self._info = info
        self._thread = threading.Thread(target=self._run, name=f"decode {self.path.name}", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop decoding and wait for the thread; no signal follows (used when another file opens)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        source = self.source
        try:
            self._decode()
        except Exception as exc:  # noqa: BLE001 — any failure must reach the user as a message
            source.error = _plain_message(exc)
            source.finished.set()
            if not self._stop.is_set():
                self._emit(self.failed, source.error)
            return
        if self._stop.is_set():
            source.error = "cancelled"
            source.finished.set()
            return
        source.frames = source.decoded
        source.complete = True
        source.finished.set()
        self._emit(self.progressed, source.decoded)
        self._emit(self.finished)

    def _decode(self) -> None:
        """Read the file into the source; a second thread turns each batch into overview data.

        Two threads because libsndfile releases the GIL while decoding, so the
        overview's FFTs run beside it on a second core instead of after it.
        """
        source, rate = self.source, self.source.sample_rate
        batches: queue.Queue = queue.Queue()
        feeder = threading.Thread(target=self._feed_overview, args=(batches,), daemon=True,
                                  name=f"overview {self.path.name}")
        feeder.start()
        batch, queued = int(FIRST_PUSH_S * rate), 0
        try:
            for chunk in audio_io.read_blocks(self.path, max(1, int(READ_S * rate)), self._info):
                if self._stop.is_set():
                    return
                self._store(chunk)
                if source.decoded - queued >= batch:
                    batches.put((queued, source.decoded))
                    queued, batch = source.decoded, min(2 * batch, int(MAX_PUSH_S * rate))
            batches.put((queued, source.decoded))
        finally:
            batches.put(None)
            feeder.join()
        if self._feed_error is not None:
            raise self._feed_error
        self.overview.finish()

    def _feed_overview(self, batches: queue.Queue) -> None:
        """Push queued frame ranges of the source to the overview; report progress (≤ 20 Hz)."""
        last_emit = float("-inf")  # the first batch is reported at once
        while (batch := batches.get()) is not None:
            if self._stop.is_set() or self._feed_error is not None:
                continue  # drain the queue so the decode thread's join returns
            try:
                self.overview.push(self.source.data[batch[0]:batch[1]])
            except Exception as exc:  # noqa: BLE001 — re-raised by the decode thread
                self._feed_error = exc
                continue
            now = time.monotonic()
            if now - last_emit >= PROGRESS_INTERVAL_S:
                self._emit(self.progressed, batch[1])
                last_emit = now

    def _store(self, chunk: np.ndarray) -> None:
        """Append a decoded block to ``source.data``, reallocating if the file runs long."""
        source = self.source
        end = source.decoded + len(chunk)
        if end > len(source.data):
            bigger = np.zeros((max(end, 2 * len(source.data)), source.channels), np.float32)
            bigger[:source.decoded] = source.data[:source.decoded]
            source.data = bigger
            source.frames = max(source.frames, end)
        source.data[source.decoded:end] = chunk
        source.decoded = end  # published last: readers never see unwritten frames

    def _emit(self, signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # the Qt object was deleted while decoding; nobody is listening any more


def _plain_message(exc: Exception) -> str:
    """What to tell the user about a decode failure (no traceback)."""
    if isinstance(exc, MemoryError):
        return "not enough memory to open this recording"
    text = str(exc).strip()
    return text or f"decoding failed ({type(exc).__name__})"
