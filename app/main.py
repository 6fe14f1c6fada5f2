"""``restora-gui``: the workstation window (first version: open a file, see it).

The full editor (graph, live A/B, stems) is built on this window in a later
issue; for now it shows a file's waveform and spectrogram and its basic facts.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

import numpy as np

DEMO = "noisy-speech.flac"


def demo_path() -> Path:
    """The bundled demo recording."""
    return Path(str(resources.files("restora.resources") / "demo" / DEMO))


def spectrogram_db(mono: np.ndarray, n_fft: int = 1024, hop: int = 512) -> np.ndarray:
    """Log-power spectrogram for display: float32 [frames, n_fft//2+1] in dB (max 0)."""
    if len(mono) < n_fft:
        mono = np.pad(mono, (0, n_fft - len(mono)))
    frames = np.lib.stride_tricks.sliding_window_view(mono, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    db = 10 * np.log10(power + 1e-12)
    return (db - db.max()).astype(np.float32)


def build_window(path: Path | None):
    """Create the main window, showing ``path`` if given."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

    window = QMainWindow()
    window.setWindowTitle("Restora")
    central = QWidget()
    layout = QVBoxLayout(central)
    info = QLabel("Open a file: restora-gui FILE")
    layout.addWidget(info)
    wave = pg.PlotWidget(title="Waveform")
    spec = pg.PlotWidget(title="Spectrogram")
    layout.addWidget(wave, 1)
    layout.addWidget(spec, 2)
    window.setCentralWidget(central)
    window.resize(1000, 650)
    window.info_label, window.wave_plot, window.spec_plot = info, wave, spec
    if path is not None:
        show_file(window, path)
    return window


def show_file(window, path: Path) -> None:
    """Read ``path`` and draw it (errors are shown in the window, not raised)."""
    import pyqtgraph as pg

    from restora.dsp import audio_io
    from restora.errors import RestoraError

    try:
        audio, rate = audio_io.read_all(path)
    except RestoraError as exc:
        window.info_label.setText(f"Cannot open {path}: {exc}")
        return
    mono = audio.mean(axis=1)
    window.info_label.setText(f"{path.name} — {len(audio) / rate:.2f} s, {rate} Hz, "
                              f"{audio.shape[1]} channel(s)")
    step = max(1, len(mono) // 20000)
    times = np.arange(0, len(mono), step) / rate
    window.wave_plot.plot(times, mono[::step], clear=True)
    db = spectrogram_db(mono)
    image = pg.ImageItem(np.clip(db, -90, 0))
    image.setColorMap(pg.colormap.get("viridis"))
    image.setRect(0, 0, len(mono) / rate, rate / 2)
    window.spec_plot.clear()
    window.spec_plot.addItem(image)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restora-gui", description="Restora workstation")
    parser.add_argument("file", nargs="?", type=Path, help="audio file to open")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo recording")
    parser.add_argument("--smoke", action="store_true", help="start, draw, and quit (for tests)")
    args = parser.parse_args(argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = build_window(demo_path() if args.demo else args.file)
    window.show()
    if args.smoke:
        QTimer.singleShot(200, app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
