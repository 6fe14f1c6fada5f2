"""Disk-backed intermediate audio for two-pass nodes (bounded memory).

A spool is a raw little-endian float32 file of interleaved frames; it lives in
a temporary folder the runner owns and deletes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from restora.dsp import write_failure
from restora.errors import AudioOutputError


class Spool:
    """Append ``[frames, channels]`` float32 blocks, then read them back in blocks."""

    def __init__(self, path: Path, channels: int) -> None:
        self.path = Path(path)
        self.channels = int(channels)
        self.frames = 0
        self._file = open(self.path, "wb")

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` [frames, channels]."""
        if len(block) == 0:
            return
        try:
            self._file.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        except OSError as exc:
            self.close()
            raise AudioOutputError("intermediate file: " + write_failure.explain(exc, self.path, self.path)) from None
        self.frames += len(block)

    def close(self) -> None:
        """Finish writing (safe to call twice)."""
        if not self._file.closed:
            self._file.close()

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        """Yield the spooled audio as float32 [<=block_frames, channels] blocks."""
        self.close()
        step = block_frames * self.channels * 4
        with open(self.path, "rb") as f:
            while True:
                data = f.read(step)
                if not data:
                    return
                yield np.frombuffer(data, dtype="<f4").reshape(-1, self.channels).astype(np.float32)

    def delete(self) -> None:
        """Remove the file."""
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
