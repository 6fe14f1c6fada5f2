"""Run a command as a separate process and measure it as a user would feel it.

Wall-clock time includes interpreter start-up, imports, model loading, reading
and writing; peak memory is the child's maximum resident set size.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Measured:
    label: str
    threads: int
    wall_s: float
    peak_mib: float
    returncode: int
    stderr: str = ""


def run_measured(label: str, threads: int, cmd: list[str], env: dict | None = None) -> Measured:
    """Run ``cmd``; return wall seconds and peak RSS (MiB) of that process tree's largest member."""
    full_env = dict(os.environ, **(env or {}))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env, text=True)
    stderr_chunks = []
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if proc.stderr:
        stderr_chunks.append(proc.stderr.read())
    code = os.waitstatus_to_exitcode(status)
    return Measured(label, threads, wall, usage.ru_maxrss / 1024.0, code, "".join(stderr_chunks)[-2000:])


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
