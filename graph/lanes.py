"""Lanes: the named results the workstation shows, plays and exports.

A preset's outputs become *lanes* (the first one is the main result, the others
stems such as ``background``); Restora adds a ``removed`` lane, the input minus
the main lane, so a user can always hear what a chain took away.

A *scope* limits processing to a time range: outside it the main lane is the
original and every other lane is silent, and raised-cosine fades of
``fade_frames`` inside each edge splice the two without clicks. The same
:class:`LaneAssembler` feeds the live preview, the cached renders and exports,
so what the user hears is what gets written.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np

from restora.graph.fifo import BlockFifo
from restora.graph.preset import GRAPH_INPUT, RESIDUAL, Preset
from restora.graph.registry import node_class

REMOVED = "removed"
INPUT_STREAM = "__input"  # the original, carried through the graph run for splicing
DEFAULT_FADE_S = 0.02


@dataclass(frozen=True)
class Lane:
    """One result lane: ``name`` (file stem when exported), ``stream`` it reads, ``kind``.

    ``kind`` is ``"main"`` (the first preset output), ``"stem"`` (other outputs)
    or ``"removed"`` (input minus main; ``stream`` is empty).
    """

    name: str
    stream: str
    kind: str


def lanes_for(preset: Preset) -> list[Lane]:
    """The lanes of ``preset`` in display order: main, stems, then ``removed``.

    ``removed`` is left out when the outputs already split the input: a stem
    is the main stream's residual (dialogue-isolate's ``background``), or every
    output is a port of one separator node (stems-2's vocals/accompaniment).
    """
    lanes = []
    for index, (name, stream) in enumerate(preset.outputs.items()):
        lanes.append(Lane(name, stream, "main" if index == 0 else "stem"))
    if not _splits_input(preset, lanes) and REMOVED not in preset.outputs and lanes[0].stream != GRAPH_INPUT:
        lanes.append(Lane(REMOVED, "", "removed"))
    return lanes


def _splits_input(preset: Preset, lanes: list[Lane]) -> bool:
    main = lanes[0].stream
    if "." not in main and any(lane.stream == f"{main}.{RESIDUAL}" for lane in lanes[1:]):
        return True
    nodes = {lane.stream.split(".")[0] for lane in lanes}
    if len(lanes) < 2 or len(nodes) != 1 or GRAPH_INPUT in nodes:
        return False
    return node_class(preset.node(nodes.pop()).type).MAIN_PORT is not None


def lane_preset(preset: Preset) -> Preset:
    """A copy of ``preset`` whose outputs also carry the original as ``__input``."""
    new = copy.deepcopy(preset)
    new.outputs = dict(preset.outputs)
    new.outputs[INPUT_STREAM] = GRAPH_INPUT
    return new


def scope_weights(start: int, frames: int, scope: tuple[int, int] | None, fade_frames: int) -> np.ndarray:
    """Processed-signal weight for frames ``start .. start+frames``: float32 [frames] in [0, 1].

    1 inside ``scope`` (frame range, stop exclusive), 0 outside, with
    raised-cosine ramps of ``fade_frames`` just inside each edge.
    """
    if scope is None:
        return np.ones(frames, np.float32)
    a, b = int(scope[0]), int(scope[1])
    fade = max(1, min(int(fade_frames), (b - a) // 2)) if b > a else 1
    idx = np.arange(start, start + frames, dtype=np.float64)
    up = np.clip((idx - a + 0.5) / fade, 0.0, 1.0)
    down = np.clip((b - idx - 0.5) / fade, 0.0, 1.0)
    w = np.minimum(up, down)
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    w[(idx < a) | (idx >= b)] = 0.0
    return w.astype(np.float32)


class LaneAssembler:
    """Collects the aligned output streams of a :func:`lane_preset` run into lane blocks.

    ``emit(start_frame, lanes)`` receives consecutive chunks: ``start_frame``
    counts from ``first_frame`` (the frame of the source where the run began),
    ``lanes`` maps every lane name and ``__input`` to float32
    [frames, channels] blocks of equal length. ``scope`` is a frame range of
    the source (None = everything is processed).
    """

    def __init__(self, lanes: list[Lane], emit: Callable[[int, dict[str, np.ndarray]], None], *,
                 scope: tuple[int, int] | None = None, fade_frames: int = 882,
                 first_frame: int = 0) -> None:
        self.lanes = lanes
        self.emit = emit
        self.scope = scope
        self.fade_frames = int(fade_frames)
        self.position = int(first_frame)
        self._fifos = {lane.name: BlockFifo(0) for lane in lanes if lane.kind != "removed"}
        self._fifos[INPUT_STREAM] = BlockFifo(0)

    @property
    def sinks(self) -> dict[str, "_AssemblerSink"]:
        """One sink per output of the lane preset, to hand to a GraphRun."""
        return {name: _AssemblerSink(self, name) for name in self._fifos}

    def _written(self) -> None:
        ready = min(fifo.frames for fifo in self._fifos.values())
        if ready:
            self._emit(ready)

    def _emit(self, frames: int) -> None:
        data = {name: fifo.pop(frames) for name, fifo in self._fifos.items()}
        original = data[INPUT_STREAM]
        w = scope_weights(self.position, frames, self.scope, self.fade_frames)
        out: dict[str, np.ndarray] = {INPUT_STREAM: original}
        main = None
        for lane in self.lanes:
            if lane.kind == "removed":
                continue
            block = data[lane.name]
            if self.scope is not None:
                base = original if lane.kind == "main" else 0.0
                block = (base + w[:, None] * (block - base)).astype(np.float32)
            out[lane.name] = block
            if lane.kind == "main":
                main = block
        for lane in self.lanes:
            if lane.kind == "removed":
                out[lane.name] = (original - main).astype(np.float32)
        start, self.position = self.position, self.position + frames
        self.emit(start, out)


class _AssemblerSink:
    def __init__(self, owner: LaneAssembler, name: str) -> None:
        self.owner, self.name = owner, name

    def write(self, block: np.ndarray) -> None:
        self.owner._fifos[self.name].push(np.asarray(block, np.float32))
        self.owner._written()
