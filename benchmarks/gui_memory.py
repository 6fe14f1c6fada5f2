"""Memory of the workstation on a 10-minute file: render lanes in scratch files vs in RAM.

Opens a generated 10-minute 48 kHz stereo FLAC (the one gui_open_time.py
makes), renders a gain chain in the background renderer, edits it three times
(each edit is a new render generation; the previous one is kept as a
fallback), and reports the process's resident memory, its anonymous part (what
cannot be paged out to a file) and the peak. Each variant runs in its own
process, one after the other:

* ours: lanes of 8 MB or more in memory-mapped scratch files (the default);
* peer: the same renderer with every lane in RAM (``ram_limit_bytes`` raised
  so nothing is file-backed).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_memory.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _status() -> dict:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # MiB
    return fields


def _gain(db: float):
    from restora.graph.preset import preset_from_dict

    return preset_from_dict({"restora_preset": 1, "name": "g", "outputs": {"processed": "g"},
                       "nodes": [{"id": "g", "type": "gain", "params": {"gain_db": db}}]}, "benchmark")


def measure(path: Path, ram_limit: int | None) -> dict:
    """One variant, in this process: figures in MiB after load, first render and three edits."""
    from PySide6.QtWidgets import QApplication

    from restora.app.loader import SourceLoader
    from restora.app.render import RenderController

    app = QApplication.instance() or QApplication([])
    loader = SourceLoader(path)
    loader.start()
    loader.source.finished.wait()
    figures = {"loaded": _status()}
    kwargs = {} if ram_limit is None else {"ram_limit_bytes": ram_limit}
    renderer = RenderController(**kwargs)
    renderer.set_source(loader.source)
    for step, db in enumerate((-3.0, -6.0, -9.0, -12.0)):
        renderer.set_preset(_gain(db))
        while not renderer.wait_idle(0.05):
            app.processEvents()
        figures["rendered" if step == 0 else f"edit {step}"] = _status()
    renderer.shutdown()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--child", choices=("ours", "peer"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from gui_open_time import make_input

    path = make_input(args.minutes)
    if args.child:
        print(json.dumps(measure(path, None if args.child == "ours" else 1 << 62)))
        return 0
    results = {}
    for variant in ("ours", "peer"):
        started = time.monotonic()
        out = subprocess.run([sys.executable, __file__, "--minutes", str(args.minutes), "--child", variant],
                             capture_output=True, text=True, check=True, env=dict(os.environ))
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        results[variant]["seconds"] = time.monotonic() - started
    print(f"{args.minutes:g}-minute 48 kHz stereo file, gain chain rendered then edited 3 times (MiB)")
    print(f"{'':28s} {'ours RSS':>9s} {'anon':>7s} {'peer RSS':>9s} {'anon':>7s}")
    for step in results["ours"]:
        if step == "seconds":
            continue
        o, p = results["ours"][step], results["peer"][step]
        print(f"{step:28s} {o['VmRSS']:9.0f} {o['RssAnon']:7.0f} {p['VmRSS']:9.0f} {p['RssAnon']:7.0f}")
    o, p = results["ours"]["edit 3"], results["peer"]["edit 3"]
    print(f"{'peak (VmHWM)':28s} {o['VmHWM']:9.0f} {'':7s} {p['VmHWM']:9.0f}")
    print(f"anonymous memory after the edits, peer / ours: {p['RssAnon'] / o['RssAnon']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
