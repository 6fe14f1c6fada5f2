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


UPSAMPLE_BLOCK = 65536  # source frames resampled per step


def upsampled_source(source: SourceAudio, rate: int, stop: threading.Event | None = None) -> SourceAudio:
    """``source`` resampled (soxr VHQ, as the CLI does before the graph) to ``rate`` Hz, filled by a thread.

    The result is a :class:`SourceAudio` of its own, ``frames`` =
    ``round(source.frames * rate / source.sample_rate)``, that follows the
    decoder: frames become valid (``decoded``) as the source's do, and it is
    ``complete`` once the source is. It is the timeline of the processed lanes
    when the chain runs at a higher *working rate* than the file's (an
    ``upscale`` node). ``stop`` ends the thread early (the result then stays
    incomplete but finished).
    """
    from restora.graph.file_job import upsampled_blocks

    rate, ratio = int(rate), int(rate) / source.sample_rate
    frames = round(source.frames * ratio)
    out = SourceAudio(source.path, rate, source.channels, frames,
                      np.zeros((frames + 1, source.channels), np.float32))
    stop = stop or threading.Event()

    def blocks():
        pos = 0
        while not stop.is_set():
            ended = source.complete or bool(source.error) or source.finished.is_set()
            available = source.decoded
            if available > pos:
                step = min(available, pos + UPSAMPLE_BLOCK)
                yield np.array(source.data[pos:step], dtype=np.float32)
                pos = step
            elif ended:
                return
            else:
                source.finished.wait(0.02)

    def fill():
        try:
            for block in upsampled_blocks(blocks(), source.sample_rate, rate, source.channels):
                if stop.is_set():
                    return
                need = out.decoded + len(block)
                if need > len(out.data):  # the file was longer than its header said
                    grown = np.zeros((max(need, 2 * len(out.data)), out.channels), np.float32)
                    grown[:out.decoded] = out.data[:out.decoded]
                    out.data = grown
                out.data[out.decoded:need] = block
                out.decoded = need
            if not stop.is_set():
                out.error = source.error
                out.frames = round(source.frames * ratio) if source.complete else out.decoded
                out.decoded = min(out.decoded, out.frames)
                out.complete = source.complete
        except Exception as exc:  # noqa: BLE001 — shown like a decoding error
            out.error = f"resampling to {rate} Hz failed: {exc}"
        finally:
            out.finished.set()

    threading.Thread(target=fill, name="restora-upsample", daemon=True).start()
    return out
