"""Runtime for ``dfn3`` contracts: a user's DeepFilterNet export, run by the bundled model's streaming code.

The export's three graphs were made stateful when the model was added
(:func:`restora.models.byo.add_dfn3.add_dfn3`, the same rewrite the bundled
DeepFilterNet3 gets), so :class:`restora.models.dfn3.Dfn3Stream` runs them
with every piece of state explicit. Audio float32 ``[n, channels]`` at 48 kHz;
each channel has its own stream. Output as every runtime here:
``{stem: [m, channels], "residual": input - stem}``, aligned with the input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restora.models.byo.runtimes import RESIDUAL, InputQueue, as_block


class Dfn3Processor:
    """DeepFilterNet enhancement of every channel; ``folder`` holds the stateful graphs and config.ini."""

    def __init__(self, folder: Path, contract, channels: int, threads: int = 1) -> None:
        from restora.models.dfn3 import Dfn3Session

        self.session = Dfn3Session(Path(folder), threads=threads, providers="cpu")
        self.names, self.channels = (contract.stems[0], RESIDUAL), channels
        self.reset()

    def reset(self) -> None:
        """A new stream: fresh per-channel states, nothing pending."""
        from restora.models.dfn3 import Dfn3Stream

        self.streams = [Dfn3Stream(self.session) for _ in range(self.channels)]
        self._pending = InputQueue(self.channels)

    def process(self, block: np.ndarray) -> dict[str, np.ndarray]:
        x = as_block(block, self.channels)
        self._pending.push(x)
        return self._pair([s.push(x[:, c]) for c, s in enumerate(self.streams)])

    def finish(self) -> dict[str, np.ndarray]:
        return self._pair([s.finish() for s in self.streams])

    def _pair(self, outs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The channels' outputs (equally long: every stream got the same samples) and the residual."""
        return self._pending.pair(np.stack(outs, axis=1).astype(np.float32), self.names)
