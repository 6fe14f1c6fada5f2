"""How far can shaping a folded copy go? Oracle bounds beside the super-resolution benchmark (issue 7).

    .venv/bin/python benchmarks/upscale_bounds.py [--files 24] [--seconds 10]

Same recordings, degradations, cut-offs and measures as ``upscale_quality.py``
(high-band LSD, dB; ratios to plain resampling and to folding). Beside
``plain``, ``fold`` and ``neural`` (the shipped ``sr-extender``) it runs
methods that are **given the original**, so no real method can do as well
with the same signal path. All of them work like the model: at 48 kHz, on
its STFT (1024 points, hop 256), over its folded copy of the top octave
below the cut-off (:func:`restora.models.sr_extender.apply_gains`), with
only the added band resampled back to the recording's rate:

* ``env-375`` / ``env-1500``: the copy scaled, per 5.3 ms frame, to the
  original's power envelope smoothed over 16 / 64 bins (375 Hz / 1.5 kHz):
  a perfect envelope at that resolution, over the copy's own fine structure.
* ``flat-375`` / ``flat-1500``: the same envelopes with the copy's fine
  structure removed (its magnitude set to the envelope, its phase kept):
  the most the model's flattening head could gain with a perfect envelope.
* ``level``: the shipped model's gains with each frame's mean high-band
  level set to the original's: what a perfect loudness estimate would add
  to the model's own spectral shape. ``level-rec``: one correction per
  recording and channel instead (the mean over frames of the same
  differences): what knowing how bright the recording chain is would add.

The finest fine structure (which bins of a noise-like band happen to be
loud in this frame) cannot be predicted from below the cut-off, and the
log-spectral distance counts every bin, so these bounds, not zero, are the
floor for methods of this kind.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parent))
import upscale_quality as uq  # noqa: E402
from measure import machine  # noqa: E402

from restora.dsp.bandwidth import estimate_bandwidth  # noqa: E402
from restora.dsp.resample import resample  # noqa: E402
from restora.models import sr_extender as se  # noqa: E402


class Original:
    """The recording being measured, at 48 kHz ([frames, channels]), and its bandwidth (Hz)."""

    audio48: np.ndarray = np.zeros((0, 1))
    top_hz: float = 24000.0


class EnvelopeOracle:
    """The folded copy scaled to the original's envelope (``smooth`` bins); ``flat``: copy magnitude removed."""

    def __init__(self, smooth: int, flat: bool) -> None:
        self.smooth, self.flat = smooth, flat

    def extend(self, x: np.ndarray, cutoff_hz: float) -> np.ndarray:
        spec, ref = se.spectra(x), se.spectra(Original.audio48[: len(x)])
        kc = se.cutoff_bin(cutoff_hz / (se.RATE / 2))
        copy = np.abs(spec[:, se.fold_index(kc)]) ** 2
        want = np.maximum(uniform_filter1d(np.abs(ref) ** 2, self.smooth, axis=1), 0.0)
        have = copy if self.flat else np.maximum(uniform_filter1d(copy, self.smooth, axis=1), 0.0)
        gain = 0.5 * np.log10((want + 1e-14) / (have + 1e-14))
        return se.waveforms(se.apply_gains(spec, kc, np.clip(gain, -6.0, 2.0)), len(x))


class LevelOracle:
    """The shipped model's gains, each frame's mean high-band log power moved to the original's (``per_frame``),
    or all frames by their mean difference."""

    def __init__(self, per_frame: bool) -> None:
        self.model, self.per_frame = se.extender(), per_frame

    def extend(self, x: np.ndarray, cutoff_hz: float) -> np.ndarray:
        cutoff = cutoff_hz / (se.RATE / 2)
        spec, ref = se.spectra(x), se.spectra(Original.audio48[: len(x)])
        kc = se.cutoff_bin(cutoff)
        gain = self.model.gains(np.log10(np.abs(spec) + se.EPS), cutoff).astype(np.float64)
        band = slice(kc, max(kc + 1, int(Original.top_hz / (se.RATE / 2) * (se.BINS - 1))))
        ours = np.log10(np.abs(se.apply_gains(spec, kc, gain)[:, band]) ** 2 + 1e-14).mean(1)
        truth = np.log10(np.abs(ref[:, band]) ** 2 + 1e-14).mean(1)
        shift = truth - ours if self.per_frame else (truth - ours).mean(-1, keepdims=True)
        gain = gain + 0.5 * shift[:, None, :]
        return se.waveforms(se.apply_gains(spec, kc, np.clip(gain, -6.0, 2.0)), len(x))


ORACLES = {"env-375": EnvelopeOracle(16, False), "env-1500": EnvelopeOracle(64, False),
           "flat-375": EnvelopeOracle(16, True), "flat-1500": EnvelopeOracle(64, True)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=24, help="recordings per kind")
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    oracles = dict(ORACLES, level=LevelOracle(True), **{"level-rec": LevelOracle(False)})
    for name, oracle in oracles.items():
        uq.register(name, uq.neural_with(oracle))
    methods = ["plain", "fold", "neural", *oracles]
    print(machine())
    lsd = defaultdict(list)
    for kind, items in uq.recordings(uq.CORPUS, args.files, args.seconds).items():
        for _, audio, sr in items:
            Original.audio48 = resample(audio, sr, se.RATE, "VHQ")
            Original.top_hz = estimate_bandwidth(audio, sr) or sr / 2
            for rate in uq.LOW_RATES:
                row = uq.measure_one(audio, sr, rate, methods)
                for m in methods:
                    lsd[kind, rate, m].append(row[m]["lsd_high"])
    print(f"{'kind':7} {'rate':>6}  " + "  ".join(f"{m:>16}" for m in methods))
    for kind, rate in sorted({k[:2] for k in lsd}):
        plain, fold = (np.mean(lsd[kind, rate, m]) for m in ("plain", "fold"))
        cells = [f"{np.mean(lsd[kind, rate, m]):5.2f} {np.mean(lsd[kind, rate, m]) / plain:.2f}p "
                 f"{np.mean(lsd[kind, rate, m]) / fold:.2f}f" for m in methods]
        print(f"{kind:7} {rate:>6}  " + "  ".join(f"{c:>16}" for c in cells))
    print("cells: high-band LSD dB, its ratio to plain resampling (p) and to folding (f)")


if __name__ == "__main__":
    main()
