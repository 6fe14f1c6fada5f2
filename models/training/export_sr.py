"""Export the super-resolution network's gain core to ONNX, check it against PyTorch, record it in the card.

Run: ``python -m restora.models.training.export_sr --run .train/sr_runs/run1``
Writes ``models/weights/sr_extender.onnx`` (``logmag`` [B, 513, T] = log10(|X| + 1e-5) of a 48 kHz
STFT, n_fft 1024, hop 256, periodic Hann; ``cutoff`` [B] = cut-off Hz / 24000 → ``gain`` [B, 513, T],
log10 magnitude over the folded copy; the runtime folds, applies the gains and crosses over as
``sr_net.extend`` does) and updates ``models/cards/sr-extender.json`` (created on the first export, with
a first ``sr-extender.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from onnx_export import export_method, load_trained, max_abs_difference, record_in_card  # noqa: E402
from sr_net import BINS, DILATIONS, FLAT_WIDTHS, HOP, N_FFT, RATE, SRNet, parameter_count, receptive_frames  # noqa: E402

from restora.models.sr_extender import OVERLAP_S  # noqa: E402
from restora.models.store import sha256_of  # noqa: E402

MODELS = Path(__file__).resolve().parents[1]
ONNX_PATH = MODELS / "weights" / "sr_extender.onnx"
CARD_PATH = MODELS / "cards" / "sr-extender.json"
CARD_TEXT_PATH = MODELS / "cards" / "sr-extender.md"
PARITY_FRAMES = (1, 37, 400)


def export(net: SRNet, path: Path) -> None:
    export_method(net, "core", (torch.zeros(1, BINS, 64), torch.full((1,), 0.5)), path, ["logmag", "cutoff"], ["gain"],
                  {"logmag": {0: "batch", 2: "frames"}, "cutoff": {0: "batch"}, "gain": {0: "batch", 2: "frames"}})


def parity(net: SRNet, path: Path) -> dict:
    """Max |ONNX Runtime − PyTorch| of the gains on random log-magnitudes of several lengths."""
    gen = torch.Generator().manual_seed(0)
    cases = [{"logmag": torch.randn(2, BINS, frames, generator=gen) - 2.0, "cutoff": torch.tensor([0.2, 0.75])}
             for frames in PARITY_FRAMES]
    return {"gain_max_abs": max_abs_difference(net, "core", path, cases), "frames": list(PARITY_FRAMES)}


def new_card() -> dict:
    return {"id": "sr-extender", "task": "audio-super-resolution",
            "name": "Restora band extender (per-bin gains over a folded copy, 48 kHz STFT; trained by this project)",
            "sample_rate": RATE, "bandwidth_hz": RATE // 2, "licence": "GPL-3.0-or-later",
            "licence_url": "https://www.gnu.org/licenses/gpl-3.0.html",
            "attribution": "Trained by the Restora project on ../shared/corpus (train split: speech, music, "
                           "instrument samples, environmental noise, sfx; licences in its LICENSES.md)",
            "source": {"kind": "python-package", "package": "restora", "version": "0.1.0",
                       "import_name": "restora.models",
                       "members": [{"path": "weights/sr_extender.onnx", "dest": "sr_extender.onnx", "sha256": ""}]},
            "files": ["sr_extender.onnx"],
            "notes": f"Inputs logmag [B,{BINS},T] (log10(|X|+1e-5), n_fft {N_FFT}, hop {HOP}, 48 kHz), cutoff [B] "
                     "(Hz / 24000); output gain [B,513,T] (log10 magnitude over the folded copy of the top octave "
                     "below the cut-off). Card text: models/cards/sr-extender.md."}


def update_card(figures: dict, run: Path) -> None:
    """Checksum, size, parity and the run's last held-out figures into ``sr-extender.json``."""
    card = record_in_card(json.loads(CARD_PATH.read_text()) if CARD_PATH.is_file() else new_card(), figures, run,
                          "training-time held-out figure (corpus val split, degradations of sr_pairs.py); "
                          "lsd_high_fold_db: the unshaped folded copy", parameters=figures["parameters"])
    CARD_PATH.write_text(json.dumps(card, indent=1) + "\n")


