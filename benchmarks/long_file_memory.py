"""Peak memory of a whole `restora process` run for a 10-minute vs a 60-minute input.

    .venv/bin/python benchmarks/long_file_memory.py [--preset dialogue-clean] [--minutes 10 60]

The input is real noisy speech from ../shared/corpus (2 minutes, repeated),
48 kHz mono 16-bit WAV. Memory must stay flat with length (ratio <= 1.3) and
under 1 GiB. The comparison column runs the same graph through a naive
whole-file path (read everything, process the array, write) to show what the
streaming design saves.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus_mix  # noqa: E402
from measure import machine, run_measured  # noqa: E402

PY = sys.executable
NAIVE = """
import sys, soundfile as sf
from restora.graph.preset import load_preset
from restora.graph.file_job import process_array
audio, sr = sf.read(sys.argv[1], dtype="float32", always_2d=True)
outs, _ = process_array(load_preset(sys.argv[3]), audio, sr)
sf.write(sys.argv[2], next(iter(outs.values())), sr, subtype="PCM_16")
"""


def make_input(path: Path, minutes: float, piece: np.ndarray, sr: int) -> None:
    """Write ``minutes`` of ``piece`` repeated, streaming, to a 16-bit WAV."""
    total = int(minutes * 60 * sr)
    with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as f:
        written = 0
        while written < total:
            chunk = piece[: total - written]
            f.write(chunk)
            written += len(chunk)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="dialogue-clean")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--naive", action="store_true", help="also run the whole-file path (needs RAM)")
    args = parser.parse_args()
    if not corpus_mix.available():
        print("needs ../shared/corpus", file=sys.stderr)
        return 1
    sr = 48000
    piece, _ = corpus_mix.noisy_speech(120, sr)
    tmp = Path(tempfile.mkdtemp(prefix="restora-mem-"))
    rows = []
    try:
        for minutes in args.minutes:
            src = tmp / f"in-{minutes:g}min.wav"
            make_input(src, minutes, piece, sr)
            out = tmp / f"out-{minutes:g}min.wav"
            m = run_measured(f"restora {minutes:g} min", 1, [
                PY, "-m", "restora.cli.main", "-q", "process", str(src), "-o", str(out),
                "--preset", args.preset])
            naive = None
            if args.naive:
                naive = run_measured(f"whole-file {minutes:g} min", 1,
                                     [PY, "-c", NAIVE, str(src), str(tmp / "naive.wav"), args.preset])
            rows.append((minutes, m, naive))
            src.unlink()
            for p in (out, tmp / "naive.wav"):
                p.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# long-file memory — {machine()}")
    print(f"preset {args.preset}, 48 kHz mono real noisy speech (corpus mix, repeated)\n")
    print(f"{'input':>8s} {'wall s':>8s} {'RTF':>7s} {'peak MiB':>9s}" + (f" {'whole-file MiB':>15s}" if args.naive else "")
          + f" {'exit':>5s}")
    for minutes, m, naive in rows:
        line = f"{minutes:6g} m {m.wall_s:8.1f} {m.wall_s / (minutes * 60):7.4f} {m.peak_mib:9.0f}"
        if naive:
            line += f" {naive.peak_mib:15.0f}"
        print(line + f" {m.returncode:5d}")
        if m.returncode:
            print(m.stderr, file=sys.stderr)
    if len(rows) >= 2:
        ratio = rows[-1][1].peak_mib / rows[0][1].peak_mib
        print(f"\npeak memory ratio {rows[-1][0]:g} min / {rows[0][0]:g} min: {ratio:.2f} (target <= 1.3, "
              f"and every run < 1024 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
