"""Peer engines run as their own processes by the benchmarks (file in, file out).

    python benchmarks/engines.py reference IN.wav OUT.wav     # official DFN3 C runtime, 1 thread
    python benchmarks/engines.py noisereduce IN.wav OUT.wav   # spectral gating, n_jobs=1
"""

from __future__ import annotations

import sys

import numpy as np
import soundfile as sf


def reference(src: str, dst: str) -> None:
    from restora.models.dfn3_reference import Dfn3Reference

    audio, sr = sf.read(src, dtype="float32")
    if sr != 48000 or audio.ndim != 1:
        raise SystemExit("the C runtime takes mono 48 kHz input")
    enhanced, _ = Dfn3Reference().process(audio)
    sf.write(dst, enhanced, sr, subtype="PCM_16")


def noisereduce(src: str, dst: str) -> None:
    import noisereduce as nr

    audio, sr = sf.read(src, dtype="float32")
    out = nr.reduce_noise(y=audio, sr=sr, stationary=False, n_jobs=1)
    sf.write(dst, np.asarray(out, np.float32), sr, subtype="PCM_16")


if __name__ == "__main__":
    engine, src, dst = sys.argv[1:4]
    {"reference": reference, "noisereduce": noisereduce}[engine](src, dst)
