"""ONNX export of one method of a network (opset 17, one file) and its PyTorch-vs-ONNX-Runtime check."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch


class _Method(torch.nn.Module):
    """``inner.<method>`` as a module's forward (exports a network's core, not its STFT wrapper)."""

    def __init__(self, inner: torch.nn.Module, method: str) -> None:
        super().__init__()
        self.inner, self.method = inner, method

    def forward(self, *args):
        return getattr(self.inner, self.method)(*args)


def load_trained(net: torch.nn.Module, run: Path) -> int:
    """Load ``<run>/weights.pt`` (written by ``common.run_training``) into ``net``, set eval mode; returns the step."""
    saved = torch.load(Path(run) / "weights.pt", map_location="cpu", weights_only=False)
    net.load_state_dict(saved["state"])
    net.eval()
    return int(saved["step"])


def export_method(net: torch.nn.Module, method: str, example: tuple, path: Path, inputs: list[str],
                  outputs: list[str], dynamic_axes: dict) -> None:
    """Write ``net.<method>`` traced on ``example`` to ``path`` (opset 17, TorchScript exporter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Method(net, method).eval(), example, str(path), input_names=inputs, output_names=outputs,
                          opset_version=17, dynamo=False, dynamic_axes=dynamic_axes)


def max_abs_difference(net: torch.nn.Module, method: str, path: Path, cases: list[dict]) -> float:
    """Largest |ONNX Runtime − PyTorch| of the first output over ``cases`` ({input name: tensor}, in order)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for feeds in cases:
        with torch.no_grad():
            want = getattr(net, method)(*feeds.values()).numpy()
        got = sess.run(None, {k: v.numpy() for k, v in feeds.items()})[0]
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def record_in_card(card: dict, figures: dict, run: Path, note: str, **training) -> dict:
    """``card`` (a model card's JSON) with the members' sha256 from ``figures`` ({file name: {"sha256"}}),
    ``figures["parity"]`` and the run's last held-out figures (``metrics.json``) plus ``training``."""
    for member in card["source"]["members"]:
        member["sha256"] = figures[member["dest"]]["sha256"]
    measured = card.setdefault("measured", {})
    measured["parity_torch_vs_onnxruntime"] = figures["parity"]
    history = json.loads((Path(run) / "metrics.json").read_text()).get("history", [])
    if history:
        steps, before = figures["steps"], [h["init_step"] for h in history if h.get("init_step")]
        if before:  # a stage started with --init: count the steps behind its starting weights too
            steps += before[0]
            note += f"; a stage of {figures['steps']} steps started from the weights of step {before[0]}"
        measured["training"] = {"steps": steps, **training, **history[-1].get("held_out", {}), "note": note}
    return card
