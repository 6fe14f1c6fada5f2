"""Runtime for ``frame-stream`` contracts (GTCRN/DTLN style): one STFT frame per call, recurrent states fed back.

Analysis and synthesis are :class:`restora.dsp.stft.SpectralProcessor`
(``n_fft``, ``hop``, window ``"hann"`` or ``"sqrt-hann"``, periodic, or their
``-symmetric`` forms, :func:`window_of`): frame ``k``
covers input samples ``[k*hop - (n_fft - hop), k*hop + hop)``, the synthesis
window is the least-squares dual of the analysis window, so a model that
returns its input frame reconstructs the input exactly, and output sample
``i`` is aligned with input sample ``i`` (the ``n_fft - hop`` samples of
latency are dropped at the start and flushed by ``finish()``).

With ``center`` (the librosa/torch framing the reference runtimes use, hop =
n_fft/2): the first ``n_fft/2`` samples are held until the start can be
reflected about sample 0; the reflection goes in first, the model is not
called on the one frame that would see the zeros before it, and the
reflection's output is dropped, so model frame ``k`` covers input samples
``[k*hop - n_fft/2, k*hop + n_fft/2)`` exactly as in the reference. At the
end, the signal is reflected about its last sample before the flush.

Model I/O per call: ``input`` float32 ``[1, n_fft/2+1, 1, 2]`` (re, im of one
frame); ``output`` the same layout. Each ``states`` pair ``(in, out)``: the
value the model returned as ``out`` is fed as ``in`` on the next call; the
first call gets zeros shaped as the session declares ``in`` (symbolic
dimensions read as 1).
"""

from __future__ import annotations

import numpy as np

from restora.dsp.stft import SpectralProcessor
from restora.errors import ModelError
from restora.models.byo.runtimes import RESIDUAL, InputQueue, as_block, empty_outputs, run_model

_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def initial_states(session, pairs) -> dict[str, np.ndarray]:
    """Zeros for each state input named in ``pairs`` [(in, out), ...], shaped and typed as the session declares."""
    declared = {i.name: i for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    states = {}
    for name_in, name_out in pairs:
        if name_in not in declared:
            raise ModelError(f"the contract names state input '{name_in}', which the model does not have")
        if name_out not in outputs:
            raise ModelError(f"the contract names state output '{name_out}', which the model does not have")
        info = declared[name_in]
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in (info.shape or [])]
        dtype = _DTYPES.get(info.type)
        if dtype is None:
            raise ModelError(f"state '{name_in}' has type {info.type}, which Restora cannot initialise")
        states[name_in] = np.zeros(shape, dtype)
    return states


def window_of(name: str, n_fft: int) -> str | np.ndarray:
    """The analysis window a contract names: periodic ones by name, symmetric ones (numpy's ``hanning``, as
    librosa-era references use) as arrays."""
    if not name.endswith("-symmetric"):
        return name
    window = np.hanning(n_fft)
    return np.sqrt(window) if name.startswith("sqrt-") else window


