"""Export a trained EQ predictor to ONNX, check it against PyTorch, and record it in the model card.

Run: ``python -m restora.models.training.export_eq --run .train/eq/run --data .train/eq/features.npz``
Writes ``models/weights/eq_predictor.onnx`` and updates ``models/cards/eq-predictor.json``
(sha256, size, parity, training figures).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eq_net import EqNet  # noqa: E402
from eq_pairs import PairSampler  # noqa: E402

from restora.models.store import sha256_of  # noqa: E402

MODELS = Path(__file__).resolve().parents[1]
ONNX_PATH = MODELS / "weights" / "eq_predictor.onnx"
CARD_PATH = MODELS / "cards" / "eq-predictor.json"


def load_net(run: Path) -> tuple[EqNet, dict]:
    saved = torch.load(run / "weights.pt", map_location="cpu", weights_only=False)
    net = EqNet(saved["hidden"])
    net.load_state_dict(saved["state"])
    return net.eval(), saved


def export(net: EqNet, path: Path) -> None:
    """Legacy TorchScript exporter: needs onnx only, writes one self-contained file (opset 17)."""
    import warnings

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 4, 120)
    with warnings.catch_warnings():  # the legacy exporter is deprecated, but needs no onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (example,), str(path), input_names=["features"], output_names=["bands"],
                          dynamic_axes={"features": {0: "batch"}, "bands": {0: "batch"}}, opset_version=17,
                          dynamo=False)


def parity(net: EqNet, path: Path, data: dict) -> dict:
    """Max |ONNX Runtime − PyTorch| per output quantity on 4096 held-out pairs."""
    import onnxruntime as ort

    feats = PairSampler(data, 1, torch.device("cpu"), seed=99).batch(4096)[0]
    with torch.no_grad():
        ref = net(feats).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"features": feats.numpy()})[0]
    rel_f = np.abs(got[..., 0] - ref[..., 0]) / ref[..., 0]
    return {"pairs": len(feats), "freq_max_rel": float(rel_f.max()),
            "gain_max_abs_db": float(np.abs(got[..., 1] - ref[..., 1]).max()),
            "q_max_rel": float((np.abs(got[..., 2] - ref[..., 2]) / ref[..., 2]).max())}


def update_card(path: Path, parity_figures: dict, saved: dict, run: Path) -> dict:
    digest = sha256_of(path)
    card = json.loads(CARD_PATH.read_text())
    card["source"]["members"][0]["sha256"] = digest
    card.setdefault("measured", {})
    card["measured"]["parity_torch_vs_onnxruntime"] = parity_figures
    card["measured"]["onnx_bytes"] = path.stat().st_size
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    if metrics.get("history"):
        card["measured"]["training_validation"] = metrics["history"][-1] | {"steps": saved["step"]}
    CARD_PATH.write_text(json.dumps(card, indent=1) + "\n")
    return {"sha256": digest, "bytes": path.stat().st_size}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="training output folder (weights.pt, metrics.json)")
    ap.add_argument("--data", type=Path, required=True, help="features.npz (held-out pairs for the parity check)")
    ap.add_argument("--onnx", type=Path, default=ONNX_PATH)
    args = ap.parse_args(argv)
    net, saved = load_net(args.run)
    export(net, args.onnx)
    figures = parity(net, args.onnx, dict(np.load(args.data)))
    print(json.dumps({"parity": figures, **update_card(args.onnx, figures, saved, args.run)}, indent=1))


if __name__ == "__main__":
    main()
