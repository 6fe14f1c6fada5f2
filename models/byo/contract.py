"""How to run a user's ONNX model: the ``contract`` block of a model card (format 1), checked on load.

A contract says which of the known calling conventions a file follows and the
numbers the file itself may not state. JSON form (all keys listed; defaults
in brackets)::

    {"kind": "waveform" | "mdx" | "frame-stream" | "dfn3",
     "task": "enhance" | "separate" | "extract" | "upscale",
     "sample_rate": 44100,          # Hz the model runs at; audio is resampled to it
     "channels": 2,                 # 1 (mono) or 2 (stereo) channels the model takes
     "stems": ["vocals"],           # names of the sources the model outputs [["main"]]
     "input": "input",              # the audio / spectrogram input's name
     "output": "output",            # the output's name
     "chunk_s": 10.0, "overlap_s": 1.0,   # chunking with normalised overlap-add [kind-dependent]
     # mdx only: UVR MDX-Net spectrogram models
     "n_fft": 6144, "hop": 1024, "dim_f": 2048, "dim_t": 256,
     # frame-stream only: one STFT frame per call, recurrent state fed back
     "n_fft": 512, "hop": 256, "window": "hann" | "sqrt-hann" | "hann-symmetric" | "sqrt-hann-symmetric",
     "center": true,                # first frame centred on sample 0, the start reflected [hop == n_fft/2]
     "states": [["conv_cache", "conv_cache_out"], ...]}   # (state input, state output) pairs

Kinds and tensor layouts:

- ``waveform``: ``input`` float32 ``[1, channels, T]``; ``output``
  ``[1, channels, T]`` (one stem) or ``[1, stems, channels, T]``; the model
  sees chunks of ``chunk_s`` seconds.
- ``mdx``: UVR MDX-Net. ``input`` float32 ``[1, 4, dim_f, dim_t]``: the
  complex STFT (``n_fft``, ``hop``, periodic Hann, centred) of a stereo chunk,
  channels ``[L.re, L.im, R.re, R.im]``, the first ``dim_f`` bins, ``dim_t``
  frames; ``output`` the same layout: the estimated stem's spectrogram
  (``stems`` has one name). Chunks are ``hop * (dim_t - 1)`` samples.
- ``frame-stream`` (GTCRN/DTLN style): ``input`` float32 ``[1, n_fft/2+1, 1, 2]``,
  one frame's complex spectrum (re, im); ``output`` the same layout, the
  enhanced frame; each ``states`` pair is fed back from one call to the next,
  starting at zeros. Mono; streaming, so no chunks. ``center`` (the
  librosa/torch convention GTCRN was trained with): frame ``k`` covers
  samples ``[k*hop - n_fft/2, k*hop + n_fft/2)`` with the signal reflected
  about its first and last samples; otherwise the stream starts from zeros
  (DTLN's convention). Recurrent models remember their first frames for
  seconds, so this matters beyond the start.

- ``dfn3``: a DeepFilterNet export (``enc.onnx``, ``erb_dec.onnx``,
  ``df_dec.onnx``, ``config.ini``), made stateful when it is added and run
  by the bundled DeepFilterNet3 code; 48 kHz, mono per channel, one stem.

The output's meaning is fixed by the kind (a waveform, or a spectrogram that
replaces the input's); a stem not named is the residual, ``input - sum(stems)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from restora.errors import ModelError

FORMAT = 1
KINDS = ("waveform", "mdx", "frame-stream", "dfn3")
TASKS = ("enhance", "separate", "extract", "upscale")
WINDOWS = ("hann", "sqrt-hann", "hann-symmetric", "sqrt-hann-symmetric")  # periodic unless "symmetric"
RATE_LIMITS = (8000, 192000)
CHUNK_LIMITS_S = (0.05, 120.0)
N_FFT_LIMITS = (64, 16384)


@dataclass(frozen=True)
class Contract:
    """A validated contract (module docstring); build with :func:`from_dict`."""

    kind: str
    task: str
    sample_rate: int
    channels: int
    input: str
    output: str
    stems: tuple[str, ...] = ("main",)
    chunk_s: float = 10.0
    overlap_s: float = 1.0
    n_fft: int = 0
    hop: int = 0
    dim_f: int = 0
    dim_t: int = 0
    window: str = "hann"
    center: bool = False
    states: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (lists for tuples)."""
        data = asdict(self)
        data["stems"] = list(self.stems)
        data["states"] = [list(pair) for pair in self.states]
        return data