class FrameStreamProcessor:
    """Stream mono ``[n, 1]`` float32 at the contract's rate → ``{stem: [m, 1], "residual": [m, 1]}``.

    Explicit state: :attr:`states` (``{state input name: array}``, the values
    the next call feeds), :attr:`calls` (model calls so far, one per STFT frame),
    the STFT/overlap-add buffers, and the input not yet matched by output (at
    most ``n_fft`` samples plus a block) for the residual. :meth:`reset` clears all.
    """

    def __init__(self, session, contract) -> None:
        self.session, self.contract = session, contract
        self.bins = contract.n_fft // 2 + 1
        self.names = (contract.stems[0], RESIDUAL)
        self._outputs = [contract.output] + [out for _, out in contract.states]
        self.reset()

    def reset(self) -> None:
        """A new stream: zero states, empty buffers."""
        c = self.contract
        self.states = initial_states(self.session, c.states)
        self.calls = 0
        self._spectral = SpectralProcessor(c.n_fft, c.hop, window_of(c.window, c.n_fft), fn=self._frames)
        self._pending = InputQueue(1)
        self._half = c.n_fft // 2
        self._head = np.zeros((0, 1), np.float32) if c.center else None  # held until the start can be reflected
        self._tail = np.zeros((0, 1), np.float32)  # the last n_fft/2 + 1 input samples, for the end's reflection
        self._skip_frames = 1 if c.center else 0   # the frame before the reflection: never shown to the model
        self._drop = 0                             # output samples of the reflection still to drop

    def process(self, block: np.ndarray) -> dict[str, np.ndarray]:
        """Consume ``block`` [n, 1]; return the aligned output ready so far."""
        x = as_block(block, 1)
        if len(x) == 0:  # the STFT would start its zero history, and finish() would then run the model on it
            return empty_outputs(self.names, 1)
        self._pending.push(x)
        self._tail = np.concatenate([self._tail, x])[-(self._half + 1):]
        if self._head is not None:
            self._head = np.concatenate([self._head, x])
            if len(self._head) <= self._half:
                return empty_outputs(self.names, 1)
            x, self._head = self._start(self._head), None
        return self._pair(self._spectral.process(x))

    def finish(self) -> dict[str, np.ndarray]:
        """Flush the latency: after this as many frames came out as went in."""
        out = []
        if self._head is not None and len(self._head):
            out.append(self._spectral.process(self._start(self._head)))
            self._head = None
        if self.contract.center and len(self._tail) > 1:
            end = np.pad(self._tail[:, 0], (0, self._half), mode="reflect")[-self._half:]
            out.append(self._spectral.process(end[:, None].astype(np.float32)))
        out.append(self._spectral.finish())
        return self._pair(np.concatenate(out), last=True)

    def _start(self, head: np.ndarray) -> np.ndarray:
        """``head`` [n, 1] preceded by its reflection about sample 0 (n_fft/2 samples; zeros when n < 2)."""
        if len(head) > 1:
            first = np.pad(head[:, 0], (self._half, 0), mode="reflect")[:self._half]
        else:
            first = np.zeros(self._half)
        self._drop = self._half
        return np.concatenate([first[:, None].astype(np.float32), head])

    def _pair(self, out: np.ndarray, last: bool = False) -> dict[str, np.ndarray]:
        """The stem ``out`` [m, 1] and the residual against the input it is aligned with (the start's reflection
        dropped; at the ``last`` call, output past the input's end too)."""
        out = np.asarray(out, np.float32).reshape(-1, 1)
        cut = min(self._drop, len(out))
        out, self._drop = out[cut:], self._drop - cut
        if last:
            out = out[:len(self._pending)]
        return self._pending.pair(out, self.names)

    def _frames(self, spec: np.ndarray) -> np.ndarray:
        """STFT frames ``[k, bins, 1]`` complex → the model's frames, one call each, states carried."""
        result = np.zeros_like(spec)
        for k in range(len(spec)):
            if self._skip_frames:
                self._skip_frames -= 1
                continue
            result[k, :, 0] = self._call(spec[k, :, 0])
        return result

    def _call(self, frame: np.ndarray) -> np.ndarray:
        """One model call: ``frame`` [bins] complex → [bins] complex; updates :attr:`states`."""
        c = self.contract
        feed = np.stack([frame.real, frame.imag], axis=-1).astype(np.float32)[None, :, None, :]
        outs = run_model(self.session, self._outputs, {c.input: feed, **self.states})
        out = np.asarray(outs[0])
        if out.shape != feed.shape:
            raise ModelError(f"the model's output '{c.output}' has shape {list(out.shape)}; "
                             f"the contract expects {list(feed.shape)}")
        for (name_in, _), value in zip(c.states, outs[1:]):
            self.states[name_in] = value
        self.calls += 1
        return out[0, :, 0, 0] + 1j * out[0, :, 0, 1]
