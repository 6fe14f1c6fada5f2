"""Which contract kind a user's ONNX file follows, recognised from its signature (:class:`ModelFacts`).

:func:`detect` returns a contract dict for :func:`restora.models.byo.contract.from_dict`; the numbers a file
cannot state (sample rate, MDX-Net's n_fft) come from the user's hints, and are asked for when missing.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

from restora.models.byo.inspect_onnx import ModelFacts, TensorSpec

from restora.errors import ModelError

HINT_KEYS = ("sample_rate", "n_fft", "hop", "stems", "task", "channels", "chunk_s", "overlap_s", "window", "center")
# a model card's own contract block may also say these; they override what the signature suggests
CARD_KEYS = ("input", "output", "states", "dim_f", "dim_t")
FLOATS = ("float32", "float16", "float64", "bfloat16")
KNOWN = ("waveform (input [1, channels, T] with T free -> [1, channels, T] or [1, stems, channels, T]); "
         "mdx (input [1, 4, dim_f, dim_t] -> the same shape); "
         "frame-stream (input [1, n_fft/2+1, 1, 2] -> the same shape, plus state inputs each with a same-shaped output)")


class _NoMatch(Exception):
    """The signature is not of this kind; the message says what is missing."""


def _shape_text(spec: TensorSpec) -> str:
    if spec.shape is None:
        return f"{spec.name} (rank unknown) {spec.dtype}"
    return f"{spec.name} [{', '.join(str(d) for d in spec.shape)}] {spec.dtype}"


def _signature(facts: ModelFacts) -> str:
    """"inputs a [1, 2, T] float32; outputs b [...]" for messages."""
    return (f"inputs {'; '.join(_shape_text(s) for s in facts.inputs) or 'none'}; "
            f"outputs {'; '.join(_shape_text(s) for s in facts.outputs) or 'none'}")


def _clean_hints(hints: dict | None) -> dict[str, Any]:
    """The known hint keys that were given (None means not given); stems as a list of names."""
    given = {k: v for k, v in (hints or {}).items() if k in HINT_KEYS + CARD_KEYS and v is not None}
    if isinstance(given.get("stems"), str):
        given["stems"] = [s.strip() for s in given["stems"].split(",") if s.strip()]
    elif "stems" in given:
        given["stems"] = list(given["stems"])
    return given


def _batch_ok(dim) -> bool:
    """A batch dim Restora can feed: 1, or symbolic."""
    return dim == 1 or isinstance(dim, str)


def _same_shape(a: TensorSpec, b: TensorSpec) -> bool:
    """Equal rank and equal fixed dims; symbolic dims match anything (the batch is often symbolic)."""
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return False
    return all(x == y or isinstance(x, str) or isinstance(y, str) for x, y in zip(a.shape, b.shape))


def _mdx(facts: ModelFacts, hints: dict) -> dict:
    """UVR MDX-Net: one input [batch, 4, F, T] (F, T fixed) and an output of the same shape."""
    audio = facts.inputs[0]
    shape = audio.shape
    if len(facts.inputs) != 1 or shape is None or len(shape) != 4 or shape[1] != 4:
        raise _NoMatch("mdx needs exactly one input shaped [1, 4, dim_f, dim_t]")
    if not (isinstance(shape[2], int) and isinstance(shape[3], int) and _batch_ok(shape[0])):
        raise _NoMatch("mdx needs fixed dim_f and dim_t")
    output = next((o for o in facts.outputs if o.shape is not None and tuple(o.shape[1:]) == tuple(shape[1:])), None)
    if output is None:
        raise _NoMatch("mdx needs an output shaped like its input")
    dim_f, dim_t = shape[2], shape[3]
    if "n_fft" not in hints:
        raise ModelError(
            f"{facts.name}: looks like a UVR MDX-Net model (dim_f {dim_f}, dim_t {dim_t}), but the file does not say "
            f"its FFT size: confirm it with --n-fft (6144 for most MDX-Net models with dim_f 2048, "
            f"7680 for dim_f 3072)")
    contract = {"kind": "mdx", "task": "separate", "sample_rate": 44100, "channels": 2, "stems": ["main"],
                "input": audio.name, "output": output.name, "hop": 1024, "dim_f": dim_f, "dim_t": dim_t}
    return {**contract, **hints}


def _name_score(state_in: str, state_out: str) -> float:
    """How alike a state input's and a state output's names are (0..2); "x" and "x_out" score highest."""
    a, b = state_in.lower(), state_out.lower()
    bonus = 1.0 if b.startswith(a) or a.startswith(b) else 0.0
    return bonus + SequenceMatcher(None, a, b).ratio()


def _pair_states(facts: ModelFacts, main_output: str) -> list[list[str]]:
    """[[state input, state output], ...]: every input after the first paired with an output of the identical
    shape, the most alike names first; _NoMatch naming an input left without a partner."""
    states = list(facts.inputs[1:])
    free = [o for o in facts.outputs if o.name != main_output]
    candidates = []
    for s in states:
        for o in free:
            if s.shape is not None and o.shape == s.shape:
                candidates.append((_name_score(s.name, o.name), s.name, o.name))
    pairs: dict[str, str] = {}
    used: set[str] = set()
    for _, s_name, o_name in sorted(candidates, reverse=True):
        if s_name not in pairs and o_name not in used:
            pairs[s_name] = o_name
            used.add(o_name)
    for s in states:
        if s.name not in pairs:
            raise _NoMatch(f"frame-stream needs an output shaped like state input {_shape_text(s)}")
    return [[s.name, pairs[s.name]] for s in states]


def _frame_stream(facts: ModelFacts, hints: dict) -> dict:
    """GTCRN/DTLN style: a frame input [1, F, 1, 2], an output of the same shape, state input/output pairs."""
    audio = facts.inputs[0]
    shape = audio.shape
    if shape is None or len(shape) != 4 or shape[2:] != (1, 2) or not isinstance(shape[1], int) \
            or not _batch_ok(shape[0]):
        raise _NoMatch("frame-stream needs a first input shaped [1, n_fft/2+1, 1, 2]")
    bins = shape[1]
    # the main output is the first with the frame's shape that no state input claims by name
    frames = [o for o in facts.outputs if _same_shape(o, audio)]
    if not frames:
        raise _NoMatch("frame-stream needs an output shaped like its frame input")
    state_names = [s.name.lower() for s in facts.inputs[1:]]
    frames.sort(key=lambda o: max((_name_score(s, o.name) for s in state_names), default=0.0))
    main = frames[0]
    states = _pair_states(facts, main.name)
    n_fft = 2 * (bins - 1)
    if "n_fft" in hints and str(hints["n_fft"]).strip() != str(n_fft):
        raise ModelError(f"{facts.name}: --n-fft {hints['n_fft']} does not fit the model's frame of {bins} bins "
                         f"(n_fft {n_fft})")
    if "sample_rate" not in hints:
        raise ModelError(f"{facts.name}: looks like a frame-stream model (GTCRN/DTLN style, n_fft {n_fft}, "
                         f"{len(states)} state pair(s)), but the file does not say its sample rate: give it with "
                         f"--rate (GTCRN runs at 16000)")
    contract = {"kind": "frame-stream", "task": "enhance", "channels": 1, "stems": ["main"], "input": audio.name,
                "output": main.name, "n_fft": n_fft, "hop": n_fft // 2, "window": "sqrt-hann", "states": states}
    return {**contract, **hints, "n_fft": n_fft}


def _waveform_output(facts: ModelFacts, channels) -> TensorSpec:
    """The first float output shaped [batch, channels, T] or [batch, stems, channels, T]."""
    for out in facts.outputs:
        shape = out.shape
        if out.dtype not in FLOATS or shape is None or len(shape) not in (3, 4) or not _batch_ok(shape[0]):
            continue
        if shape[-2] == channels or isinstance(shape[-2], str) or isinstance(channels, str):
            return out
    raise _NoMatch("waveform needs an output shaped [1, channels, T] or [1, stems, channels, T]")


def _waveform_stems(facts: ModelFacts, output: TensorSpec, hints: dict) -> tuple[list[str], str]:
    """The stem names and the default task for ``output``'s layout; the stem count must agree with the hint."""
    given = hints.get("stems")
    if len(output.shape) == 3:
        if given is not None and len(given) != 1:
            raise ModelError(f"{facts.name}: output {_shape_text(output)} holds one stem, but {len(given)} stem "
                             f"names were given")
        return given or ["main"], "enhance"
    count = output.shape[1]
    if isinstance(count, str):
        if given is None:
            raise ModelError(f"{facts.name}: output {_shape_text(output)} has a free number of stems: name them "
                             f"with --stems")
        return given, "separate"
    if given is not None and len(given) != count:
        raise ModelError(f"{facts.name}: output {_shape_text(output)} holds {count} stems, but {len(given)} stem "
                         f"names were given ({', '.join(given)})")
    return given or [f"stem{i + 1}" for i in range(count)], "separate"


