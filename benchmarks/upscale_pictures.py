"""Listening-check pictures for audio super-resolution (issue 7): spectrograms of held-out examples.

    .venv/bin/python benchmarks/upscale_pictures.py [--rates 16000,8000] [--examples 2]
        [--names SUBSTR,...] [--onnx sr_extender.onnx] [--out docs/images/upscale]

Takes a few val recordings of ../shared/corpus (the ones
``benchmarks/upscale_quality.py`` measures: :func:`upscale_quality.recordings`),
degrades each to every ``--rates`` rate with :func:`upscale_quality.degrade`,
runs every method on it with the cut-off that
:func:`restora.dsp.bandwidth.estimate_bandwidth` detects, and draws one PNG
per example and rate: a row of spectrograms (original, degraded = ``plain``
resampling, ``fold``, ``neural`` when the model is there), 0 Hz to the
original's Nyquist (at most 24 kHz), one colour scale (-100..0 dB re full
scale, the STFT of :func:`upscale_quality.power_db`: 2048-point Hann, hop
512, power averaged over channels), a dashed line at the detected cut-off
and a dotted one at the original's own bandwidth (where it is below Nyquist).
Each method's title gives its high-band LSD (dB, from the degraded rate's
Nyquist to the original's own bandwidth), computed over the whole
``--seconds`` excerpt exactly as :func:`upscale_quality.measure_one` does, so
with the same ``--seconds`` (10 by default in both) the figures are that
benchmark's per-recording ones; the picture shows the first ``--show``
seconds.

Examples (``--examples`` per kind, speech and music): by default those named
in :data:`DEFAULT_NAMES` (then the first others in the benchmark's order, if
the corpus lacks some); ``--names`` picks by substrings of the recording
names instead. Speech clips of the corpus are 1-3 s long, so they are shown
whole.

``neural``: the registered ``sr-extender`` model
(:func:`restora.models.sr_extender.extender`), or ``--onnx PATH`` for an
exported one not committed yet; run at 48 kHz (resampled there and back).
Without either the column is left out with a note.

Writes ``upscale_<kind>_<shortname>_<rate>.png`` to ``--out`` and prints a
Markdown snippet (image links and one line of LSD figures per picture) for
the docs.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import upscale_quality as uq  # noqa: E402

from restora.dsp.bandwidth import estimate_bandwidth  # noqa: E402
from restora.dsp.stft import stft  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "upscale"
DOCS = ROOT / "docs"
DEFAULT_NAMES = {"speech": ("librivox_flatland", "ktuberling_lt/egypt_boy"),
                 "music": ("Hungarian_Dance", "pop909_005")}
DB_RANGE = (-100.0, 0.0)
MAX_HZ = 24000.0
TITLES = {"plain": "degraded (plain resampling)", "fold": "fold", "neural": "neural"}


# -- methods -----------------------------------------------------------------

def neural_method(onnx: Path | None, threads: int | None):
    """``fn(audio, sr, cutoff)`` running the SR extender at 48 kHz, or None (with a note) when there is none."""
    from restora.errors import ModelError
    from restora.models.sr_extender import SRExtender, extender

    try:
        model = SRExtender(onnx, threads) if onnx else extender(threads)
    except ModelError as exc:
        print(f"note: no neural column: {exc}")
        return None
    return uq.neural_with(model)  # the upscale node's own path, as the benchmark runs it


# -- examples ----------------------------------------------------------------

def short_name(name: str) -> str:
    """A file-name-safe short name: the file stem (or song), lower case, at most 24 characters."""
    stem = name.removesuffix(" (stem sum)")
    stem = Path(stem).stem if "/" in stem else stem
    return re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")[:24].rstrip("_")


def pick(recs: dict, per_kind: int, names: list[str] | None) -> list[tuple[str, str, np.ndarray, int]]:
    """``[(kind, name, audio, sr)]``: by ``names`` substrings if given, else :data:`DEFAULT_NAMES` then in order."""
    items = [(kind, *item) for kind, rows in recs.items() for item in rows]
    if names:
        chosen = [next((it for it in items if sub in it[1]), None) for sub in names]
        missing = [sub for sub, it in zip(names, chosen) if it is None]
        if missing:
            sys.exit(f"no recording matches {', '.join(missing)} (try a larger --files)")
        return [it for i, it in enumerate(chosen) if all(it is not c for c in chosen[:i])]  # no repeats
    out = []
    for kind, rows in recs.items():
        wanted = [next((r for r in rows if sub in r[0]), None) for sub in DEFAULT_NAMES.get(kind, ())]
        wanted = [r for r in wanted if r is not None][:per_kind]
        wanted += [r for r in rows if all(r is not w for w in wanted)][: per_kind - len(wanted)]
        out += [(kind, *r) for r in wanted]
    return out


# -- figures -----------------------------------------------------------------

def spectrogram_db(audio: np.ndarray) -> np.ndarray:
    """[bins, frames] power in dB re full scale (upscale_quality's STFT and scale), power averaged over channels."""
    power = np.abs(stft(audio, uq.N_FFT, uq.HOP)) ** 2 / (uq.N_FFT / 4) ** 2  # [frames, bins, channels]
    return 10.0 * np.log10(np.maximum(power.mean(axis=2), uq.FLOOR)).T


def draw(path: Path, panels: list[tuple[str, np.ndarray]], sr: int, cutoff: float, band_top: float, show: float,
         title: str, dpi: int) -> None:
    """One row of spectrograms (the first ``show`` seconds of each), one colour bar, saved as a 256-colour PNG.

    The whole signal is transformed and the frames cropped, so the crop adds no edge of its own.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    top = min(sr / 2, MAX_HZ)
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n + 0.9, 3.3), sharey=True, squeeze=False,
                             gridspec_kw={"wspace": 0.06}, layout="constrained")
    for ax, (label, audio) in zip(axes[0], panels):
        spec = spectrogram_db(audio)
        # frame k covers samples [k*hop - (n_fft - hop), k*hop + hop) (restora.dsp.stft): its centre in seconds
        centres = (np.arange(spec.shape[1]) * uq.HOP + uq.HOP - uq.N_FFT / 2) / sr
        frames = (centres >= 0) & (centres < min(show, len(audio) / sr))
        bins = int(np.ceil(top / (sr / uq.N_FFT))) + 1
        shown = centres[frames]
        image = ax.imshow(spec[:bins, frames], origin="lower", aspect="auto", cmap="magma", vmin=DB_RANGE[0],
                          vmax=DB_RANGE[1], interpolation="antialiased",
                          extent=(shown[0] - uq.HOP / 2 / sr, shown[-1] + uq.HOP / 2 / sr,
                                  0, (bins - 0.5) * sr / uq.N_FFT / 1000))
        ax.axhline(cutoff / 1000, color="cyan", linestyle="--", linewidth=0.9)
        if band_top < top - 500:
            ax.axhline(band_top / 1000, color="white", linestyle=":", linewidth=0.9)
        ax.set_ylim(0, top / 1000)
        ax.set_title(label, fontsize=8.5)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("frequency (kHz)", fontsize=8)
    bar = fig.colorbar(image, ax=axes[0].tolist(), pad=0.01, fraction=0.03)
    bar.set_label("dB re full scale", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    buf.seek(0)
    Image.open(buf).convert("RGB").quantize(256).save(path, optimize=True)


# -- main --------------------------------------------------------------------

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="See the module docstring (benchmarks/upscale_pictures.py) for details.")
    ap.add_argument("--corpus", type=Path, default=uq.CORPUS)
    ap.add_argument("--files", type=int, default=24, help="recordings per kind to choose among (the benchmark's)")
    ap.add_argument("--examples", type=int, default=2, help="examples per kind (speech, music)")
    ap.add_argument("--names", help="comma-separated substrings of recording names to picture instead")
    ap.add_argument("--rates", default="16000,8000", help="comma-separated degraded rates in Hz (22050 works too)")
    ap.add_argument("--seconds", type=float, default=10.0,
                    help="excerpt the LSD is measured over (the benchmark's --seconds, default 10)")
    ap.add_argument("--show", type=float, default=5.0, help="seconds of each excerpt pictured (from its start)")
    ap.add_argument("--onnx", type=Path, help="an exported sr_extender.onnx for the neural column "
                    "(default: the registered sr-extender model, if installed)")
    ap.add_argument("--no-neural", action="store_true", help="leave the neural column out")
    ap.add_argument("--threads", type=int, help="ONNX Runtime threads for the neural model")
    ap.add_argument("--dpi", type=int, default=90, help="PNG resolution (keep each picture under ~250 KB)")
    ap.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs (default docs/images/upscale)")
    args = ap.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",") if r]

    methods = ["plain", "fold"]
    if not args.no_neural:
        fn = neural_method(args.onnx, args.threads)
        if fn is not None:
            uq.register("neural", fn)
            methods.append("neural")
    examples = pick(uq.recordings(args.corpus, args.files, args.seconds), args.examples,
                    [s for s in (args.names or "").split(",") if s] or None)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        link_dir = Path(os.path.relpath(args.out.resolve(), DOCS))
    except ValueError:
        link_dir = args.out.resolve()

    snippet = []
    for kind, name, original, sr in examples:
        ref_db = uq.power_db(original)
        top = estimate_bandwidth(original, sr) or sr / 2
        seconds = len(original) / sr
        for rate in rates:
            start = time.perf_counter()
            degraded = uq.degrade(original, sr, rate)
            cutoff = estimate_bandwidth(degraded, sr) or rate / 2
            panels = [(f"original ({sr / 1000:g} kHz, content to {top / 1000:.1f} kHz)", original)]
            figures = {}
            for method in methods:
                out = np.asarray(uq.METHODS[method](degraded, sr, cutoff), np.float32)
                figures[method] = uq.lsd(ref_db, uq.power_db(out), sr, rate / 2, top)
                panels.append((f"{TITLES[method]}: LSD high {figures[method]:.1f} dB", out))
            path = args.out / f"upscale_{kind}_{short_name(name)}_{rate}.png"
            title = (f"{kind}: {name}, degraded to {rate / 1000:g} kHz\n"
                     f"(dashed: detected cut-off {cutoff / 1000:.2f} kHz; "
                     f"dotted: the original's bandwidth, top of the LSD band)")
            draw(path, panels, sr, cutoff, top, args.show, title, args.dpi)
            lsds = ", ".join(f"{m} {v:.1f} dB" for m, v in figures.items())
            print(f"{path} ({path.stat().st_size / 1024:.0f} KB, {time.perf_counter() - start:.1f} s)", flush=True)
            snippet.append((kind, name, rate, cutoff, top, seconds, link_dir / path.name, lsds))

    print("\n<!-- markdown for the docs (links relative to docs/) -->\n")
    for kind, name, rate, cutoff, top, seconds, link, lsds in snippet:
        print(f"![{kind} {short_name(name)}, degraded to {rate / 1000:g} kHz]({link.as_posix()})\n")
        print(f"*{kind}, `{name}`, degraded to {rate / 1000:g} kHz (detected cut-off {cutoff / 1000:.2f} kHz, "
              f"original content to {top / 1000:.1f} kHz): high-band LSD over {seconds:.1f} s "
              f"({rate / 2000:g}–{top / 1000:.1f} kHz, lower is better): {lsds}.*\n")


if __name__ == "__main__":
    main()
