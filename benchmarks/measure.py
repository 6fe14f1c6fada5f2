"""Run a command as a separate process and measure it as a user would feel it.

Wall-clock time includes interpreter start-up, imports, model loading, reading
and writing; peak memory is the child's maximum resident set size.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Measured:
    label: str
    threads: int
    wall_s: float
    peak_mib: float
    returncode: int
    stderr: str = ""


def run_measured(label: str, threads: int, cmd: list[str], env: dict | None = None) -> Measured:
    """Run ``cmd`` through ``peak_rss.py``; return its wall seconds and peak RSS in MiB."""
    full_env = dict(os.environ, **(env or {}))
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "result")
        proc = subprocess.run([sys.executable, os.path.join(HERE, "peak_rss.py"), result, *cmd],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env, text=True)
        wall, peak_kib = open(result).read().split() if os.path.exists(result) else ("nan", "0")
    return Measured(label, threads, float(wall), int(peak_kib) / 1024.0, proc.returncode, proc.stderr[-2000:])


def thread_env(threads: int) -> dict[str, str]:
    """Environment pinning BLAS/OpenMP pools, so a thread count means what it says."""
    value = str(threads)
    return {"OMP_NUM_THREADS": value, "OPENBLAS_NUM_THREADS": value, "MKL_NUM_THREADS": value}


def machine() -> str:
    """One line describing this machine."""
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, {platform.system()}"