def _waveform(facts: ModelFacts, hints: dict) -> dict:
    """One float input [batch, channels, T] with T free; output [batch, channels, T] or [batch, stems, channels, T]."""
    audio = facts.inputs[0]
    shape = audio.shape
    if len(facts.inputs) != 1 or shape is None or len(shape) not in (2, 3) or not _batch_ok(shape[0]):
        raise _NoMatch("waveform needs exactly one input shaped [1, channels, T]")
    if len(shape) == 2:
        # the contract's waveform layout is [1, channels, T] only: a [batch, T] model cannot be fed as it is
        raise ModelError(f"{facts.name}: input {_shape_text(audio)} is [batch, T] (mono without a channel axis); "
                         f"Restora's waveform contract takes [1, channels, T]: re-export the model with a channel "
                         f"axis (x.unsqueeze(1))")
    if not isinstance(shape[2], str):
        raise _NoMatch(f"waveform needs a free length T, but the input's length is fixed at {shape[2]} samples")
    channels = shape[1]
    if isinstance(channels, int) and channels not in (1, 2):
        raise _NoMatch(f"waveform takes 1 or 2 channels, not {channels}")
    if isinstance(channels, int) and hints.get("channels", channels) != channels:
        raise ModelError(f"{facts.name}: input {_shape_text(audio)} takes {channels} channel(s), not the "
                         f"{hints['channels']} given")
    output = _waveform_output(facts, channels)
    if isinstance(channels, str):
        channels = output.shape[-2] if isinstance(output.shape[-2], int) else hints.get("channels")
        if channels is None:
            raise ModelError(f"{facts.name}: input {_shape_text(audio)} does not fix its channel count: "
                             f"give it (1 or 2) with --channels")
    stems, task = _waveform_stems(facts, output, hints)
    if "sample_rate" not in hints:
        raise ModelError(f"{facts.name}: looks like a waveform model ({_shape_text(audio)} -> {_shape_text(output)}), "
                         f"but the file does not say its sample rate: give it with --rate")
    contract = {"kind": "waveform", "task": task, "channels": channels, "input": audio.name, "output": output.name}
    return {**contract, **hints, "stems": stems}


