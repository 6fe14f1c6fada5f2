"""Runtime for ``waveform`` contracts: the model maps a chunk of audio to one or more stems' audio.

Model I/O: ``input`` float32 ``[1, channels, T]``; ``output`` ``[1, channels, T]``
(one stem) or ``[1, stems, channels, T]``. The stream is cut into chunks of
``chunk_s`` seconds at fixed positions from its start, joined by cross-fades
over ``overlap_s`` (:class:`restora.dsp.windowed.WindowedProcessor`), so the
output does not depend on the caller's block size. The last chunk is shorter
and is fed at its actual length (a model that needs a fixed T fails with its
own message as a ModelError).
"""

from __future__ import annotations

import numpy as np

from restora.dsp.windowed import WindowedProcessor
from restora.errors import ModelError
from restora.models.byo.runtimes import RESIDUAL, as_block, empty_outputs, run_model


class WaveformProcessor:
    """Stream ``[n, channels]`` float32 at the contract's rate → ``{stem: [m, channels]}`` plus the residual.

    ``channels`` is the model's (``contract.channels``). The windowed joiner
    carries ``(stems + 1) * channels`` columns: every stem and the residual of
    each chunk are cross-faded together (the cross-fade is linear, so the
    joined residual is the input minus the joined stems). The input is padded
    with zero columns to that width because the joiner keeps one width.
    """

    def __init__(self, session, contract) -> None:
        self.session, self.contract = session, contract
        self.channels = contract.channels
        self.names = tuple(contract.stems) + (RESIDUAL,)
        self.window = max(1, int(round(contract.chunk_s * contract.sample_rate)))
        self.overlap = min(int(round(contract.overlap_s * contract.sample_rate)), self.window // 2)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new one starts at frame 0)."""
        width = len(self.names) * self.channels
        self._joiner = WindowedProcessor(self._chunk, self.window, self.overlap, width)

    def process(self, block: np.ndarray) -> dict[str, np.ndarray]:
        """Consume ``block`` [n, channels]; return the frames no later chunk changes."""
        x = as_block(block, self.channels)
        padded = np.zeros((len(x), len(self.names) * self.channels), np.float32)
        padded[:, :self.channels] = x
        return self._split(self._joiner.process(padded))

    def finish(self) -> dict[str, np.ndarray]:
        """The rest of the stream (the last, shorter chunk)."""
        return self._split(self._joiner.finish())

    def _split(self, joined: np.ndarray) -> dict[str, np.ndarray]:
        if len(joined) == 0:
            return empty_outputs(self.names, self.channels)
        c = self.channels
        return {name: joined[:, i * c:(i + 1) * c] for i, name in enumerate(self.names)}

    def _chunk(self, padded: np.ndarray) -> np.ndarray:
        """One chunk ``[T, width]`` (input in the first ``channels`` columns) → ``[T, width]`` stems + residual."""
        x = padded[:, :self.channels]
        stems = self._run(x)                                   # [stems, T, channels]
        residual = x - stems.sum(axis=0, dtype=np.float64)
        return np.concatenate(list(stems) + [residual], axis=1).astype(np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """The model on ``x`` [T, channels] → stems [stems, T, channels] float32; ModelError on a wrong shape."""
        feed = np.ascontiguousarray(x.T[None])
        (out,) = run_model(self.session, [self.contract.output], {self.contract.input: feed})
        out = np.asarray(out, np.float32)
        count, t = len(self.contract.stems), len(x)
        if out.ndim == 3 and count == 1:
            out = out[:, None]
        if out.ndim != 4 or out.shape[:3] != (1, count, self.channels):
            want = f"[1, {self.channels}, T]" if count == 1 else f"[1, {count}, {self.channels}, T]"
            raise ModelError(f"the model's output '{self.contract.output}' has shape {list(out.shape)}; "
                             f"the contract expects {want}")
        if out.shape[3] != t:
            raise ModelError(f"the model returned {out.shape[3]} samples for a chunk of {t}; "
                             "a waveform model must keep the length")
        return np.transpose(out[0], (0, 2, 1))
