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


class Checkpoint:
    """``<folder>/checkpoint.pt``: model, optimiser, scheduler, step and RNG states; written atomically.

    A run started with the same folder resumes where the last one saved, so a
    run cut off by the machine's time limit loses at most one save interval.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "checkpoint.pt"

    def save(self, step: int, model, optimiser, scheduler=None, extra: dict | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state = {"step": step, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                 "scheduler": scheduler.state_dict() if scheduler else None, "extra": extra or {},
                 "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        tmp = self.path.with_suffix(".part")
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def load(self, model, optimiser=None, scheduler=None) -> tuple[int, dict]:
        """Restore into the given objects; returns ``(step, extra)`` or ``(0, {})`` with no checkpoint."""
        if not self.path.is_file():
            return 0, {}
        state = torch.load(self.path, map_location="cpu", weights_only=False)
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