def _deepfilternet(facts: ModelFacts) -> bool:
    """True for one of DeepFilterNet's three exported files (encoder, ERB decoder, DF decoder)."""
    names = {s.name for s in facts.inputs}
    return bool(names & {"feat_erb", "feat_spec"}) or {"emb", "e3"} <= names or {"emb", "c0"} <= names


def detect(facts: ModelFacts, hints: dict | None = None) -> dict:
    """A contract dict (for ``contract.from_dict``) recognised from ``facts``' signature, with ``hints`` (the
    user's sample_rate, n_fft, hop, stems, task, channels, chunk_s, overlap_s, window, center) filling and overriding it.
    A model card's contract may be passed as hints too: its ``kind`` limits detection to that kind, and its
    input, output, states, dim_f and dim_t override the detected ones.

    ModelError when the signature fits no known kind (the message names what was found and what is missing), or
    when it fits but a number the file cannot state is not in ``hints``."""
    given = _clean_hints(hints)
    if not facts.inputs or not facts.outputs:
        raise ModelError(f"{facts.name}: the model has no {'inputs' if not facts.inputs else 'outputs'}")
    if _deepfilternet(facts):
        raise ModelError(f"{facts.name}: looks like one of DeepFilterNet's three ONNX files ({_signature(facts)}); "
                         "add the export's .tar.gz, or enc.onnx in a folder that also holds erb_dec.onnx, "
                         "df_dec.onnx and config.ini")
    if facts.inputs[0].dtype not in FLOATS:
        raise ModelError(f"{facts.name}: its first input {_shape_text(facts.inputs[0])} is not audio (not float); "
                         f"known contracts: {KNOWN}")
    matchers = {"mdx": _mdx, "frame-stream": _frame_stream, "waveform": _waveform}
    kind = (hints or {}).get("kind")
    if kind is not None and kind not in matchers:
        raise ModelError(f"{facts.name}: contract kind {kind!r} is not one Restora can run (known: {KNOWN})")
    missing = []
    for match in [matchers[kind]] if kind else matchers.values():
        try:
            return match(facts, given)
        except _NoMatch as why:
            missing.append(str(why))
    raise ModelError(f"{facts.name}: no known contract fits its signature ({_signature(facts)}); known: {KNOWN}; "
                     f"missing: {'; '.join(missing)}")
