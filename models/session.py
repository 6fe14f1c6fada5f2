"""ONNX Runtime session factory: one place that decides execution provider and threads.

Providers: CPU always works. ``providers="auto"`` uses the first accelerator that
``onnxruntime.get_available_providers()`` lists (CUDA, CoreML, DirectML), else
CPU. An explicitly requested accelerator must end up active: ORT silently falls
back to CPU when a provider fails to initialise, and we refuse that
(``ModelError``) so that speed figures and user choices stay honest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from restora.errors import ModelError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
#: Accelerators in order of preference for ``providers="auto"``.
ACCELERATORS = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider")
_ALIASES = {"cpu": CPU, "cuda": "CUDAExecutionProvider", "coreml": "CoreMLExecutionProvider",
            "directml": "DmlExecutionProvider", "dml": "DmlExecutionProvider"}


#: Every execution provider a session of this process actually started on;
#: the CLI reports it once per run (per-session lines appear with --verbose).
PROVIDERS_USED: set[str] = set()


def default_threads() -> int:
    """Intra-op threads by default: up to 4 — more rarely helps these small graphs."""
    return max(1, min(4, os.cpu_count() or 1))


def resolve_providers(providers: str | Sequence[str] = "auto") -> list[str]:
    """The provider list to ask ORT for (always ending with CPU as the safety net).

    ``providers`` is ``"auto"``, ``"cpu"``, an alias (``"cuda"``, ``"coreml"``,
    ``"directml"``), a full ORT provider name, or a sequence of these.
    """
    available = ort.get_available_providers()
    if isinstance(providers, str):
        if providers == "auto":
            return [p for p in ACCELERATORS if p in available][:1] + [CPU]
        providers = [providers]
    wanted = [_ALIASES.get(p.lower(), p) for p in providers]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise ModelError(f"execution provider {', '.join(missing)} is not available in this "
                         f"onnxruntime build (available: {', '.join(available)})")
    return wanted + ([CPU] if CPU not in wanted else [])


def make_session(path: str | os.PathLike, threads: int | None = None,
                 providers: str | Sequence[str] = "auto",
                 inter_threads: int = 1, spinning: bool = True) -> tuple[ort.InferenceSession, str]:
    """Open ``path`` (.onnx) and return ``(session, provider actually used)``.

    ``threads`` sets intra-op threads (default :func:`default_threads`); execution
    is sequential with ``inter_threads`` inter-op threads. ``spinning=False`` stops
    idle worker threads from busy-waiting, for models called many times between
    numpy work that needs the same cores (DFN3). Raises ModelError when
    the file cannot be loaded, or when an accelerator was explicitly requested and
    is not the one active.
    """
    chosen = resolve_providers(providers)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads) if threads else default_threads()
    opts.inter_op_num_threads = int(inter_threads)
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=chosen)
    except Exception as exc:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
        raise ModelError(f"cannot open model {Path(path)}: {exc}") from exc
    active = session.get_providers()[0]
    explicit = providers != "auto" and chosen[0] != CPU
    if explicit and active != chosen[0]:
        raise ModelError(f"{chosen[0]} was requested for {Path(path).name} but onnxruntime "
                         f"started {active}; check the accelerator's drivers")
    log.debug("%s runs on %s (%d intra-op threads)", Path(path).name, active,
              opts.intra_op_num_threads)
    PROVIDERS_USED.add(active)
    return session, active
