"""Helpers that run a Node over a stream cut into blocks and check block-size invariance.

Audio is float32 ``[frames, channels]``. Whole-file nodes (``NEEDS_WHOLE_FILE``)
get the two passes the graph runner gives them: ``analyze`` on every block,
then ``process`` on the same blocks and ``finish``.
"""

from __future__ import annotations

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
    return {name: np.concatenate(p) if p else np.zeros((0, audio.shape[1]), np.float32)
            for name, p in parts.items()}


def assert_block_invariant(node_factory: Callable[[], Node], audio: np.ndarray, sr: int,
                           block_sizes_s: Iterable[float] = (1, 7, 60),
                           atol: float = 1e-4,
                           block_frames: Iterable[int] = (4799,)) -> dict[str, np.ndarray]:
    """Check that outputs equal the one-block run for every block size, and have the input's length.

    ``block_sizes_s`` are in seconds at ``sr``; ``block_frames`` adds sizes in
    frames (odd ones catch hop/segment alignment bugs). Returns the one-block outputs.
    """
    reference = run_node_in_blocks(node_factory, audio, sr, len(audio))
    for name, out in reference.items():
        assert out.shape == audio.shape, f"{name}: {out.shape} != input {audio.shape}"
    sizes = [int(round(s * sr)) for s in block_sizes_s] + list(block_frames)
    for size in sizes:
        outs = run_node_in_blocks(node_factory, audio, sr, size)
        for name, out in outs.items():
            assert out.shape == reference[name].shape, f"{name}, blocks of {size}: shape {out.shape}"
            err = float(np.max(np.abs(out - reference[name]))) if out.size else 0.0
            assert err <= atol, f"{name}, blocks of {size} frames: max deviation {err:.3g} > {atol}"
    return reference
