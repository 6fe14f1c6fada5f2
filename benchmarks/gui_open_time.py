"""Time to see a 10-minute recording: Restora's progressive open vs a naive whole-file open.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_open_time.py [--minutes 10] [--runs 3]

The input is generated: 48 kHz stereo 16-bit FLAC of speech-like noise
(noise bursts at syllable rate under a slow envelope), cached in the temp
folder. Restora: a :class:`SourceLoader` feeds :class:`SpectrumViews`, which is
refreshed on every ``progressed`` signal as the main window does; we time
``start()`` to the first spectrogram painted (a widget grab forces the paint)
and to the whole overview painted; in separate runs a 10 ms timer records
the longest gap between event-loop turns while loading (how long the window
could not react). The
peer is what the first placeholder window did: ``soundfile.read`` of the whole
file, then one spectrogram of all of it (n_fft 1024, hop 512, as in
``spectrogram_db`` of app/main.py), with the window frozen throughout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import machine  # noqa: E402

SR = 48000


def speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """float32 [frames, 2]: white noise gated at ~4 syllables/s with a stereo offset, −20 dBFS-ish."""
    frames = int(seconds * SR)
    t = np.arange(frames) / SR
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    envelope *= 0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t) ** 2
    noise = rng.standard_normal((frames, 2)).astype(np.float32)
    noise = np.cumsum(noise, axis=0) * 0.02  # a brown tilt, like speech's falling spectrum
    noise -= noise.mean(axis=0)
    noise = np.clip(noise, -3, 3) / 3
    return (0.3 * envelope[:, None] * noise + 0.003 * rng.standard_normal((frames, 2))).astype(np.float32)


def make_input(minutes: float) -> Path:
    """The cached test file (written in 10 s pieces so memory stays small)."""
    path = Path(tempfile.gettempdir()) / "restora-bench" / f"open-{minutes:g}min-48k-stereo.flac"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.flac")
    rng = np.random.default_rng(7)
    with sf.SoundFile(partial, "w", SR, 2, subtype="PCM_16", format="FLAC") as out:
        for _ in range(int(minutes * 6)):
            out.write(speech_like(10.0, rng))
    os.replace(partial, path)
    return path


def restora_open(path: Path, tick_ms: int | None = None) -> dict[str, float]:
    """Seconds from SourceLoader.start() to first and full spectrogram painted.

    With ``tick_ms``, a timer of that interval also measures the longest gap
    between event-loop turns (``stall_s``). It is a separate run because the
    ticking itself takes the GIL from the decode threads and slows the load.
    """
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from restora.app.loader import SourceLoader
    from restora.app.views import SpectrumViews

    app = QApplication.instance() or QApplication([])
    views = SpectrumViews()
    views.resize(1200, 700)
    views.show()
    app.processEvents()
    result: dict[str, float] = {}
    loop, clock, gaps = QEventLoop(), QElapsedTimer(), [0]
    loader = SourceLoader(path)

    def on_progress(_frames: int) -> None:
        views.refresh()
        if "first_s" not in result and views.spectrogram_columns() > 0:
            views.grab()
            result["first_s"] = clock.elapsed() / 1000

    def on_finished() -> None:
        views.refresh()
        views.grab()
        result["full_s"] = clock.elapsed() / 1000
        loop.quit()

    last = [0]

    def tick() -> None:
        now = clock.elapsed()
        gaps[0] = max(gaps[0], now - last[0])
        last[0] = now

    ticker = QTimer(interval=tick_ms or 1000, timeout=tick)
    loader.progressed.connect(on_progress)
    loader.finished.connect(on_finished)
    loader.failed.connect(lambda msg: (print("failed:", msg), loop.quit()))
    clock.start()
    loader.start()
    views.set_source(loader.source, loader.overview)
    if tick_ms:
        ticker.start()
    loop.exec()
    ticker.stop()
    if tick_ms:
        result["stall_s"] = gaps[0] / 1000
    loader.cancel()
    views.close()
    return result


def naive_open(path: Path) -> dict[str, float]:
    """Seconds for the placeholder's open: read everything, then one whole-file spectrogram."""
    start = time.perf_counter()
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    n_fft, hop = 1024, 512
    frames = np.lib.stride_tricks.sliding_window_view(mono, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    db = 10 * np.log10(power + 1e-12)
    _ = (db - db.max()).astype(np.float32)
    seconds = time.perf_counter() - start
    return {"first_s": seconds, "full_s": seconds, "stall_s": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3, help="take the median of this many runs")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    path = make_input(args.minutes)
    print(f"input: {path.name}, {path.stat().st_size / 2**20:.0f} MiB; {machine()}")
    restora = [restora_open(path) for _ in range(args.runs)]
    stalls = [restora_open(path, tick_ms=10)["stall_s"] for _ in range(args.runs)]
    for run, stall in zip(restora, stalls):
        run["stall_s"] = stall
    naive = [naive_open(path) for _ in range(args.runs)]
    print(f"{'':34}{'Restora':>10}{'naive':>10}{'ratio':>8}")
    for key, label in (("first_s", "first spectrogram on screen (s)"), ("full_s", "whole file drawn (s)"),
                       ("stall_s", "longest frozen window (s)")):
        ours = float(np.median([r[key] for r in restora]))
        peer = float(np.median([r[key] for r in naive]))
        print(f"{label:34}{ours:>10.3f}{peer:>10.3f}{peer / ours:>7.1f}x")
    print(f"(median of {args.runs} runs; naive: soundfile.read of the whole file + one full spectrogram,"
          " nothing drawn until both end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
