"""Source separation as a graph node: vocals / accompaniment (Spleeter) or speech / background (DFN3).

Outputs ``main`` (= the target: vocals or speech), ``vocals`` and
``accompaniment`` (for ``model="dialogue"``: speech and background). The
second stem is always the residual ``input - target`` computed at the file's
rate, so the two stems add up to the input exactly (float32 rounding aside),
whatever resampling happened on the way to the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from restora.graph.model_rate import ModelRateBridge
from restora.graph.node import Block, Node, Outputs, Param, empty

MODELS = ("spleeter-2stems", "dialogue")


class SeparateNode(Node):
    """Split the input into a target stem and its residual, at any sample rate.

    ``spleeter-2stems``: the input is resampled (soxr VHQ, streaming) to
    44.1 kHz, separated by :class:`restora.models.spleeter.SpleeterSeparator`
    (pairs of channels; a lone last channel as mono), and the vocals are
    resampled back. ``dialogue``: speech from the deepfilternet3 node (its own
    48 kHz bridge), background = input − speech; ``masks`` does not apply.

    Output sample ``i`` is aligned with input sample ``i``; the latency (several
    seconds for Spleeter: overlapping 512-frame segments) is held back and
    released by :meth:`finish`, so each output has exactly as many frames as the
    input. ``run`` (constructor only) injects the Spleeter model callable
    (tests); ``model_dir`` overrides the model store folder.
    """

    type_name = "separate"
    OUTPUTS = ("main", "vocals", "accompaniment")
    #: ``main`` carries the same audio as this port (editors name the main lane after it).
    MAIN_PORT = "vocals"
    PARAMS = (
        Param("model", "spleeter-2stems", kind="choice", choices=MODELS,
              doc="spleeter-2stems: vocals/accompaniment; dialogue: speech/background (DeepFilterNet3)"),
        Param("masks", "ratio", kind="choice", choices=("ratio", "wiener"),
              doc="ratio: the model's soft masks; wiener: refined by a multichannel Wiener filter"),
        Param("threads", 1, kind="int", minimum=1, maximum=16, doc="ONNX Runtime threads"),
    )

    def __init__(self, run: Callable | None = None, model_dir: str | Path | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self._run = run
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self._target: _TargetStream | None = None

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        if self.params["model"] == "dialogue":
            self._target = _DialogueTarget(sample_rate, channels, self.params["threads"], self.model_dir)
        else:
            if self._run is None:  # heavy: loaded here, never in __init__
                from restora.models.spleeter import onnx_runner
                self._run = onnx_runner(self.model_dir, self.params["threads"])
            self._target = _SpleeterTarget(sample_rate, channels, self._run, self.params["masks"])
        self._mix: list[np.ndarray] = []

    def process(self, block: Block) -> Outputs:
        block = np.asarray(block, np.float32)
        self._mix.append(block)
        return self._outputs(self._target.process(block))

    def finish(self) -> Outputs:
        return self._outputs(self._target.finish())

    def close(self) -> None:
        self._target = None

    def _outputs(self, target: np.ndarray) -> Outputs:
        """Pair ``target`` [n, channels] with the n oldest input frames; residual = input − target."""
        n = len(target)
        mix = np.concatenate(self._mix) if self._mix else empty(self.channels)
        self._mix = [mix[n:]]
        rest = (mix[:n] - target).astype(np.float32)
        return {"main": target, "vocals": target.copy(), "accompaniment": rest}


class _TargetStream:
    """The target stem of ``[frames, channels]`` blocks at the node rate, aligned, total out == total in."""

    def process(self, block: np.ndarray) -> np.ndarray: ...

    def finish(self) -> np.ndarray: ...


class _SpleeterTarget(ModelRateBridge, _TargetStream):
    """Vocals at the node rate: resample to 44.1 kHz, separate channel pairs, resample back.

    The bridge owns the resamplers and the frame counts that keep the output
    from getting ahead of the input; this class adds one separator per pair.
    """

    def __init__(self, rate: int, channels: int, run: Callable, masks: str) -> None:
        from restora.models.spleeter import SAMPLE_RATE, SpleeterSeparator
        super().__init__(rate, SAMPLE_RATE, [], channels=channels)
        # Channels 0+1, 2+3, ...: Spleeter is a stereo model; an odd last channel goes in as mono.
        self._groups = [list(range(c, min(c + 2, channels))) for c in range(0, channels, 2)]
        self._seps = [SpleeterSeparator(run, masks=masks) for _ in self._groups]

    def _run(self, at_model: np.ndarray, final: bool) -> np.ndarray:
        # Every separator gets the same sample count, so all return equally many.
        parts = []
        for group, sep in zip(self._groups, self._seps):
            vocals, _ = sep.process(np.ascontiguousarray(at_model[:, group]))
            if final:
                vocals = np.concatenate([vocals, sep.finish()[0]])
            parts.append(vocals)
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)


class _DialogueTarget(_TargetStream):
    """Speech from a :class:`~restora.graph.nodes_dfn3.Dfn3Node` run inside this node."""

    def __init__(self, rate: int, channels: int, threads: int, model_dir: Path | None) -> None:
        from restora.graph.nodes_dfn3 import Dfn3Node
        self._node = Dfn3Node(model_dir=model_dir, threads=threads)
        self._node.start(rate, channels)

    def process(self, block: np.ndarray) -> np.ndarray:
        return self._node.process(block)["main"]

    def finish(self) -> np.ndarray:
        out = self._node.finish()["main"]
        self._node.close()
        return out
