"""Run a user's ONNX model by its contract, as a stream: :func:`processor_for` picks the runtime for the kind.

Every processor follows one interface (:class:`StemProcessor`): ``process(block)``
takes float32 ``[n, channels]`` at ``contract.sample_rate`` (the caller
resamples) and returns ``{stem: [m, channels]}`` for each name in
``contract.stems`` plus ``"residual"`` (input minus the sum of the stems);
``finish()`` returns the rest. Output frame ``i`` belongs to input frame ``i``;
after ``finish()`` exactly as many frames came out as went in, and the output
does not depend on how the input was cut into blocks. ``reset()`` starts a new
stream (it forgets buffers and recurrent states).

The caller's channel count may differ from the model's: mono audio into a
stereo model is duplicated and each output averaged back to mono; audio with
more channels than a mono model takes runs each channel through its own copy
of the runtime (own buffers and states); more than two channels into a stereo
model go in pairs, an odd last channel as mono.

The runtimes per kind live in ``run_waveform``, ``run_mdx`` and ``run_stream``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from restora.errors import ModelError

RESIDUAL = "residual"


class StemProcessor(Protocol):
    """A streaming model runtime (module docstring); arrays are float32 ``[frames, channels]``."""

    def process(self, block: np.ndarray) -> dict[str, np.ndarray]: ...

    def finish(self) -> dict[str, np.ndarray]: ...

    def reset(self) -> None: ...


def run_model(session, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """``session.run`` with onnxruntime's failures turned into ModelError carrying the model's message."""
    try:
        return session.run(outputs, feeds)
    except Exception as exc:  # ORT raises its own types (Fail, InvalidArgument, RuntimeException, ...)
        message = str(exc).strip() or type(exc).__name__
        raise ModelError(f"the model failed while running: {message}") from exc


def empty_outputs(names, channels: int) -> dict[str, np.ndarray]:
    """``{name: float32 [0, channels]}`` for each name."""
    return {name: np.zeros((0, channels), np.float32) for name in names}


def as_block(block: np.ndarray, channels: int) -> np.ndarray:
    """``block`` as float32 [n, channels]; ModelError (a caller's bug shown plainly) on another shape."""
    x = np.asarray(block, np.float32)
    if x.ndim == 1 and channels == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != channels:
        raise ModelError(f"audio block has shape {x.shape}; the runtime was built for {channels} channel(s)")
    return x


class InputQueue:
    """The input frames ``[n, channels]`` a runtime has taken but not yet matched with output, so each stem's
    residual is taken against the input it is aligned with (runtimes whose output lags their input)."""

    def __init__(self, channels: int) -> None:
        self._x = np.zeros((0, channels), np.float32)

    def __len__(self) -> int:
        return len(self._x)

    def push(self, x: np.ndarray) -> None:
        self._x = np.concatenate([self._x, x])

    def pair(self, out: np.ndarray, names: tuple[str, str]) -> dict[str, np.ndarray]:
        """``{names[0]: out, names[1]: input - out}`` for ``out`` [m, channels], the next m input frames."""
        if len(out) == 0:
            return empty_outputs(names, self._x.shape[1])
        x, self._x = self._x[:len(out)], self._x[len(out):]
        return {names[0]: out, names[1]: x - out}


class _MonoToStereo:
    """Mono audio through a stereo model: the channel duplicated, every output averaged back to mono."""

    def __init__(self, inner: StemProcessor) -> None:
        self.inner = inner

    def process(self, block: np.ndarray) -> dict[str, np.ndarray]:
        x = as_block(block, 1)
        return self._mono(self.inner.process(np.repeat(x, 2, axis=1)))

    def finish(self) -> dict[str, np.ndarray]:
        return self._mono(self.inner.finish())

    def reset(self) -> None:
        self.inner.reset()

    @staticmethod
    def _mono(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: a.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
                for name, a in outputs.items()}


class _Grouped:
    """Channels in groups, each through its own runtime (one channel each for a mono model; pairs for a stereo
    model, an odd last channel as mono), outputs joined side by side in channel order.

    Every runtime sees blocks of the same lengths, so all emit the same number of frames per call.
    """

    def __init__(self, groups: list[tuple[slice, StemProcessor]]) -> None:
        self.groups = groups
        self.channels = groups[-1][0].stop

    def process(self, block: np.ndarray) -> dict[str, np.ndarray]:
        x = as_block(block, self.channels)
        return self._join([p.process(x[:, where]) for where, p in self.groups])

    def finish(self) -> dict[str, np.ndarray]:
        return self._join([p.finish() for _, p in self.groups])

    def reset(self) -> None:
        for _, p in self.groups:
            p.reset()

    @staticmethod
    def _join(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {name: np.concatenate([part[name] for part in parts], axis=1) for name in parts[0]}


def _for_model(session, contract) -> StemProcessor:
    """A runtime fed exactly the model's channel count."""
    if contract.kind == "waveform":
        from restora.models.byo.run_waveform import WaveformProcessor
        return WaveformProcessor(session, contract)
    if contract.kind == "mdx":
        from restora.models.byo.run_mdx import MdxProcessor
        return MdxProcessor(session, contract)
    if contract.kind == "frame-stream":
        from restora.models.byo.run_stream import FrameStreamProcessor
        return FrameStreamProcessor(session, contract)
    raise ModelError(f"contract kind {contract.kind!r} has no runtime")


def processor_for(session, contract, channels: int) -> StemProcessor:
    """The streaming runtime for ``contract`` fed ``channels``-channel audio (module docstring).

    ``session`` is an onnxruntime InferenceSession (``restora.models.session.make_session``);
    ``contract`` a :class:`restora.models.byo.contract.Contract`. More channels than
    a stereo model takes go through it in pairs (0+1, 2+3, ...; an odd last one as mono).
    """
    channels = int(channels)
    if channels < 1:
        raise ModelError(f"cannot run a model on {channels} channels")
    if channels == contract.channels:
        return _for_model(session, contract)
    if contract.channels == 1:
        return _Grouped([(slice(c, c + 1), _for_model(session, contract)) for c in range(channels)])
    if channels == 1:
        return _MonoToStereo(_for_model(session, contract))
    groups = [(slice(c, min(c + 2, channels)), _for_model(session, contract) if c + 2 <= channels
               else _MonoToStereo(_for_model(session, contract))) for c in range(0, channels, 2)]
    return _Grouped(groups)
