"""Runs a preset's graph over a stream of blocks, in bounded memory.

Each node reads one stream and may feed several consumers. Because every node
keeps output sample ``i`` aligned with input sample ``i`` (see
:mod:`restora.graph.node`), wet/dry mixing and residual outputs need only a
FIFO of the node's input. Nodes that need the whole file
(``NEEDS_WHOLE_FILE``) analyse their input while it is written to a disk spool,
then replay the spool through ``process`` once the stream has ended, feeding
their consumers in that second pass.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from restora.dsp import partial_files
from restora.errors import Cancelled, UsageError
from restora.graph.fifo import BlockFifo
from restora.graph.node import Measurement, Node
from restora.graph.preset import GRAPH_INPUT, RESIDUAL, NodeSpec, Preset
from restora.graph.registry import node_class
from restora.graph.spool import Spool

DEFAULT_BLOCK_FRAMES = 1 << 17  # ~2.7 s at 48 kHz: big enough for efficient model calls


class Sink(Protocol):
    """Where a stream ends: a file writer or an in-memory collector."""

    def write(self, block: np.ndarray) -> None: ...


class ArraySink:
    """Collects a stream in memory (Python API and tests)."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []

    def write(self, block: np.ndarray) -> None:
        self.blocks.append(np.array(block, dtype=np.float32, copy=True))

    def result(self, channels: int) -> np.ndarray:
        """The collected audio, float32 [frames, channels]."""
        if not self.blocks:
            return np.zeros((0, channels), np.float32)
        return np.concatenate(self.blocks, axis=0)


@dataclass
class _NodeRun:
    """A node in a running graph, with its consumers per output port."""

    spec: NodeSpec
    node: Node
    consumers: dict[str, list] = field(default_factory=dict)
    fifo: BlockFifo | None = None
    spool: Spool | None = None

    @property
    def whole_file(self) -> bool:
        return self.node.NEEDS_WHOLE_FILE and not self.spec.bypass


