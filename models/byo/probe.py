"""First load and one trial call of a user's ONNX model, in a separate process so a hostile file cannot crash
or exhaust the app.

:func:`probe` (parent side) runs ``python -m restora.models.byo.probe PATH CONTRACT_JSON [MEMORY_MB]`` (a frozen
app runs its own executable with a hidden argument instead: :func:`restora.frozen.child_command`); the child
(:func:`main`) limits its address space, checks the file (:func:`inspect_onnx.check_safe`), opens a CPU-only
onnxruntime session, feeds one call of zeros shaped by the contract and prints one JSON line:
``{"ok": true, "seconds": ..., "outputs": {name: shape}}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from restora.models.byo.contract import Contract, from_dict

from restora.errors import ModelError
from restora.frozen import child_command

WAVEFORM_SAMPLES = 4096  # the trial chunk's length T: short, and a multiple of every usual hop
ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
              "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
              "tensor(bool)": "bool"}


def _package_parent() -> str:
    """The folder that holds the ``restora`` package: the child's working directory, so ``-m`` cannot pick up a
    ``restora`` module from wherever the app (or the model) happens to be."""
    import restora

    return os.path.dirname(os.path.dirname(os.path.abspath(restora.__file__)))


def probe(path: str | os.PathLike, contract: Contract, timeout_s: float = 60, memory_mb: int = 4096) -> dict:
    """``{"ok": True, "seconds": load + run time, "outputs": {name: [dims]}}`` once the model at ``path`` loads and
    answers one call of zeros as ``contract`` says, in a child process limited to ``memory_mb`` of address space;
    ModelError naming the file when it fails, crashes, takes over ``timeout_s`` or prints nonsense."""
    path = os.path.abspath(os.fspath(path))
    name = os.path.basename(path)
    command = child_command("restora.models.byo.probe", [path, json.dumps(contract.to_dict()), str(memory_mb)])
    # one thread per library: fewer per-thread arenas to fit under the address-space limit
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env,
                              cwd=_package_parent(), stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(f"{name}: took longer than {timeout_s:g} s to load and run once") from None
    if done.returncode < 0:
        raise ModelError(f"{name}: onnxruntime crashed while loading it (signal {-done.returncode}"
                         f"{_signal_name(-done.returncode)})")
    result = _last_json(done.stdout)
    if result is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise ModelError(f"{name}: the model check ended without a result (exit {done.returncode}: {tail})")
    if not result.get("ok"):
        error = str(result.get("error") or "the model check failed")
        raise ModelError(error if error.startswith(f"{name}: ") else f"{name}: {error}")
    return result


def _signal_name(number: int) -> str:
    try:
        return f", {signal.Signals(number).name}"
    except ValueError:
        return ""


def _last_json(stdout: str) -> dict | None:
    """The last line of ``stdout`` that is a JSON object (libraries may print before it), or None."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


# --- child side -------------------------------------------------------------------------------------------


def _limit_memory(memory_mb: int) -> None:
    """Caps the address space (a hostile file's huge allocations fail instead of swapping the machine) and
    turns off core dumps. Windows has no ``resource`` module: there the child still runs apart from the app,
    with the time limit only."""
    try:
        import resource
    except ImportError:
        return

    limit = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _session(path: str):
    """A CPU-only onnxruntime session, one intra-op thread, no custom-op libraries."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _state_shape(node) -> list[int]:
    """A state input's shape as the runtime feeds it: declared dims, symbolic ones read as 1 (run_stream does)."""
    return [d if isinstance(d, int) and d > 0 else 1 for d in (node.shape or [])]


