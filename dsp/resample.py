"""Streaming sample-rate conversion over ``soxr.ResampleStream``.

Audio is float32 ``[frames, channels]``. libsoxr already removes its filter
delay from a stream (it returns fewer frames first, and the rest when flushed),
so output frame ``j`` sits at time ``j / out_rate`` like input frame
``j * in_rate / out_rate``. This wrapper adds what the graph relies on: exact
total length ``round(n_in * out_rate / in_rate)`` after :meth:`finish` (it
pads or trims the flushed tail should soxr's count ever differ), validated
rates, and channel/dtype handling.
"""

from __future__ import annotations

import numpy as np
import soxr

QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")


class StreamResampler:
    """Resample a stream of ``[frames, channels]`` blocks from ``in_rate`` to ``out_rate`` Hz."""

    def __init__(self, in_rate: float, out_rate: float, channels: int,
                 quality: str = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        if quality not in QUALITIES:
            raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
        self.in_rate = float(in_rate)
        self.out_rate = float(out_rate)
        self.channels = int(channels)
        self.quality = quality
        self.reset()

    def reset(self) -> None:
        """Start a new stream (drops all pending state)."""
        self._stream = soxr.ResampleStream(self.in_rate, self.out_rate, self.channels,
                                           dtype="float32", quality=self.quality)
        self.frames_in = 0
        self.frames_out = 0

    @property
    def identity(self) -> bool:
        return self.in_rate == self.out_rate

    def expected_frames(self, frames_in: int) -> int:
        """Output length for ``frames_in`` input frames."""
        return int(round(frames_in * self.out_rate / self.in_rate))

    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume ``block`` [frames, channels]; return the output frames ready."""
        block = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, self.channels)
        self.frames_in += len(block)
        out = block.copy() if self.identity else self._stream.resample_chunk(block)
        return self._count(out)

    def finish(self) -> np.ndarray:
        """Flush; the whole stream then has exactly ``expected_frames(frames_in)`` frames."""
        empty = np.zeros((0, self.channels), np.float32)
        tail = empty if self.identity else self._stream.resample_chunk(empty, last=True)
        missing = self.expected_frames(self.frames_in) - self.frames_out
        if missing < len(tail):
            tail = tail[:max(missing, 0)]
        elif missing > len(tail):
            tail = np.concatenate([tail, np.zeros((missing - len(tail), self.channels), np.float32)])
        return self._count(tail)

    def _count(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, np.float32).reshape(-1, self.channels)
        self.frames_out += len(out)
        return out


def resample(audio: np.ndarray, in_rate: float, out_rate: float, quality: str = "HQ") -> np.ndarray:
    """Whole-signal resampling of ``audio`` [frames, channels] (same rules as the stream)."""
    audio = np.asarray(audio, np.float32)
    mono = audio.ndim == 1
    audio = audio[:, None] if mono else audio
    rs = StreamResampler(in_rate, out_rate, audio.shape[1], quality)
    out = np.concatenate([rs.process(audio), rs.finish()])
    return out[:, 0] if mono else out
