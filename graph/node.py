"""The contract every processing node follows.

A node turns a stream of audio blocks into one or more streams of audio blocks.
Audio is always ``float32`` shaped ``[frames, channels]`` at the graph's sample
rate (the rate of the input file, or higher where a node's :meth:`Node.stream_rate`
asks for more: the caller then resamples the input up before the graph); a
node that needs another rate resamples inside itself and carries the
resampler state.

Alignment rule (what makes latency compensation and wet/dry mixing trivial):
output sample ``i`` of every output corresponds to input sample ``i``. A node
with look-ahead therefore returns fewer frames than it received at first and
delivers the rest from :meth:`Node.finish`, so that, over a whole stream, each
output has exactly as many frames as the input. The frames a node has received
but not yet returned are its *latency* at that moment.

State (filter memories, STFT overlap, recurrent states) lives in attributes the
node owns and resets in :meth:`Node.start`; nothing depends on how the stream is
cut into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

Block = np.ndarray  # float32 [frames, channels]
Outputs = dict[str, Block]


class ParameterError(ValueError):
    """A parameter value is unknown, of the wrong type or out of range."""


MAX_TEXT = 500


@dataclass(frozen=True)
class Param:
    """Declaration of one node parameter.

    ``kind`` is ``"float"``, ``"int"``, ``"bool"``, ``"choice"`` or ``"text"`` (free
    text, whitespace collapsed, at most ``MAX_TEXT`` characters); ``unit`` is
    shown to users (``"dB"``, ``"Hz"``, ``"LUFS"``, ``"%"``...).
    """

    name: str
    default: Any
    kind: str = "float"
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    doc: str = ""

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ParameterError."""
        try:
            if self.kind == "bool":
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError(value)
                    return low in ("1", "true", "yes", "on")
                return bool(value)
            if self.kind == "text":
                value = " ".join(str(value).split())
                if len(value) > MAX_TEXT:
                    raise ParameterError(f"{self.name} is {len(value)} characters long (at most {MAX_TEXT})")
                return value
            if self.kind == "choice":
                value = str(value)
                if value not in self.choices:
                    raise ParameterError(
                        f"{self.name}={value!r} is not one of {', '.join(self.choices)}")
                return value
            number = int(value) if self.kind == "int" else float(value)
        except ParameterError:
            raise
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
            raise ParameterError(f"{self.name}={value!r} is not a valid {self.kind}") from None
        if not np.isfinite(number):
            raise ParameterError(f"{self.name}={value!r} must be a finite number")
        if self.minimum is not None and number < self.minimum or (
                self.maximum is not None and number > self.maximum):
            raise ParameterError(
                f"{self.name}={value!r} is out of range [{self.minimum}, {self.maximum}] {self.unit}".rstrip())
        return number


@dataclass
class Measurement:
    """A figure an analysis node attaches to the file or to a time segment.

    ``start_s``/``end_s`` are ``None`` for whole-file values.
    """

    name: str
    value: float | None
    unit: str = ""
    start_s: float | None = None
    end_s: float | None = None


class Node:
    """Base class: subclasses declare ``PARAMS`` and override the stream methods."""

    type_name: ClassVar[str] = "node"
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    OUTPUTS: ClassVar[tuple[str, ...]] = ("main",)
    #: The named port whose audio ``main`` repeats, if any (e.g. a separator's "vocals").
    MAIN_PORT: ClassVar[str | None] = None
    #: True when the node must see the whole stream before producing output
    #: (the graph then runs it as a second pass over a disk-backed intermediate).
    NEEDS_WHOLE_FILE: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        # Only validates parameters: presets build nodes to check them, so heavy
        # resources (model sessions) are loaded in start(), never here.
        self.params: dict[str, Any] = {}
        known = {p.name: p for p in self.PARAMS}
        for name in params:
            if name not in known:
                raise ParameterError(
                    f"unknown parameter {name!r} (known: {', '.join(known) or 'none'})")
        for p in self.PARAMS:
            self.params[p.name] = p.validate(params.get(p.name, p.default))
        self.measurements: list[Measurement] = []
        self.sample_rate = 0
        self.channels = 0

    @classmethod
    def stream_rate(cls, params: dict[str, Any], input_rate: int) -> int:
        """Sample rate (Hz) the graph must run at for this node, given the input's ``input_rate``.

        Nodes work at any rate, so the graph runs at the highest rate any of its
        nodes asks for (:meth:`restora.graph.preset.Preset.working_rate`); only
        a node that adds bandwidth (``upscale``) asks for more than the input's.
        """
        return int(input_rate)

    # -- stream interface -------------------------------------------------
    def start(self, sample_rate: int, channels: int) -> None:
        """Reset all state for a new stream at ``sample_rate`` Hz with ``channels`` channels."""
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.measurements = []

    def process(self, block: Block) -> Outputs:
        """Consume ``block`` [frames, channels]; return the frames ready per output."""
        raise NotImplementedError

    def analyze(self, block: Block) -> None:
        """First pass of a ``NEEDS_WHOLE_FILE`` node: look at ``block`` without output.

        The runner feeds every block to ``analyze``, then the same blocks again
        to ``process`` and finally calls ``finish``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not need a first pass")

    def needs_another_pass(self) -> bool:
        """After an analysis pass: True to see every block through ``analyze`` once more.

        Lets a whole-file node refine a decision (e.g. simulate a limiter to
        correct a loudness gain). The node counts its own passes.
        """
        return False

    def finish(self) -> Outputs:
        """End of stream: return the remaining frames of every output."""
        return {name: np.zeros((0, self.channels), np.float32) for name in self.OUTPUTS}

    def close(self) -> None:
        """Release heavy resources (model sessions). Optional."""


def empty(channels: int) -> Block:
    """A zero-length block with ``channels`` channels."""
    return np.zeros((0, channels), np.float32)


@dataclass
class NodeInfo:
    """Registry entry describing a node type for presets, the CLI and the GUI."""

    type_name: str
    cls: type[Node]
    summary: str = ""
    params: tuple[Param, ...] = field(default_factory=tuple)
