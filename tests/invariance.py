"""Helpers that run a Node over a stream cut into blocks and check block-size invariance.

Audio is float32 ``[frames, channels]``. Whole-file nodes (``NEEDS_WHOLE_FILE``)
get the two passes the graph runner gives them: ``analyze`` on every block,
then ``process`` on the same blocks and ``finish``.
"""

from __future__ import annotations

import dataclasses
from itertools import cycle
from typing import Callable, Iterable, Iterator

import numpy as np

from restora.graph.node import Node


def _blocks(audio: np.ndarray, block_frames: int | Iterable[int]) -> Iterator[np.ndarray]:
    sizes = cycle([block_frames] if isinstance(block_frames, int) else list(block_frames))
    start = 0
    while start < len(audio):
        size = max(1, int(next(sizes)))
        yield audio[start: start + size]
        start += size


def run_node_in_blocks(node_factory: Callable[[], Node], audio: np.ndarray, sr: int,
                       block_frames: int | Iterable[int]) -> dict[str, np.ndarray]:
    """Run a fresh node over ``audio`` in blocks of ``block_frames`` (an int or sizes to cycle).

    Returns every output concatenated, float32 ``[frames, channels]``.
    """
    return run_node_measured(node_factory, audio, sr, block_frames)[0]


def run_node_measured(node_factory: Callable[[], Node], audio: np.ndarray, sr: int,
                      block_frames: int | Iterable[int]) -> tuple[dict[str, np.ndarray], list[tuple]]:
    """Like :func:`run_node_in_blocks`, also returning the node's measurements as
    ``(name, value, unit, start_s, end_s)`` tuples."""
    audio = np.ascontiguousarray(audio, np.float32)
    node = node_factory()
    node.start(sr, audio.shape[1])
    if node.NEEDS_WHOLE_FILE:
        first = True
        while first or node.needs_another_pass():
            first = False
            for block in _blocks(audio, block_frames):
                node.analyze(block)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in node.OUTPUTS}
    for block in _blocks(audio, block_frames):
        for name, out in node.process(block).items():
            parts[name].append(out)
    for name, out in node.finish().items():
        parts[name].append(out)
    node.close()
    outputs = {name: np.concatenate(p) if p else np.zeros((0, audio.shape[1]), np.float32)
               for name, p in parts.items()}
    return outputs, [dataclasses.astuple(m) for m in node.measurements]


def assert_block_invariant(node_factory: Callable[[], Node], audio: np.ndarray, sr: int,
                           block_sizes_s: Iterable[float] = (1, 7, 60),
                           atol: float = 1e-4,
                           block_frames: Iterable[int] = (4799,)) -> dict[str, np.ndarray]:
    """Check that outputs and measurements equal the one-block run for every block size,
    and that outputs have the input's length.

    ``block_sizes_s`` are in seconds at ``sr``; ``block_frames`` adds sizes in
    frames (odd ones catch hop/segment alignment bugs). Returns the one-block
    outputs; :func:`assert_block_invariant_measured` also returns measurements.
    """
    return assert_block_invariant_measured(node_factory, audio, sr, block_sizes_s, atol, block_frames)[0]


def assert_block_invariant_measured(node_factory: Callable[[], Node], audio: np.ndarray, sr: int,
                                    block_sizes_s: Iterable[float] = (1, 7, 60), atol: float = 1e-4,
                                    block_frames: Iterable[int] = (4799,)
                                    ) -> tuple[dict[str, np.ndarray], list[tuple]]:
    """:func:`assert_block_invariant` returning ``(outputs, measurements)`` of the one-block run."""
    reference, ref_meas = run_node_measured(node_factory, audio, sr, len(audio))
    for name, out in reference.items():
        assert out.shape == audio.shape, f"{name}: {out.shape} != input {audio.shape}"
    sizes = [int(round(s * sr)) for s in block_sizes_s] + list(block_frames)
    for size in sizes:
        outs, meas = run_node_measured(node_factory, audio, sr, size)
        for name, out in outs.items():
            assert out.shape == reference[name].shape, f"{name}, blocks of {size}: shape {out.shape}"
            err = float(np.max(np.abs(out - reference[name]))) if out.size else 0.0
            assert err <= atol, f"{name}, blocks of {size} frames: max deviation {err:.3g} > {atol}"
        assert [m[0] for m in meas] == [m[0] for m in ref_meas], f"blocks of {size}: measurements differ"
        for got, want in zip(meas, ref_meas):
            assert _close(got[1:], want[1:], atol), f"blocks of {size}: {got} != {want}"
    return reference, ref_meas


def _close(a: tuple, b: tuple, atol: float) -> bool:
    return all((x is None and y is None) or (isinstance(x, str) and x == y)
               or (x is not None and y is not None and not isinstance(x, str) and abs(x - y) <= atol)
               for x, y in zip(a, b))
