"""The decoded recording the workstation works on, shared by views, renderer and player."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class SourceAudio:
    """A recording decoded into memory, filled progressively by a loader thread.

    ``data`` is float32 [capacity, channels] at ``sample_rate`` Hz; only the
    first ``decoded`` frames are valid. The loader may replace ``data`` with a
    larger array when the file is longer than its header said, so readers
    fetch ``source.data`` afresh each time and never read past ``decoded``.
    ``frames`` is the expected length (exact once ``complete`` is True).
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int
    data: np.ndarray
    decoded: int = 0
    complete: bool = False
    error: str = ""
    finished: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_array(cls, audio: np.ndarray, sample_rate: int, path: Path | str = "<memory>") -> "SourceAudio":
        """A complete source from float32 [frames, channels] audio (tests, generated signals)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[:, None]
        src = cls(Path(path), int(sample_rate), audio.shape[1], len(audio), audio, len(audio), True)
        src.finished.set()
        return src

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def block(self, start: int, frames: int) -> np.ndarray:
        """Decoded frames ``start .. start+frames`` (shorter at the decoded end)."""
        start = max(0, int(start))
        return self.data[start:min(start + int(frames), self.decoded)]
