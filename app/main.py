"""``restora-gui``: start the workstation window.

``restora-gui``            opens the window (the demo on first launch)
``restora-gui FILE``       opens an audio file or a ``.restora`` project
``restora-gui --demo``     opens the bundled demo recording
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
    """Whole-signal log-power spectrogram: float32 [frames, n_fft//2+1] in dB (max 0).

    The naive one-shot way (kept as the peer in benchmarks/gui_open_time.py).
    """
    if len(mono) < n_fft:
        mono = np.pad(mono, (0, n_fft - len(mono)))
    frames = np.lib.stride_tricks.sliding_window_view(mono, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    db = 10 * np.log10(power + 1e-12)
    return (db - db.max()).astype(np.float32)


def create_app(argv: list[str]):
    """The QApplication with Restora's names (for QSettings) and dark theme."""
    from PySide6.QtWidgets import QApplication

    from restora.app.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setOrganizationName("Restora")
    app.setApplicationName("Restora")
    apply_dark_theme(app)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restora-gui", description="Restora workstation")
    parser.add_argument("file", nargs="?", type=Path, help="audio file or .restora project to open")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo recording")
    parser.add_argument("--smoke", action="store_true", help="start, draw, and quit (for tests)")
    args = parser.parse_args(argv)
    from PySide6.QtCore import QTimer

    app = create_app(sys.argv[:1])
    from restora.app.main_window import MainWindow

    window = MainWindow(open_demo_on_first_launch=not (args.file or args.demo or args.smoke))
    window.show()
    if args.file or args.demo:
        window.open_file(demo_path() if args.demo else args.file)
    elif not args.smoke:
        QTimer.singleShot(0, window.docs.offer_restore)
    if args.smoke:
        QTimer.singleShot(300, window.close)
        QTimer.singleShot(400, app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