def write_card_text(figures: dict) -> None:
    """A first ``sr-extender.md`` (what it does, files, network, data, figures); left alone once it exists."""
    if CARD_TEXT_PATH.is_file():
        return
    training = json.loads(CARD_PATH.read_text()).get("measured", {}).get("training", {})
    ours, fold = (f"{training[k]:.2f}" if k in training else "n/a" for k in ("lsd_high_db", "lsd_high_fold_db"))
    size = figures[ONNX_PATH.name]["bytes"] / 1e6
    CARD_TEXT_PATH.write_text(f"""# Model card: `sr-extender`

**What it does.** Restores the empty band above a cut-off (a codec's low-pass, a low sample rate
resampled to 48 kHz). The spectral-folding baseline (`restora.dsp.band_extension`) copies the top
octave below the cut-off upward with phase-coherent shifts; this network predicts how loud each
copied bin should be (a gain per bin and 5.3 ms frame). Every bin below the cut-off is the input's.

- Files: `models/weights/sr_extender.onnx` ({size:.1f} MB, opset 17); sha256 in `sr-extender.json`.
- Network (`models/training/sr_net.py`): {figures["parameters"] / 1e6:.2f} M parameters; Conv1d over
  frames with the 513 bins of a 48 kHz STFT (n_fft 1024, hop 256, periodic Hann) as channels, 6
  dilated causal residual blocks (192 channels, per-frame normalisation, GELU), FiLM from the normalised cut-off,
  one frame of look-ahead. Input `logmag` [B, 513, T], `cutoff` [B] (Hz / 24000); output `gain`
  [B, 513, T] (log10 magnitude over the folded copy).
- Licence: GPL-3.0-or-later (the project's). Trained by the Restora project.

## Data (`models/training/prepare_sr_data.py`, `sr_pairs.py`)

Corpus train split at >= 32 kHz with real content above 12 kHz (`hf_db_above_12k` > -50 dB):
speech, music mixes/loops/stems, instrument samples, environmental noise, sfx; 16-bit, 48 kHz.
Band-limited inputs made on the GPU: brickwall, Butterworth (order 4-12), codec-style and
resampler-style low-passes at 3.5-20 kHz; the network is told the filter's -10 dB point, jittered.

## Figures

Training-time held-out high-band log-spectral distance (corpus val split): {ours} dB
(the unshaped folded copy: {fold} dB) after {figures["steps"]} steps.
Parity PyTorch vs ONNX Runtime: {figures["parity"]["gain_max_abs"]:.1e} (max |gain| difference).
""")


def network_of(run: Path) -> SRNet:
    """An SRNet shaped as the run's ``weights.pt`` says (width and dilations; older runs: the defaults).

    Refuses a network whose context is longer than the runtime's chunk overlap: chunked output
    would then differ from one pass.
    """
    saved = torch.load(Path(run) / "weights.pt", map_location="cpu", weights_only=False)
    dilations = tuple(saved.get("dilations", DILATIONS))
    if receptive_frames(dilations) > OVERLAP_S * RATE / HOP:
        raise SystemExit(f"dilations {dilations} see {receptive_frames(dilations)} frames, more than the runtime's "
                         f"{OVERLAP_S} s overlap ({OVERLAP_S * RATE / HOP:.0f} frames): raise sr_extender.OVERLAP_S")
    flatten = saved.get("flatten") or []
    flatten = FLAT_WIDTHS if flatten is True else flatten  # the first flattening runs stored a flag: one 9-bin width
    return SRNet(channels=int(saved.get("channels", 192)), dilations=dilations, flatten=flatten)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    args = ap.parse_args(argv)
    net = network_of(args.run)
    steps = load_trained(net, args.run)
    ONNX_PATH.parent.mkdir(parents=True, exist_ok=True)
    export(net, ONNX_PATH)
    figures = {"parity": parity(net, ONNX_PATH), "steps": steps, "parameters": parameter_count(net),
               ONNX_PATH.name: {"sha256": sha256_of(ONNX_PATH), "bytes": ONNX_PATH.stat().st_size}}
    update_card(figures, args.run)
    write_card_text(figures)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