def _number(data: dict, key: str, kind: type, limits: tuple, default=None):
    value = data.get(key, default)
    if value is None:
        raise ModelError(f"the model's contract needs '{key}' (the file does not say it)")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ModelError(f"contract '{key}' must be a number, not {value!r}") from None
    if isinstance(value, bool) or not limits[0] <= number <= limits[1] or number != number:
        raise ModelError(f"contract '{key}' = {value!r} is outside {limits[0]}..{limits[1]}")
    return number


def _names(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise ModelError(f"contract '{key}' must be a non-empty list of names")
    if len(set(value)) != len(value):
        raise ModelError(f"contract '{key}' repeats a name: {list(value)}")
    return tuple(value)


def _kind_fields(data: dict, kind: str) -> dict[str, Any]:
    """The fields only some kinds have, checked."""
    if kind == "dfn3":
        return {"chunk_s": 0.0, "overlap_s": 0.0}
    if kind == "waveform":
        chunk = _number(data, "chunk_s", float, CHUNK_LIMITS_S, 10.0)
        overlap = _number(data, "overlap_s", float, (0.0, chunk / 2), min(1.0, chunk / 4))
        return {"chunk_s": chunk, "overlap_s": overlap}
    if kind == "mdx":
        n_fft = _number(data, "n_fft", int, N_FFT_LIMITS)
        hop = _number(data, "hop", int, (16, n_fft), 1024)
        dim_f = _number(data, "dim_f", int, (1, n_fft // 2 + 1))
        dim_t = _number(data, "dim_t", int, (2, 8192))
        overlap = _number(data, "overlap_s", float, (0.0, 60.0), 0.0)
        return {"n_fft": n_fft, "hop": hop, "dim_f": dim_f, "dim_t": dim_t, "overlap_s": overlap,
                "chunk_s": hop * (dim_t - 1) / float(data["sample_rate"])}
    n_fft = _number(data, "n_fft", int, N_FFT_LIMITS)
    hop = _number(data, "hop", int, (16, n_fft))
    window = data.get("window", "hann")
    if window not in WINDOWS:
        raise ModelError(f"contract 'window' {window!r} is not one of {WINDOWS}")
    states = data.get("states", [])
    if not isinstance(states, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in states):
        raise ModelError("contract 'states' must be a list of [state input, state output] pairs")
    center = data.get("center", n_fft == 2 * hop)
    if not isinstance(center, bool):
        raise ModelError(f"contract 'center' must be true or false, not {center!r}")
    if center and n_fft != 2 * hop:
        raise ModelError(f"'center' framing needs hop = n_fft / 2 (here n_fft {n_fft}, hop {hop}); set center false")
    return {"n_fft": n_fft, "hop": hop, "window": window, "chunk_s": 0.0, "overlap_s": 0.0, "center": center,
            "states": tuple((str(a), str(b)) for a, b in states)}


def from_dict(data: dict[str, Any]) -> Contract:
    """A :class:`Contract` from its JSON form; ModelError naming the first missing or absurd field."""
    if not isinstance(data, dict):
        raise ModelError("the model card's 'contract' must be a JSON object")
    kind, task = data.get("kind"), data.get("task")
    if kind not in KINDS:
        raise ModelError(f"contract kind {kind!r} is not one Restora can run (known: {', '.join(KINDS)})")
    if task not in TASKS:
        raise ModelError(f"contract task {task!r} is not one of {', '.join(TASKS)}")
    rate = _number(data, "sample_rate", int, RATE_LIMITS)
    channels = _number(data, "channels", int, (1, 2), 1)
    if kind == "mdx" and channels != 2 or kind in ("frame-stream", "dfn3") and channels != 1:
        raise ModelError(f"a '{kind}' model takes {'2 channels' if kind == 'mdx' else '1 channel'}, not {channels}")
    if kind == "dfn3":
        if rate != 48000:
            raise ModelError(f"a DeepFilterNet export must run at 48000 Hz; its config.ini says {rate}")
        data = {"input": "enc.onnx", "output": "df_dec.onnx", **data}
    stems = _names(data.get("stems", ["main"]), "stems")
    if {"residual", "rest"} & set(stems):
        raise ModelError("stem names 'residual' and 'rest' are taken (input - main, input - every stem)")
    if kind != "waveform" and len(stems) != 1:
        raise ModelError(f"a '{kind}' model outputs one stem, not {len(stems)}")
    names = {key: data.get(key) for key in ("input", "output")}
    for key, name in names.items():
        if not isinstance(name, str) or not name:
            raise ModelError(f"the model's contract needs '{key}': the name of its {key} tensor")
    return Contract(kind=kind, task=task, sample_rate=rate, channels=channels, input=names["input"],
                    output=names["output"], stems=stems, **_kind_fields(dict(data, sample_rate=rate), kind))