class GraphRun:
    """One execution of a preset at a given sample rate and channel count.

    ``sinks`` maps each of the preset's output names to a Sink. ``cancel`` is
    checked between blocks; ``progress(fraction)`` is called as work advances.
    """

    def __init__(self, preset: Preset, sample_rate: int, channels: int,
                 sinks: dict[str, Sink], *, workdir: Path | None = None,
                 block_frames: int = DEFAULT_BLOCK_FRAMES,
                 cancel: threading.Event | None = None,
                 progress: Callable[[float], None] | None = None) -> None:
        missing = set(preset.outputs) - set(sinks)
        if missing:
            raise UsageError(f"no destination for output(s) {', '.join(sorted(missing))}")
        self.preset = preset
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.block_frames = int(block_frames)
        self.cancel = cancel or threading.Event()
        self.progress = progress
        self.workdir = workdir
        self.runs: dict[str, _NodeRun] = {}
        self.roots: list = []
        for spec in preset.nodes:
            node = node_class(spec.type)(**spec.params)
            self.runs[spec.id] = _NodeRun(spec, node)
        for spec in preset.nodes:
            self._connect(spec.input, self.runs[spec.id])
        for out_name, stream in preset.outputs.items():
            self._connect(stream, sinks[out_name])
        self._deferred: list[_NodeRun] = []
        self._passes = 1 + sum(1 for r in self.runs.values() if r.whole_file)
        self._done_frames = 0
        self._total_frames = 0

    def _connect(self, stream: str, consumer) -> None:
        if stream == GRAPH_INPUT:
            self.roots.append(consumer)
            return
        node_id, _, port = stream.partition(".")
        self.runs[node_id].consumers.setdefault(port or "main", []).append(consumer)

    # -- driving ----------------------------------------------------------
    def run(self, blocks: Iterable[np.ndarray], total_frames: int | None = None) -> dict[str, list[Measurement]]:
        """Stream ``blocks`` (float32 [frames, channels]) through the graph.

        Returns the measurements of every node, by node id.
        """
        self._total_frames = (total_frames or 0) * self._passes
        try:
            for run in self.runs.values():
                run.node.start(self.sample_rate, self.channels)
                run.fifo = BlockFifo(self.channels)
            with tempfile.TemporaryDirectory(prefix=partial_files.spool_prefix(), dir=self.workdir) as tmp:
                self._tmp = Path(tmp)
                self._stream(blocks, self.roots)
                while self._deferred:
                    run = self._deferred.pop(0)
                    while run.node.needs_another_pass():
                        self._analysis_pass(run)
                    self._stream(run.spool.blocks(self.block_frames), [_Replay(self, run)])
                    run.spool.delete()
        finally:
            for run in self.runs.values():
                run.node.close()
        return {node_id: list(run.node.measurements) for node_id, run in self.runs.items()}

    def _analysis_pass(self, run: _NodeRun) -> None:
        for block in run.spool.blocks(self.block_frames):
            if self.cancel.is_set():
                raise Cancelled("cancelled")
            run.node.analyze(block)

    def _stream(self, blocks: Iterable[np.ndarray], consumers: list) -> None:
        for block in blocks:
            if self.cancel.is_set():
                raise Cancelled("cancelled")
            block = np.asarray(block, dtype=np.float32)
            for consumer in consumers:
                self._deliver(consumer, block)
            self._done_frames += len(block)
            if self.progress and self._total_frames:
                self.progress(min(1.0, self._done_frames / self._total_frames))
        for consumer in consumers:
            self._end(consumer)

    def _deliver(self, consumer, block: np.ndarray) -> None:
        if isinstance(consumer, _NodeRun):
            self._push(consumer, block)
        elif isinstance(consumer, _Replay):
            consumer.push(block)
        else:
            consumer.write(block)

    def _end(self, consumer) -> None:
        if isinstance(consumer, _NodeRun):
            self._finish(consumer)
        elif isinstance(consumer, _Replay):
            consumer.finish()

    # -- one node ---------------------------------------------------------
    def _push(self, run: _NodeRun, block: np.ndarray) -> None:
        if run.spec.bypass:
            self._emit(run, {"main": block}, block)
            return
        if run.whole_file:
            if run.spool is None:
                run.spool = Spool(self._tmp / f"{run.spec.id}.f32", self.channels)
            run.spool.write(block)
            run.node.analyze(block)
            return
        self._process(run, block)

    def _process(self, run: _NodeRun, block: np.ndarray) -> None:
        run.fifo.push(block)
        outs = run.node.process(block)
        self._emit_aligned(run, outs)

    def _emit_aligned(self, run: _NodeRun, outs: dict[str, np.ndarray]) -> None:
        frames = {len(v) for v in outs.values()}
        if len(frames) > 1:
            raise RuntimeError(f"node {run.spec.id!r} returned ports of unequal lengths {frames}")
        dry = run.fifo.pop(frames.pop() if frames else 0)
        self._emit(run, outs, dry)

    def _emit(self, run: _NodeRun, outs: dict[str, np.ndarray], dry: np.ndarray) -> None:
        mix = run.spec.mix
        main = outs["main"]
        if mix < 1.0 and not run.spec.bypass:
            main = (mix * main + (1.0 - mix) * dry).astype(np.float32)
        for port, consumers in run.consumers.items():
            if port == "main":
                data = main
            elif port == RESIDUAL:
                data = (dry - main).astype(np.float32)
            elif run.spec.bypass:
                data = np.zeros_like(dry)
            else:
                data = outs[port]
            for consumer in consumers:
                self._deliver(consumer, data)

    def _finish(self, run: _NodeRun) -> None:
        if run.whole_file:
            if run.spool is None:
                run.spool = Spool(self._tmp / f"{run.spec.id}.f32", self.channels)
            run.spool.close()
            self._deferred.append(run)
            return
        if not run.spec.bypass:
            self._emit_aligned(run, run.node.finish())
        for consumers in run.consumers.values():
            for consumer in consumers:
                self._end(consumer)


class _Replay:
    """Second pass of a whole-file node: feeds its spooled input to ``process``."""

    def __init__(self, graph: GraphRun, run: _NodeRun) -> None:
        self.graph, self.run = graph, run

    def push(self, block: np.ndarray) -> None:
        self.graph._process(self.run, block)

    def finish(self) -> None:
        graph, run = self.graph, self.run
        graph._emit_aligned(run, run.node.finish())
        for consumers in run.consumers.values():
            for consumer in consumers:
                graph._end(consumer)


def array_blocks(audio: np.ndarray, block_frames: int) -> Iterator[np.ndarray]:
    """Cut float32 [frames, channels] audio into blocks of ``block_frames``."""
    for start in range(0, len(audio), block_frames):
        yield audio[start:start + block_frames]
