"""A model the user added (``restora models add``) as a graph node: node type ``model:<id>``.

Each added model gets its own node type (:func:`node_class`), so its stems
are ports like a bundled separator's: ``main`` (the first stem), one port per
stem the card names, and ``rest`` = input − the sum of the stems,
computed at the node's rate so the stems and ``rest`` add up to the input
exactly, whatever resampling happened on the way to the model. (The graph's
own ``<id>.residual`` is, as for every node, input − ``main``.)

At any node rate ``sr`` (Hz), audio float32 ``[frames, channels]``: blocks
are resampled (soxr VHQ, streaming) to the contract's rate, run through the
contract's streaming processor (:func:`restora.models.byo.runtimes.processor_for`:
fixed chunks with cross-fades, or frame by frame with explicit recurrent
state, so the output does not depend on the block size and memory is one
chunk), and each stem is resampled back. Output sample ``i`` is aligned
with input sample ``i``; the latency is released by :meth:`finish`.

The model's files are checked against their manifest every time a node
starts (:func:`restora.models.byo.user_store.load`); a damaged or removed
model is a ModelError before any audio is read. Measurement at the end:
``real_time_factor``, the seconds spent in the model's runtime (resampling
excluded) over the seconds of audio.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import numpy as np

from restora.dsp.resample import StreamResampler
from restora.graph.node import Block, Measurement, Node, Outputs, Param, empty

TYPE_PREFIX = "model:"
REST = "rest"  # input - every stem (the graph's own "residual" port is input - main)


class UserModelNode(Node):
    """Base of the per-model node types; ``MODEL_ID`` and ``OUTPUTS`` are set by :func:`node_class`."""

    MODEL_ID = ""
    PARAMS = (Param("threads", 1, kind="int", minimum=1, maximum=16, doc="ONNX Runtime threads"),)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._stems: tuple[str, ...] = ()

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        from restora.models.byo import runtimes, user_store
        from restora.models.session import make_session

        model = user_store.load(self.MODEL_ID)
        contract = model.contract
        self._stems = contract.stems
        if contract.kind == "dfn3":  # three graphs, run by the bundled DeepFilterNet code
            from restora.models.byo.run_dfn3 import Dfn3Processor

            self._processor = Dfn3Processor(model.folder, contract, channels, self.params["threads"])
        else:
            session, _ = make_session(model.onnx, self.params["threads"])
            self._processor = runtimes.processor_for(session, contract, channels)
        # The stems travel side by side, [n, stems * channels], through one resampler and one queue.
        width = channels * len(self._stems)
        self._down = StreamResampler(sample_rate, contract.sample_rate, channels, "VHQ")
        self._up = StreamResampler(contract.sample_rate, sample_rate, width, "VHQ")
        self._pending = empty(width)
        self._mix = empty(channels)
        self._model_s, self._frames_in = 0.0, 0

    def _run(self, method, *args) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        out = method(*args)
        self._model_s += time.perf_counter() - start
        return out

    def process(self, block: Block) -> Outputs:
        block = np.asarray(block, np.float32)
        self._mix = np.concatenate([self._mix, block])
        self._frames_in += len(block)
        stems = self._run(self._processor.process, self._down.process(block))
        return self._emit(self._up.process(self._packed(stems)))

    def finish(self) -> Outputs:
        flushed = self._down.finish()
        more = self._run(self._processor.process, flushed) if len(flushed) else {}
        last = self._run(self._processor.finish)
        if self._frames_in:
            self.measurements.append(Measurement("real_time_factor",
                                                 self._model_s * self.sample_rate / self._frames_in))
        at_model = np.concatenate([self._packed(more), self._packed(last)]) if more else self._packed(last)
        out = self._emit(np.concatenate([self._up.process(at_model), self._up.finish()]))
        # A round trip through another rate can lose a frame or two to rounding: pad to the input's length.
        rest = self._emit(np.zeros((max(0, len(self._mix) - len(self._pending)), self._pending.shape[1]), np.float32))
        return {k: np.concatenate([v, rest[k]]) for k, v in out.items()}

    def close(self) -> None:
        self._processor = None

    def _packed(self, stems: dict[str, np.ndarray]) -> np.ndarray:
        """The stems [m, channels] each, side by side: [m, stems * channels]."""
        return np.concatenate([stems[s] for s in self._stems], axis=1)

    def _emit(self, new: np.ndarray) -> Outputs:
        """Frames the stems (packed, at the node rate) and the input have in common; rest = input − sum of stems."""
        self._pending = np.concatenate([self._pending, np.asarray(new, np.float32)])
        n = min(len(self._mix), len(self._pending))
        packed, self._pending = self._pending[:n], self._pending[n:]
        c = self.channels
        stems = {s: packed[:, i * c:(i + 1) * c] for i, s in enumerate(self._stems)}
        mix, self._mix = self._mix[:n], self._mix[n:]
        rest = (mix - sum(stems.values())).astype(np.float32)
        return {"main": stems[self._stems[0]].copy(), **stems, REST: rest}


@lru_cache(maxsize=None)
def _class_for(model_id: str, stems: tuple[str, ...], summary: str) -> type[UserModelNode]:
    ports = ("main", *(s for s in stems if s not in ("main", "residual", REST)), REST)
    return type(f"UserModel_{model_id}", (UserModelNode,),
                {"type_name": TYPE_PREFIX + model_id, "MODEL_ID": model_id, "OUTPUTS": ports,
                 "MAIN_PORT": stems[0] if stems[0] != "main" else None, "__doc__": summary})


def node_class(type_name: str) -> type[UserModelNode]:
    """The node class of ``model:<id>``; ModelError (naming the added ids) when no such model was added."""
    from restora.models.byo import user_store

    model = user_store.find(type_name[len(TYPE_PREFIX):])
    c = model.contract
    summary = f"{model.card.get('name', model.id)}: your {c.kind} model ({c.task}, {c.sample_rate} Hz)"
    return _class_for(model.id, c.stems, summary)


def type_names() -> list[str]:
    """``model:<id>`` of every added model (for the palette and ``restora nodes``)."""
    from restora.models.byo import user_store

    return [TYPE_PREFIX + m.id for m in user_store.list_models()]
