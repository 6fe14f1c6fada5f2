"""Your own models against the bundled runtimes: the same files, added with ``restora models add`` (issue 9).

    .venv/bin/python benchmarks/byo_models.py [--seconds 20]

The bundled GTCRN ONNX file (with its card's contract) and the bundled
DeepFilterNet3 export tarball are added to a temporary model store as user
models, then the same audio goes through the bundled node (``gtcrn``,
``deepfilternet3``) and through the generic user-model node (``model:<id>``),
in one process, one ONNX Runtime thread, 2-second blocks. Printed per model:
the wall time of each path over the audio's duration (real-time factor), their
ratio, and the SNR of the generic output against the bundled one (the two
should agree to float rounding). Also the time ``restora models add`` took
(checks, the child-process trial load, copying).

Input: corpus val speech recordings (``../shared/corpus``) joined up to
``--seconds`` at 48 kHz, with white noise added, or a synthetic voiced signal
with noise when the corpus is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import machine  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"


def speech(seconds: float) -> tuple[np.ndarray, str]:
    """Mono float32 [n, 1] at 48 kHz and where it came from."""
    from restora.dsp.resample import resample

    manifest = CORPUS / "manifest.csv"
    if manifest.is_file():
        import soundfile as sf

        parts, names = [], []
        for row in csv.DictReader(open(manifest)):
            if row["split"] == "val" and row["kind"] == "speech_clean" and sum(map(len, parts)) < seconds * 48000:
                audio, sr = sf.read(CORPUS / row["path"], dtype="float32", always_2d=True)
                parts.append(resample(audio[:, :1], sr, 48000))
                names.append(Path(row["path"]).name)
        if parts:
            x = np.concatenate(parts)[: int(seconds * 48000)]
            x = x + 0.02 * np.random.default_rng(0).standard_normal(x.shape)
            return x.astype(np.float32), f"{len(names)} corpus val speech recordings joined, + white noise at -34 dBFS"
    t = np.arange(int(seconds * 48000)) / 48000
    x = 0.2 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.02 * np.random.default_rng(0).normal(
        size=len(t))
    return x.astype(np.float32)[:, None], "synthetic voiced signal + white noise"


def timed_run(node_type: str, audio: np.ndarray) -> tuple[np.ndarray, float]:
    from restora.graph.file_job import process_array
    from restora.graph.preset import preset_from_dict

    params = {} if node_type == "gtcrn" else {"threads": 1}  # the gtcrn node always runs one thread
    preset = preset_from_dict({"restora_preset": 1, "name": "b", "nodes": [
        {"id": "m", "type": node_type, "input": "input", "params": params}], "outputs": {"main": "m"}}, "b")
    start = time.perf_counter()
    out = process_array(preset, audio, 48000, block_frames=96000)[0]["main"]
    return out, time.perf_counter() - start


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    from restora.cli.main import main as cli_main
    from restora.models import store

    bundled = store.model_root()
    audio, origin = speech(args.seconds)
    duration = len(audio) / 48000
    print(machine())
    print(f"input: {origin}, {duration:.1f} s at 48 kHz, mono; 1 ONNX Runtime thread")
    cases = {"gtcrn": bundled / "gtcrn" / "gtcrn_simple.onnx",
             "deepfilternet3": bundled / "deepfilternet3" / "DeepFilterNet3_onnx.tar.gz"}
    print(f"{'model':16s} {'add s':>6s} {'bundled RTF':>12s} {'added RTF':>10s} {'ratio':>6s} {'SNR vs bundled dB':>18s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in cases.items():
            if not path.is_file():
                print(f"{name:16s} not installed (restora models fetch {name})")
                continue
            ref, ref_s = timed_run(name, audio)
            os.environ["RESTORA_MODELS"] = tmp
            extra = []
            if name == "gtcrn":
                from importlib import resources

                card = Path(tmp) / "card.json"
                contract = json.loads((resources.files("restora.models") / "cards" / "gtcrn.json").read_text())
                card.write_text(json.dumps({"format": 1, "contract": contract["contract"]}))
                extra = ["--card", str(card)]
            start = time.perf_counter()
            if cli_main(["models", "add", str(path), "--id", f"my-{name}", "-q", *extra]) != 0:
                raise SystemExit(f"adding {path} failed")
            add_s = time.perf_counter() - start
            ours, ours_s = timed_run(f"model:my-{name}", audio)
            os.environ["RESTORA_MODELS"] = str(bundled)
            snr = 10 * np.log10(np.sum(ref ** 2) / max(np.sum((ours - ref) ** 2), 1e-30))
            print(f"{name:16s} {add_s:6.1f} {ref_s / duration:12.4f} {ours_s / duration:10.4f} "
                  f"{ours_s / ref_s:6.2f} {snr:18.1f}")


if __name__ == "__main__":
    main()
