"""Running mono model streams at the model's sample rate inside a node at any rate.

Many models are fixed-rate and mono (DFN3 at 48 kHz, GTCRN at 16 kHz). A node
resamples its ``[frames, channels]`` blocks to the model rate, gives each
channel to its own stream, and resamples back. This class owns that plumbing
and keeps the node contract: output sample ``i`` is aligned with input sample
``i``, never more frames out than in, and exactly as many in total.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from restora.dsp.resample import StreamResampler


class MonoStream(Protocol):
    """A model's streaming state for one channel at the model rate."""

    def push(self, samples: np.ndarray) -> np.ndarray: ...   # float32 [n] -> [m], aligned

    def finish(self) -> np.ndarray: ...                       # the rest; total out == total in


class ModelRateBridge:
    """Resample ``[frames, channels]`` at ``node_rate`` to ``model_rate``, run one stream per channel, and back."""

    def __init__(self, node_rate: int, model_rate: int, streams: Sequence[MonoStream],
                 quality: str = "VHQ", *, channels: int | None = None) -> None:
        # ``channels`` is for subclasses whose _run groups channels differently (stereo models).
        self.streams = list(streams)
        self.channels = len(self.streams) if channels is None else channels
        self._down = StreamResampler(node_rate, model_rate, self.channels, quality)
        self._up = StreamResampler(model_rate, node_rate, self.channels, quality)
        self._frames_in = 0
        self._frames_out = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume ``block`` [frames, channels]; return the aligned frames ready."""
        self._frames_in += len(block)
        at_model = self._down.process(block)
        return self._limit(self._up.process(self._run(at_model, final=False)))

    def finish(self) -> np.ndarray:
        """Flush resamplers and streams; the stream's total equals its input's length."""
        at_model = self._run(self._down.finish(), final=True)
        out = self._limit(np.concatenate([self._up.process(at_model), self._up.finish()]))
        missing = self._frames_in - self._frames_out
        if missing > 0:  # a round trip through another rate can lose a frame to rounding
            out = np.concatenate([out, np.zeros((missing, self.channels), np.float32)])
            self._frames_out += missing
        return out

    def _run(self, at_model: np.ndarray, final: bool) -> np.ndarray:
        # Each stream gets the same samples count, so all return equally many.
        outs = []
        for c, stream in enumerate(self.streams):
            y = stream.push(np.ascontiguousarray(at_model[:, c]))
            outs.append(np.concatenate([y, stream.finish()]) if final else y)
        return np.stack(outs, axis=1).astype(np.float32, copy=False)

    def _limit(self, out: np.ndarray) -> np.ndarray:
        """Never hand out more frames than came in (the round trip may gain one)."""
        out = out[:max(0, self._frames_in - self._frames_out)]
        self._frames_out += len(out)
        return np.ascontiguousarray(out, np.float32)
