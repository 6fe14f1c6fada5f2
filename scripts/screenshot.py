"""Open the demo in the main window, wait for its render, and photograph the X screen.

Run under a virtual X server by scripts/screenshot.sh (it needs DISPLAY and
ImageMagick's /usr/bin/import).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def _wait(app, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="1440x900")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from PySide6.QtWidgets import QApplication

    from restora.app.main import create_app
    from restora.app.main_window import MainWindow
    from restora.graph.preset import load_preset

    app = create_app([])
    window = MainWindow(open_demo_on_first_launch=False)
    window.show_error = lambda title, text: sys.exit(f"screenshot: {title}: {text}")
    window.setGeometry(0, 0, width, height)
    window.show()
    window.open_file(window.demo_path())
    window.chain.load_preset(load_preset("dialogue-clean"))
    _wait(app, lambda: window.is_loaded(), 30)
    window.views.set_compare_mode("beside")
    window.views.set_selection((4.0, 7.5))
    _wait(app, lambda: window.renderer.is_idle() and window.renderer.fraction() >= 1.0, 120)
    window.seek(5.2)
    _wait(app, lambda: False, 1.5)  # let every view repaint
    QApplication.processEvents()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["/usr/bin/import", "-window", "root", "-crop", f"{width}x{height}+0+0", str(args.out)],
                   check=True)
    window.docs.dirty = False  # nothing to save: do not ask
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
