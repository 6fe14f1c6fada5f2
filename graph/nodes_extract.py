"""``extract``: keep or remove what a text query names ("dog barking", "the piano"), any rate, any length."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from restora.dsp.windowed import WindowedProcessor
from restora.errors import UsageError
from restora.graph.fifo import BlockFifo
from restora.graph.node import Block, Measurement, Node, Outputs, Param

log = logging.getLogger(__name__)

WINDOW_S, OVERLAP_S = 8.0, 1.0


class ExtractNode(Node):
    """Language-queried extraction (``restora.models.lass``): ``target`` is what the query names, ``residual`` the rest.

    ``main`` is the target in ``extract`` mode and the residual in ``remove``
    mode; ``strength`` (0..1) blends towards the unprocessed input (0 = the
    input unchanged). ``target + residual`` is the input. The stream is cut at
    fixed positions into windows of 8 s overlapping by 1 s, cross-faded with
    weights that sum to one, so the output does not depend on the block size;
    output sample ``i`` is aligned with input ``i`` (the 8 s latency is released
    by ``finish``). The query's confidence (cosine to the nearest trained
    concept) is reported as the measurement ``query_confidence``; a query the
    model does not know is logged as a warning.
    """

    type_name = "extract"
    OUTPUTS = ("main", "target", "residual")
    MAIN_PORT = "target"
    PARAMS = (
        Param("query", "speech", kind="text", doc="what to extract or remove, in plain words"),
        Param("mode", "extract", kind="choice", choices=("extract", "remove"),
              doc="extract: main = what the query names; remove: main = everything else"),
        Param("strength", 1.0, minimum=0.0, maximum=1.0, doc="0 = input unchanged, 1 = full separation"),
        Param("threads", 1, kind="int", minimum=1, maximum=16, doc="ONNX Runtime threads"),
    )

    def __init__(self, extractor: Any = None, **params: Any) -> None:
        super().__init__(**params)
        self._extractor = extractor

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        if not self.params["query"]:
            raise UsageError("the extract node needs a query, e.g. query=\"dog barking\"")
        if self._extractor is None:  # heavy: loaded here, never in __init__
            from restora.models.lass import extractor
            self._extractor = extractor(self.params["threads"])
        self.info = self._extractor.understand(self.params["query"])
        self.measurements.append(Measurement("query_confidence", round(self.info.confidence, 3)))
        if not self.info.confident:
            log.warning("warning: query %r is outside what the model knows (confidence %.2f); nearest known: %s. "
                        "The result may be unrelated to the query.", self.info.text, self.info.confidence,
                        ", ".join(c for c, _ in self.info.nearest[:3]))
        window = int(WINDOW_S * sample_rate)
        overlap = window - int((WINDOW_S - OVERLAP_S) * sample_rate)
        self._windows = WindowedProcessor(lambda chunk: self._extractor.extract(chunk, self.sample_rate, self.info),
                                          window, overlap, channels)
        self._mix = BlockFifo(channels)  # input waiting for its windows' target

    def process(self, block: Block) -> Outputs:
        block = np.asarray(block, np.float32)
        self._mix.push(block)
        return self._outputs(self._windows.process(block))

    def finish(self) -> Outputs:
        return self._outputs(self._windows.finish())

    def _outputs(self, target: np.ndarray) -> Outputs:
        """Outputs for the next ``len(target)`` input frames, given the model's cross-faded ``target``."""
        mix = self._mix.pop(len(target))
        s = self.params["strength"]
        target = (s * target + (1.0 - s) * mix).astype(np.float32) if self.params["mode"] == "extract" \
            else (s * target).astype(np.float32)
        residual = (mix - target).astype(np.float32)
        main = target if self.params["mode"] == "extract" else residual
        return {"main": main.copy(), "target": target, "residual": residual}
