"""Batch throughput: the local engine vs the Ray engine with 1 and 2 workers, same folder, same preset (issue 8).

    .venv/bin/python benchmarks/batch_engines.py [--files 16] [--seconds 10] [--preset dialogue-clean]

Input: ``--files`` speech recordings of ``--seconds`` each. They are cut from corpus val ``speech_clean``
files concatenated and resampled to 48 kHz, or they are pink noise when ../shared is missing. They are
written to a temporary folder. Each configuration runs ``restora batch IN -o OUT --preset P`` as a
separate process (``benchmarks/measure.py``: wall clock and the driver's peak RSS):

- ``local`` with ``--jobs 1`` and ``--jobs 2``: the default engine, processes on this machine.
- ``ray`` with ``--jobs 1`` and ``--jobs 2``: a local Ray instance started by the command, one actor per
  worker. The wall clock includes starting and stopping Ray.
- ``ray start-up``: the same command on one file, which shows the fixed cost of Ray.

Figures: files per minute, the ratio to ``local --jobs 1``, and the overhead per file of Ray over the
local engine with the same number of workers:
``(wall_ray - wall_local - startup) / files``, where startup is the one-file Ray run minus the one-file
local run. The per-worker memory a cluster must provide is the peak RSS of ``local --jobs 1``: one
process doing exactly what one Ray actor does. The driver's own RSS with Ray is printed too.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import machine, run_measured  # noqa: E402

from restora.dsp.resample import resample  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"
RATE = 48000


def speech(seconds_total: float, corpus: Path) -> np.ndarray:
    """Mono float32 at 48 kHz: corpus val speech joined end to end, or pink noise without a corpus."""
    manifest = corpus / "manifest.csv"
    if manifest.is_file():
        parts, total = [], 0.0
        for r in csv.DictReader(open(manifest)):
            if r["split"] == "val" and r["kind"] == "speech_clean":
                x, sr = sf.read(corpus / r["path"], dtype="float32", always_2d=True)
                parts.append(resample(x.mean(axis=1, keepdims=True), sr, RATE)[:, 0])
                total += len(parts[-1]) / RATE
                if total >= seconds_total:
                    return np.concatenate(parts)
        if parts:
            return np.resize(np.concatenate(parts), int(seconds_total * RATE))
    white = np.fft.rfft(np.random.default_rng(0).standard_normal(int(seconds_total * RATE)))
    pink = np.fft.irfft(white / np.sqrt(np.arange(1, len(white) + 1)), int(seconds_total * RATE))
    return (0.1 * pink / np.abs(pink).max()).astype(np.float32)


def make_folder(folder: Path, files: int, seconds: float, corpus: Path) -> None:
    audio = speech(files * seconds, corpus)
    n = int(seconds * RATE)
    for i in range(files):
        sub = folder / f"show{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(sub / f"episode{i:03d}.wav", audio[i * n:(i + 1) * n], RATE, subtype="PCM_16")


def run_batch(label: str, src: Path, out: Path, preset: str, extra: list[str]):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "restora.cli.main", "-q", "batch", str(src), "-o", str(out), "--preset", preset,
           *extra]
    m = run_measured(label, 1, cmd)
    if m.returncode != 0:
        raise SystemExit(f"{label} failed ({m.returncode}): {m.stderr[-2000:]}")
    return m


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--preset", default="dialogue-clean")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_folder(tmp / "in", args.files, args.seconds, args.corpus)
        make_folder(tmp / "one", 1, args.seconds, args.corpus)
        one_local = run_batch("one file, local", tmp / "one", tmp / "o1", args.preset, [])
        one_ray = run_batch("one file, ray", tmp / "one", tmp / "o2", args.preset, ["--engine", "ray", "--jobs", "1"])
        runs = {(engine, jobs): run_batch(f"{engine} x{jobs}", tmp / "in", tmp / f"out_{engine}{jobs}", args.preset,
                                          ["--jobs", str(jobs)] + (["--engine", "ray"] if engine == "ray" else []))
                for engine in ("local", "ray") for jobs in (1, 2)}
    startup = one_ray.wall_s - one_local.wall_s
    base = runs[("local", 1)].wall_s
    print(f"machine: {machine()}; {args.files} files x {args.seconds:g} s, preset {args.preset}\n")
    print("| engine | workers | wall s | files/min | vs local x1 | Ray overhead per file s | driver peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (engine, jobs), m in runs.items():
        per_file = "–" if engine == "local" else \
            f"{(m.wall_s - runs[('local', jobs)].wall_s - startup) / args.files:+.2f}"
        print(f"| {engine} | {jobs} | {m.wall_s:.1f} | {60 * args.files / m.wall_s:.1f} | {base / m.wall_s:.2f} | "
              f"{per_file} | {m.peak_mib:.0f} |")
    print(f"\nRay start-up and shut-down (one file, ray minus local): {startup:.1f} s")
    print(f"memory per worker (peak RSS of local x1, one process doing one actor's work): "
          f"{runs[('local', 1)].peak_mib:.0f} MiB")
    print(f"audio processed per worker: {args.files * args.seconds / base:.1f} s of audio per second "
          f"(real-time factor {base / (args.files * args.seconds):.3f} with local x1, start-up included)")


if __name__ == "__main__":
    main()
