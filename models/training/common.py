"""Training-run plumbing shared by every model we train: device, seeding, time budget, resumable checkpoints.

Works with the training machine's PyTorch 2.11 (CUDA) and the pinned CPU
torch 2.13 used locally; needs torch and numpy only.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import torch


def pick_device(name: str = "auto") -> torch.device:
    """``cuda`` when available (or asked for), else ``cpu``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class TimeBudget:
    """Wall-clock budget of a run: stop cleanly (and checkpoint) before the machine's limit."""

    def __init__(self, seconds: float) -> None:
        self.start, self.seconds = time.monotonic(), float(seconds)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def expired(self) -> bool:
        return self.elapsed() >= self.seconds


PIECE_BYTES = 15 * 2 ** 20


def _compact(opt_state: dict) -> dict:
    """The optimiser's moment tensors in bfloat16: half the bytes to return from the training machine.

    ``Optimizer.load_state_dict`` casts them back to the parameters' dtype.
    """
    state = {k: {n: (v.to(torch.bfloat16) if torch.is_tensor(v) and v.is_floating_point() and v.dim() > 0 else v)
                 for n, v in s.items()} for k, s in opt_state["state"].items()}
    return {**opt_state, "state": state}


class Checkpoint:
    """``<folder>/checkpoint.pt``: model, optimiser, scheduler, step and RNG states; written atomically.

    Larger than 15 MiB, it is written as ``checkpoint.pt.00``, ``.01``, … instead
    (the training machine returns files of at most 16 MiB).

    A run started with the same folder resumes where the last one saved, so a
    run cut off by the machine's time limit loses at most one save interval.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "checkpoint.pt"

    def save(self, step: int, model, optimiser, scheduler=None, extra: dict | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {"step": step, "model": model.state_dict(), "optimiser": _compact(optimiser.state_dict()),
                 "scheduler": scheduler.state_dict() if scheduler else None, "extra": extra or {},
                 "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        tmp = self.path.with_suffix(".part")
        torch.save(state, tmp)
        data = tmp.read_bytes() if tmp.stat().st_size > PIECE_BYTES else None
        parts = []
        if data is not None:  # the training machine returns files of 16 MiB at most
            for i in range(0, len(data), PIECE_BYTES):
                part = self.folder / f"checkpoint.pt.{i // PIECE_BYTES:02d}.part"
                part.write_bytes(data[i:i + PIECE_BYTES])
                parts.append(part)
            tmp.unlink()
        # Only complete files are renamed into place; the old ones go just before.
        for old in [*self.folder.glob("checkpoint.pt.[0-9][0-9]"), self.path]:
            old.unlink(missing_ok=True)
        for part in parts:
            os.replace(part, part.with_suffix(""))
        if data is None:
            os.replace(tmp, self.path)

    def load(self, model, optimiser=None, scheduler=None) -> tuple[int, dict]:
        """Restore into the given objects; returns ``(step, extra)`` or ``(0, {})`` with no checkpoint."""
        pieces = sorted(self.folder.glob("checkpoint.pt.[0-9][0-9]"))
        if pieces:
            import io

            state = torch.load(io.BytesIO(b"".join(p.read_bytes() for p in pieces)), map_location="cpu",
                               weights_only=False)
        elif self.path.is_file():
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        else:
            return 0, {}
        model.load_state_dict(state["model"])
        if optimiser is not None:
            optimiser.load_state_dict(state["optimiser"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        if torch.cuda.is_available() and "cuda_rng" in state:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return int(state["step"]), state.get("extra", {})


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as JSON atomically (metrics a run returns)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    os.replace(tmp, path)


def run_training(net, opt, sched, out: Path, budget: TimeBudget, total_steps: int, train_step, evaluate,
                 eval_every: int, grad_clip: float, weights_extra: dict | None = None, init: Path | None = None) -> int:
    """The shared loop: resume from ``out``, step until ``total_steps`` or the budget, evaluate, checkpoint.

    ``train_step()`` returns ``(loss tensor, {name: tensor})`` for one batch;
    ``evaluate()`` returns a dict of held-out figures. Writes ``checkpoint.pt``
    (every minute and at the end), ``weights.pt`` (``{"state", "step", **weights_extra}``)
    and ``metrics.json``; returns the step reached. ``init``: a ``weights.pt`` to
    start from when ``out`` holds no checkpoint yet (a new stage: the network's
    weights, with a fresh optimiser and LR schedule).
    """
    ckpt = Checkpoint(out)
    step, extra = ckpt.load(net, opt, sched)
    if step == 0 and init is not None:
        saved = torch.load(init, map_location="cpu", weights_only=False)
        net.load_state_dict(saved["state"])
        extra = {"history": [{"init": str(init), "init_step": saved.get("step")}]}
    history = extra.get("history", [])
    print(f"torch {torch.__version__}, starting at step {step}", flush=True)
    last_save = budget.elapsed()
    while step < total_steps and not budget.expired():
        loss, parts = train_step()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        opt.step()
        sched.step()
        step += 1
        if step % eval_every == 0 or step == total_steps:
            figures = {"step": step, "seconds": round(budget.elapsed(), 1), "loss": loss.item(),
                       **{k: v.item() for k, v in parts.items()}, **evaluate()}
            history.append(figures)
            print(figures, flush=True)
        if budget.elapsed() - last_save > 60.0:
            ckpt.save(step, net, opt, sched, {"history": history})
            last_save = budget.elapsed()
    ckpt.save(step, net, opt, sched, {"history": history})
    torch.save({"state": net.state_dict(), "step": step, **(weights_extra or {})}, Path(out) / "weights.pt")
    write_json(Path(out) / "metrics.json", {"step": step, "done": step >= total_steps, "history": history})
    print(f"stopped at step {step}/{total_steps} after {budget.elapsed():.0f} s", flush=True)
    return step


def held_out_figures(evaluate, probe, held_out, probe_name: str):
    """The ``evaluate`` argument of :func:`run_training`: ``evaluate(sampler)`` on a sampler of training
    data (``probe_name``) and, when given, on the held-out one."""
    def figures() -> dict:
        out = {probe_name: evaluate(probe)}
        if held_out is not None:
            out["held_out"] = evaluate(held_out)
        return out

    return figures


def adamw_one_cycle(net, lr: float, steps: int, weight_decay: float = 1e-2, warmup: float = 0.03):
    """AdamW and a one-cycle LR schedule spanning ``steps`` (all runs of a resumed training)."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=warmup)


def run_arguments(description: str, steps: int, batch: int, eval_every: int, seed: int):
    """An argument parser with the options every training script shares (data, output, budget, schedule)."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="run folder: a second run with it resumes")
    ap.add_argument("--minutes", type=float, default=8.5, help="wall-clock budget of this run")
    ap.add_argument("--steps", type=int, default=steps, help="total optimiser steps (the LR schedule's length)")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--eval-every", type=int, default=eval_every)
    ap.add_argument("--init", type=Path, help="weights.pt to start a new stage from (fresh optimiser and schedule)")
    return ap