def _expected(contract: Contract, t: int) -> list[list[int]]:
    """The main output shapes the contract allows for a trial call of ``t`` samples (waveform) or one chunk/frame."""
    if contract.kind == "waveform":
        one = [1, contract.channels, t]
        many = [1, len(contract.stems), contract.channels, t]
        return [one, many] if len(contract.stems) == 1 else [many]
    if contract.kind == "mdx":
        return [[1, 4, contract.dim_f, contract.dim_t]]
    return [[1, contract.n_fft // 2 + 1, 1, 2]]


def _feeds(contract: Contract, inputs: dict) -> tuple[dict, int]:
    """Zero tensors for every session input (``inputs``: name -> NodeArg) and the trial length T.

    waveform: [1, channels, T]; mdx: [1, 4, dim_f, dim_t]; frame-stream: [1, n_fft/2+1, 1, 2] plus zero states."""
    import numpy as np

    t = WAVEFORM_SAMPLES
    if contract.kind == "waveform":
        declared = inputs[contract.input].shape
        if len(declared) == 3 and isinstance(declared[2], int) and declared[2] > 0:
            t = declared[2]  # a hand-written contract for a fixed-length model
        audio = np.zeros((1, contract.channels, t), np.float32)
    elif contract.kind == "mdx":
        audio = np.zeros((1, 4, contract.dim_f, contract.dim_t), np.float32)
    else:
        audio = np.zeros((1, contract.n_fft // 2 + 1, 1, 2), np.float32)
    feeds = {contract.input: audio}
    for state_in, _ in contract.states:
        node = inputs[state_in]
        feeds[state_in] = np.zeros(_state_shape(node), ORT_DTYPES.get(node.type, "float32"))
    extra = sorted(set(inputs) - set(feeds))
    if extra:
        raise ModelError(f"the model has input(s) {', '.join(extra)} that its contract does not feed")
    return feeds, t


def _check_names(contract: Contract, inputs, outputs) -> None:
    """ModelError when a tensor the contract names is not in the model."""
    wanted_in = [contract.input] + [s for s, _ in contract.states]
    wanted_out = [contract.output] + [o for _, o in contract.states]
    for kind, wanted, have in (("input", wanted_in, inputs), ("output", wanted_out, outputs)):
        for name in wanted:
            if name not in have:
                raise ModelError(f"the contract names {kind} '{name}', but the model's {kind}s are "
                                 f"{', '.join(have) or 'none'}")


def _check_outputs(contract: Contract, results: dict, inputs: dict, t: int) -> None:
    """ModelError when the main output's shape is not the contract's, a state output's shape is not its input's,
    or anything returned is not finite."""
    import numpy as np

    main = np.asarray(results[contract.output])
    allowed = _expected(contract, t)
    if list(main.shape) not in allowed:
        raise ModelError(f"output '{contract.output}' has shape {list(main.shape)} for a trial call, but the "
                         f"'{contract.kind}' contract expects {' or '.join(str(s) for s in allowed)}")
    for state_in, state_out in contract.states:
        want = _state_shape(inputs[state_in])
        got = list(np.asarray(results[state_out]).shape)
        if got != want:
            raise ModelError(f"state output '{state_out}' has shape {got}, not its input '{state_in}''s {want}")
    for name, value in results.items():
        value = np.asarray(value)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            raise ModelError(f"output '{name}' is not finite (NaN or infinity) for an input of zeros")


def run_once(path: str, contract: Contract) -> dict:
    """Child side: check, load and call the model once; the result dict (see the module docstring)."""
    from restora.models.byo.inspect_onnx import check_safe

    start = time.perf_counter()
    if contract.kind == "dfn3":
        return _run_dfn3_once(os.path.dirname(path), start)
    check_safe(path)
    session = _session(path)
    inputs = {n.name: n for n in session.get_inputs()}
    outputs = [n.name for n in session.get_outputs()]
    _check_names(contract, inputs, outputs)
    feeds, t = _feeds(contract, inputs)
    wanted = [contract.output] + [o for _, o in contract.states]
    values = session.run(wanted, feeds)
    results = dict(zip(wanted, values))
    _check_outputs(contract, results, inputs, t)
    seconds = time.perf_counter() - start
    return {"ok": True, "seconds": round(seconds, 4), "outputs": {k: list(v.shape) for k, v in results.items()}}


def _run_dfn3_once(folder: str, start: float) -> dict:
    """Child side for a DeepFilterNet export: its three (stateful) graphs through the bundled runtime, on 0.5 s of
    a quiet tone, answering finite audio of the same length."""
    import numpy as np

    from restora.models.byo.inspect_onnx import check_safe
    from restora.models.dfn3 import Dfn3Session, enhance

    for name in ("enc.onnx", "erb_dec.onnx", "df_dec.onnx"):
        check_safe(os.path.join(folder, name))
    session = Dfn3Session(folder, threads=1, providers="cpu")
    x = (0.01 * np.sin(np.arange(24000) * 0.05)).astype(np.float32)
    y = enhance(session, x)
    if y.shape != x.shape or not np.isfinite(y).all():
        raise ModelError(f"the export's output for 0.5 s of audio has shape {list(y.shape)} or is not finite")
    return {"ok": True, "seconds": round(time.perf_counter() - start, 4), "outputs": {"audio": list(y.shape)}}


def _error_text(exc: BaseException, memory_mb: int) -> str:
    """One line for the parent: ModelError messages as they are, memory exhaustion said plainly."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    if isinstance(exc, ModelError):
        return text[:400]
    # under RLIMIT_AS, numpy, onnxruntime and ORT's allocator fail in their own words (bad_alloc, ImportError...)
    words = str(exc).lower()
    if isinstance(exc, (MemoryError, ImportError)) or "bad_alloc" in words or "allocat" in words:
        return f"ran out of its {memory_mb} MB memory limit while loading or running it"
    return f"onnxruntime cannot run it: {text}"[:400]


def main(argv: list[str] | None = None) -> int:
    """``PATH CONTRACT_JSON [MEMORY_MB]``: prints the one-line JSON result; exit 0 when ok, 1 otherwise."""
    args = sys.argv[1:] if argv is None else argv
    memory_mb = 4096
    try:
        if len(args) not in (2, 3):
            raise ModelError("usage: python -m restora.models.byo.probe PATH CONTRACT_JSON [MEMORY_MB]")
        memory_mb = int(args[2]) if len(args) == 3 else memory_mb
        _limit_memory(memory_mb)
        result = run_once(args[0], from_dict(json.loads(args[1])))
    except Exception as exc:  # noqa: BLE001 - whatever the file does, the parent gets one JSON line
        result = {"ok": False, "error": _error_text(exc, memory_mb)}
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
