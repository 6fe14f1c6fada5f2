"""Fixed windows over a stream, joined with cross-fades: block-size invariant processing for window models.

Model nodes whose network runs on whole windows (the extraction and
super-resolution models) see the stream cut at fixed positions from its
start, never where the caller's blocks happen to fall, so their output does
not depend on the block size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from restora.dsp.crossfade import crossfade_weights


class WindowedProcessor:
    """Run ``fn`` on fixed windows of a stream and join its outputs with cross-fades, as a stream.

    ``fn(chunk [n, C] float32) -> [n, C]`` sees windows of ``window`` frames
    starting at multiples of ``window - overlap`` frames from the stream's
    start (the last one shorter), so the result does not depend on how the
    stream is cut into blocks. Outputs are joined with
    :func:`restora.dsp.crossfade.crossfade_weights` (weights summing to one).
    Same interface as :class:`restora.dsp.stft.SpectralProcessor`: output frame
    ``i`` belongs to input frame ``i``; after :meth:`finish` as many frames came
    out as went in. Memory: one window of input and output.
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], window: int, overlap: int, channels: int) -> None:
        if not 0 <= overlap < window:
            raise ValueError(f"overlap {overlap} must be shorter than the window {window} (frames)")
        self.fn, self.window, self.overlap = fn, window, overlap
        self._input = np.zeros((0, channels), np.float32)  # input from stream frame self._origin on
        self._origin = 0
        self._acc = np.zeros((0, channels))        # weighted outputs from self._origin on
        self._weight = np.zeros(0)
        self._next = 0                             # stream frame where the next window starts

    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume ``block`` [frames, channels]; return the output frames no later window touches."""
        self._input = np.concatenate([self._input, np.asarray(block, np.float32)])
        while self._next + self.window <= self._origin + len(self._input):
            self._run(last=False)
        return self._emit(self._next - self._origin)

    def finish(self) -> np.ndarray:
        """The rest: one last (shorter) window covers the tail left after the last full one."""
        if len(self._input) and self._next < self._origin + len(self._input):
            self._run(last=True)
        return self._emit(len(self._input))

    def _run(self, last: bool) -> None:
        """Add the weighted output of the window starting at stream frame ``self._next``."""
        a = self._next - self._origin
        chunk = self._input[a:a + self.window]
        n = len(chunk)
        w = crossfade_weights(n, self.overlap, first=self._next == 0, last=last)
        grow = max(a + n - len(self._acc), 0)
        self._acc = np.concatenate([self._acc, np.zeros((grow, self._acc.shape[1]))])
        self._weight = np.concatenate([self._weight, np.zeros(grow)])
        self._acc[a:a + n] += w[:, None] * self.fn(chunk)
        self._weight[a:a + n] += w
        self._next += self.window - self.overlap

    def _emit(self, count: int) -> np.ndarray:
        """Output the first ``count`` frames (final: no later window overlaps them) and drop them."""
        count = max(0, min(count, len(self._acc)))
        out = (self._acc[:count] / self._weight[:count, None]).astype(np.float32)
        self._input, self._acc, self._weight = self._input[count:], self._acc[count:], self._weight[count:]
        self._origin += count
        return out
