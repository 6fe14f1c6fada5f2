"""A FIFO of audio blocks, popped by frame count (used by the runner and the lane assembler)."""

from __future__ import annotations

from collections import deque

import numpy as np


class BlockFifo:
    """Queued float32 [frames, channels] blocks; ``frames`` is how many are queued."""

    def __init__(self, channels: int) -> None:
        self._blocks: deque[np.ndarray] = deque()
        self.channels = channels
        self.frames = 0

    def push(self, block: np.ndarray) -> None:
        if len(block):
            self._blocks.append(block)
            self.frames += len(block)

    def pop(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames, joined across blocks; RuntimeError if fewer are queued."""
        if frames > self.frames:
            raise RuntimeError("node returned more frames than it received")
        parts, need = [], frames
        while need > 0:
            head = self._blocks[0]
            if len(head) <= need:
                parts.append(self._blocks.popleft())
                need -= len(head)
            else:
                parts.append(head[:need])
                self._blocks[0] = head[need:]
                need = 0
        self.frames -= frames
        if not parts:
            return np.zeros((0, self.channels), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
