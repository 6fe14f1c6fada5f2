"""Event-loop stalls while a batch runs in the GUI (goal: none over 50 ms). A benchmark, not a test.

A 10 ms QTimer records the real interval between its ticks while the Batch
dialog processes ``--files`` generated recordings of ``--seconds`` each (the
bundled noisy-speech demo, tiled) with ``dialogue-clean`` (DeepFilterNet3 +
loudness), or with a cheap gain/high-pass chain when the models are missing.
An interval well beyond 10 ms means the GUI thread could not draw or react
for that long. Three ways of running the same batch are compared:

* ``dialog (Job, 20 Hz)``: the Batch dialog as shipped (worker thread, throttled progress);
* ``dialog (Job, unthrottled)``: the same with every progress report forwarded;
* ``naive (GUI thread)``: the files processed on the GUI thread, calling
  ``processEvents()`` at every progress report (the common shortcut).

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_batch_stalls.py [--files 10] [--seconds 30]``
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TICK_MS = 10
STALL_MS = 50


class StallProbe:
    """A QTimer at ``TICK_MS`` recording the actual milliseconds between its ticks."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.intervals: list[float] = []
        self._last = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.intervals.append((now - self._last) * 1000.0)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return self.intervals


def stall_summary(intervals: list[float]) -> dict:
    """Max interval, count over STALL_MS, p99 (all in ms) and the number of ticks."""
    if not intervals:
        return {"ticks": 0, "max_ms": float("nan"), "over_50ms": 0, "p99_ms": float("nan")}
    values = np.asarray(intervals)
    return {"ticks": len(values), "max_ms": float(values.max()),
            "over_50ms": int(np.count_nonzero(values > STALL_MS)), "p99_ms": float(np.percentile(values, 99))}


def make_corpus(folder: Path, files: int, seconds: float) -> Path:
    """``files`` WAVs of ``seconds`` s (the demo recording tiled) in two sub-folders."""
    import soundfile as sf

    from restora.app.main import demo_path
    from restora.dsp import audio_io

    audio, rate = audio_io.read_all(demo_path())
    frames = int(seconds * rate)
    tiled = np.tile(audio, (frames // len(audio) + 1, 1))[:frames]
    for index in range(files):
        path = folder / f"part{index % 2}" / f"take{index:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.roll(tiled, index * 997, axis=0), rate, subtype="PCM_16")
    return folder


def pick_preset(work: Path):
    """``(preset, note)``: dialogue-clean when DeepFilterNet3 runs here, else a cheap chain."""
    from restora.errors import RestoraError
    from restora.graph.file_job import process_array
    from restora.graph.preset import load_preset

    preset = load_preset("dialogue-clean")
    try:
        process_array(preset, np.zeros((48000, 1), np.float32), 48000)  # loads (and warms) the model
        return preset, "dialogue-clean (DeepFilterNet3 + loudness normalisation)"
    except RestoraError as exc:
        path = work / "cheap.json"
        path.write_text(json.dumps({"restora_preset": 1, "name": "cheap", "nodes": [
            {"id": "hp", "type": "highpass", "params": {"cutoff_hz": 80}},
            {"id": "g", "type": "gain", "input": "hp", "params": {"gain_db": -3}}], "outputs": {"main": "g"}}))
        return load_preset(path), f"CHEAP FALLBACK (gain + high-pass): DeepFilterNet3 unavailable: {exc}"


def run_dialog(root: Path, out: Path, preset, max_rate_hz: float) -> tuple[list[float], float, dict]:
    """The Batch dialog as the user drives it; returns (tick intervals ms, wall s, summary)."""
    from PySide6.QtCore import QEventLoop

    from restora.app import batch_dialog
    from restora.app.jobs import Job

    original = batch_dialog.Job
    batch_dialog.Job = functools.partial(Job, max_rate_hz=max_rate_hz)
    try:
        dialog = batch_dialog.BatchDialog(lambda: preset)
        dialog.show()
        dialog.set_folders(root, out)
        loop, result = QEventLoop(), {}
        dialog.finished_batch.connect(lambda summary: (result.update(summary), loop.quit()))
        probe = StallProbe()
        started = time.perf_counter()
        probe.start()
        dialog.start()
        loop.exec()
        wall = time.perf_counter() - started
        intervals = probe.stop()
        dialog.close()
        dialog.deleteLater()
    finally:
        batch_dialog.Job = original
    return intervals, wall, result


def run_naive(app, root: Path, out: Path, preset) -> tuple[list[float], float, dict]:
    """The same files processed on the GUI thread, pumping events at each progress report."""
    from restora.app.export_job import run_batch_item, scan_folder
    from restora.graph.file_job import OutputOptions

    probe = StallProbe()
    started = time.perf_counter()
    probe.start()
    counts = {"done": 0, "failed": 0}
    for item in scan_folder(root, out):
        try:
            run_batch_item(item, preset, root, out, OutputOptions(), False,
                           progress=lambda fraction: app.processEvents())
            counts["done"] += 1
        except Exception:  # noqa: BLE001 - counted, as the dialog would show it
            counts["failed"] += 1
        app.processEvents()
    wall = time.perf_counter() - started
    return probe.stop(), wall, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="restora-stalls-") as tmp:
        work = Path(tmp)
        # Keep the user's remembered folders untouched.
        QCoreApplication.setOrganizationName("restora-benchmark")
        QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(work / "settings"))
        root = make_corpus(work / "in", args.files, args.seconds)
        preset, note = pick_preset(work)
        print(f"{args.files} files x {args.seconds:.0f} s, preset: {note}")
        print(f"timer {TICK_MS} ms, CPU cores: {os.cpu_count()}, Python {sys.version.split()[0]}")
        rows = [("dialog (Job, 20 Hz)", *run_dialog(root, work / "out-a", preset, 20.0)),
                ("dialog (Job, unthrottled)", *run_dialog(root, work / "out-b", preset, 0.0)),
                ("naive (GUI thread)", *run_naive(app, root, work / "out-c", preset))]
    print(f"\n{'run':28s} {'wall s':>7s} {'files ok':>8s} {'ticks':>6s} {'max ms':>8s} "
          f"{'>50 ms':>7s} {'p99 ms':>7s}")
    for label, intervals, wall, result in rows:
        s = stall_summary(intervals)
        print(f"{label:28s} {wall:7.1f} {result.get('done', 0):8d} {s['ticks']:6d} {s['max_ms']:8.1f} "
              f"{s['over_50ms']:7d} {s['p99_ms']:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
