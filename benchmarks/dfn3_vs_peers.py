"""DeepFilterNet3: our streaming numpy+ONNX Runtime path vs the official C runtime vs noisereduce.

    .venv/bin/pip install -e '.[bench]'      # noisereduce
    .venv/bin/python benchmarks/dfn3_vs_peers.py [--seconds 120]

Input: real noisy speech built from ../shared/corpus (clean read speech in a
measured room + real environmental noise at 5 dB SNR), 48 kHz mono 16-bit WAV.
Every engine runs as its own process on the same file; wall-clock time includes
start-up, model loading, reading and writing. Prints speed/memory and quality
side by side, with ratios against our path.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus_mix  # noqa: E402
from measure import machine, run_measured, thread_env  # noqa: E402

PY = sys.executable


def dfn3_preset(folder: Path) -> Path:
    path = folder / "dfn3-only.json"
    path.write_text(json.dumps({"restora_preset": 1, "name": "dfn3-only", "nodes": [
        {"id": "denoise", "type": "deepfilternet3", "params": {"atten_lim_db": 100}}],
        "outputs": {"main": "denoise"}}))
    return path


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB of ``estimate`` against ``reference`` (both [n])."""
    n = min(len(reference), len(estimate))
    ref, est = reference[:n].astype(np.float64), estimate[:n].astype(np.float64)
    target = ref * np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)
    return float(10 * np.log10(np.sum(target ** 2) / (np.sum((est - target) ** 2) + 1e-12)))


def dnsmos(path: Path) -> dict:
    from restora.graph.analysis import analyze_file

    return analyze_file(path, dnsmos=True, dnsmos_hop_s=1)["dnsmos"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--no-quality", action="store_true", help="skip DNSMOS (slow: ~1 CPU-s per window)")
    args = parser.parse_args()
    if not corpus_mix.available():
        print("needs ../shared/corpus", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="restora-bench-"))
    noisy, clean = corpus_mix.noisy_speech(args.seconds, 48000)
    src = tmp / "noisy.wav"
    sf.write(src, noisy, 48000, subtype="PCM_16")
    preset = dfn3_preset(tmp)
    runs = [
        ("restora DFN3", 1, [PY, "-m", "restora.cli.main", "-q", "process", str(src), "-o", str(tmp / "ours1.wav"),
                             "--preset", str(preset), "--set", "denoise.threads=1"], tmp / "ours1.wav"),
        ("restora DFN3", 2, [PY, "-m", "restora.cli.main", "-q", "process", str(src), "-o", str(tmp / "ours2.wav"),
                             "--preset", str(preset), "--set", "denoise.threads=2"], tmp / "ours2.wav"),
        ("DFN3 C runtime", 1, [PY, str(HERE / "engines.py"), "reference", str(src), str(tmp / "ref.wav")],
         tmp / "ref.wav"),
        ("noisereduce", 1, [PY, str(HERE / "engines.py"), "noisereduce", str(src), str(tmp / "nr.wav")],
         tmp / "nr.wav"),
    ]
    results = []
    for label, threads, cmd, out in runs:
        m = run_measured(label, threads, cmd, env=thread_env(threads))
        if m.returncode != 0:
            print(f"{label} failed ({m.returncode}): {m.stderr}", file=sys.stderr)
        results.append((m, out))
    ours = results[0][0].wall_s
    print(f"# DFN3 benchmark — {machine()}")
    print(f"input: {args.seconds:.0f} s real noisy speech (corpus mix, 5 dB SNR), 48 kHz mono\n")
    print(f"{'engine':18s} {'threads':>7s} {'wall s':>8s} {'RTF':>7s} {'peak MiB':>9s} {'wall / ours(1t)':>16s}")
    for m, _ in results:
        print(f"{m.label:18s} {m.threads:7d} {m.wall_s:8.2f} {m.wall_s / args.seconds:7.4f} {m.peak_mib:9.0f} "
              f"{m.wall_s / ours:16.2f}")
    ours_audio = sf.read(results[0][1], dtype="float32")[0]
    ref_audio = sf.read(results[2][1], dtype="float32")[0]
    corr = float(np.corrcoef(ours_audio, ref_audio)[0, 1])
    print(f"\nparity: correlation(ours, C runtime) = {corr:.5f}")
    print(f"\n{'signal':18s} {'SI-SDR dB':>9s}" + ("" if args.no_quality else
                                                     f" {'OVRL':>6s} {'SIG':>6s} {'BAK':>6s} {'P808':>6s}"))
    rows = [("noisy input", src)] + [(f"{m.label} {m.threads}t", out) for m, out in results if m.threads == 1]
    for label, path in rows:
        audio = sf.read(path, dtype="float32")[0]
        line = f"{label:18s} {si_sdr(clean, audio):9.2f}"
        if not args.no_quality:
            d = dnsmos(path)
            line += f" {d['ovrl']:6.2f} {d['sig']:6.2f} {d['bak']:6.2f} {d['p808']:6.2f}"
        print(line)
    print("\n(DNSMOS: mean over 9.01 s windows at a 1 s hop, as the reference tool; SI-SDR against the clean"
          " speech in the same room)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
