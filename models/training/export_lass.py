"""Export the extraction network's mask core to ONNX, check it against PyTorch, record it in the card.

Run: ``python -m restora.models.training.export_lass --run .train/lass_runs/run2 --data .train/lass/lass.npz``
Writes ``models/weights/lass_extractor.onnx`` (mask core: ``logmag`` [B, F, T] with F, T multiples of
16 → ``mask`` [B, F, T]; ``query`` [B, 384]) and ``models/weights/lass_concepts.npz`` (the concepts the
model was trained on and their caption embeddings, for the confidence report).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lass_captions import unpack_embeddings  # noqa: E402
from lass_net import LassNet  # noqa: E402
from onnx_export import export_method, load_trained, max_abs_difference, record_in_card  # noqa: E402

from restora.models.store import sha256_of  # noqa: E402

MODELS = Path(__file__).resolve().parents[1]
ONNX_PATH = MODELS / "weights" / "lass_extractor.onnx"
CONCEPTS_PATH = MODELS / "weights" / "lass_concepts.npz"
CARD_PATH = MODELS / "cards" / "lass-extractor.json"


def export(net: LassNet, path: Path) -> None:
    export_method(net, "core", (torch.zeros(1, 272, 64), torch.zeros(1, 384)), path, ["logmag", "query"], ["mask"],
                  {"logmag": {0: "batch", 2: "frames"}, "query": {0: "batch"}, "mask": {0: "batch", 2: "frames"}})


def parity(net: LassNet, path: Path) -> dict:
    """Max |ONNX Runtime − PyTorch| of the mask on random log-magnitudes of several lengths."""
    gen = torch.Generator().manual_seed(0)
    cases = [{"logmag": torch.randn(2, 272, frames, generator=gen) * 2 - 4,
              "query": torch.nn.functional.normalize(torch.randn(2, 384, generator=gen), dim=-1)}
             for frames in (16, 128, 512)]
    return {"mask_max_abs": max_abs_difference(net, "core", path, cases), "frames": [16, 128, 512]}


def concept_table(data: Path, path: Path) -> None:
    """Concept names and the mean of each concept's caption embeddings (unit length), float16."""
    npz = np.load(data)
    emb, owner = unpack_embeddings(npz), npz["caption_concept"]
    concepts = json.loads(str(npz["concepts"]))
    table = np.zeros((len(concepts), emb.shape[1]), np.float32)
    np.add.at(table, owner, emb)
    table /= np.linalg.norm(table, axis=1, keepdims=True)
    np.savez_compressed(path, names=np.array(concepts), embeddings=table.astype(np.float16))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    args = ap.parse_args(argv)
    net = LassNet()
    steps = load_trained(net, args.run)
    ONNX_PATH.parent.mkdir(parents=True, exist_ok=True)
    export(net, ONNX_PATH)
    concept_table(args.data, CONCEPTS_PATH)
    figures = {"parity": parity(net, ONNX_PATH), "steps": steps}
    for p in (ONNX_PATH, CONCEPTS_PATH):
        figures[p.name] = {"sha256": sha256_of(p), "bytes": p.stat().st_size}
    update_card(figures, args.run)
    print(json.dumps(figures, indent=1))


def update_card(figures: dict, run: Path) -> None:
    """Member checksums, parity and the run's last held-out figures into ``lass-extractor.json``."""
    card = record_in_card(json.loads(CARD_PATH.read_text()), figures, run,
                          "training-time held-out figure (corpus val split, held-out templates)")
    CARD_PATH.write_text(json.dumps(card, indent=1) + "\n")


if __name__ == "__main__":
    main()
