"""Runtime for ``mdx`` contracts (UVR MDX-Net): the model maps a stereo chunk's spectrogram to a stem's.

Per chunk of ``L = hop * (dim_t - 1)`` samples: the centred STFT (``n_fft``,
``hop``, periodic Hann, reflect padding like ``torch.stft``; ``dim_t`` frames)
of each channel, the first ``dim_f`` bins packed as ``[1, 4, dim_f, dim_t]`` =
``[L.re, L.im, R.re, R.im]``; the model's output, unpacked the same way (bins
from ``dim_f`` up are zero), is inverted (weighted overlap-add) to the stem's
``L`` samples.

Chunk edges: the STFT of a chunk is wrong near its ends (reflect padding), so
only its centre is kept: ``context = min(n_fft // 2, L // 4)`` samples are cut
from each side (as UVR trims ``n_fft // 2``), leaving ``W = L - 2 * context``.
Kept parts start every ``W - overlap`` samples from the stream's start (the
stream is zero before its start and after its end) and are joined with
cross-fades over ``overlap`` = ``contract.overlap_s`` or, when that is 0,
``W // 8`` (at most ``W // 2`` either way): a model's output is rarely consistent at the junction of two
chunks, and a short cross-fade hides the step a butt joint would leave.
"""

from __future__ import annotations

import numpy as np

from restora.dsp.crossfade import crossfade_weights
from restora.errors import ModelError
from restora.models.byo.runtimes import RESIDUAL, as_block, empty_outputs, run_model
from restora.models.lass import istft, stft

#: Internal cross-fade, as a fraction of the kept part of a chunk, used when the contract says 0.
DEFAULT_OVERLAP = 1 / 8


class ContextChunks:
    """Fixed chunks with ``context`` frames of look-back and look-ahead, joined by cross-fades, as a stream.

    ``fn(segment [window + 2 * context, C]) -> [window, K]`` maps a segment to the
    outputs of its centre. Centres start at multiples of ``window - overlap``
    frames from the stream's start; the stream reads as zeros outside itself.
    Output frame ``i`` belongs to input frame ``i``; after :meth:`finish` as many
    frames came out as went in. Memory: one segment of input, one window of output.
    """

    def __init__(self, fn, window: int, overlap: int, context: int, channels: int, width: int) -> None:
        if not 0 <= overlap < window:
            raise ValueError(f"overlap {overlap} must be shorter than the window {window} (frames)")
        self.fn, self.window, self.overlap, self.context = fn, window, overlap, context
        self.channels, self.width = channels, width
        self._x = np.zeros((0, channels), np.float32)   # input frames from self._x0 on
        self._x0 = self._total = 0
        self._acc = np.zeros((0, width))                # weighted outputs from self._out0 on
        self._wsum = np.zeros(0)
        self._out0 = self._next = 0                     # first unreturned frame; next centre's start

    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume ``block`` [n, C]; return ``[m, K]`` for the frames no later chunk touches."""
        self._x = np.concatenate([self._x, block])
        self._total += len(block)
        while self._next + self.window + self.context <= self._total:
            self._run(last=False)
        return self._emit(self._next)

    def finish(self) -> np.ndarray:
        """The rest: chunks reaching past the end read zeros there."""
        while self._next < self._total:
            self._run(last=self._next + self.window >= self._total)
        return self._emit(self._total)

    def _segment(self, start: int) -> np.ndarray:
        """Input frames ``[start, start + window + 2 * context)``, zeros outside the stream."""
        seg = np.zeros((self.window + 2 * self.context, self.channels), np.float32)
        a, b = max(start, self._x0), min(start + len(seg), self._total)
        if b > a:
            seg[a - start:b - start] = self._x[a - self._x0:b - self._x0]
        return seg

    def _run(self, last: bool) -> None:
        """Add the weighted output of the chunk whose centre starts at ``self._next``."""
        s = self._next
        out = self.fn(self._segment(s - self.context))[:min(self.window, self._total - s)]
        n, a = len(out), s - self._out0
        grow = max(a + n - len(self._acc), 0)
        self._acc = np.concatenate([self._acc, np.zeros((grow, self.width))])
        self._wsum = np.concatenate([self._wsum, np.zeros(grow)])
        w = crossfade_weights(n, self.overlap, first=s == 0, last=last)
        self._acc[a:a + n] += w[:, None] * out
        self._wsum[a:a + n] += w
        self._next += self.window - self.overlap
        keep = max(self._next - self.context, self._x0)  # input the next chunk still reads
        self._x, self._x0 = self._x[keep - self._x0:], keep

    def _emit(self, upto: int) -> np.ndarray:
        count = max(0, min(upto - self._out0, len(self._acc)))
        out = (self._acc[:count] / self._wsum[:count, None]).astype(np.float32)
        self._acc, self._wsum = self._acc[count:], self._wsum[count:]
        self._out0 += count
        return out


class MdxProcessor:
    """Stream stereo ``[n, 2]`` float32 at the contract's rate → ``{stem: [m, 2], "residual": [m, 2]}``."""

    def __init__(self, session, contract) -> None:
        self.session, self.contract = session, contract
        self.length = contract.hop * (contract.dim_t - 1)           # model chunk, samples
        self.context = min(contract.n_fft // 2, self.length // 4)
        self.window = self.length - 2 * self.context
        asked = int(round(contract.overlap_s * contract.sample_rate))
        self.overlap = min(asked or int(self.window * DEFAULT_OVERLAP), self.window // 2)
        self.names = (contract.stems[0], RESIDUAL)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new one starts at frame 0)."""
        self._chunks = ContextChunks(self._chunk, self.window, self.overlap, self.context, 2, 4)

    def process(self, block: np.ndarray) -> dict[str, np.ndarray]:
        """Consume ``block`` [n, 2]; return the frames no later chunk changes."""
        return self._split(self._chunks.process(as_block(block, 2)))

    def finish(self) -> dict[str, np.ndarray]:
        """The rest of the stream."""
        return self._split(self._chunks.finish())

    def _split(self, joined: np.ndarray) -> dict[str, np.ndarray]:
        if len(joined) == 0:
            return empty_outputs(self.names, 2)
        return {self.names[0]: joined[:, :2], self.names[1]: joined[:, 2:]}

    def _chunk(self, segment: np.ndarray) -> np.ndarray:
        """``segment`` [L, 2] → ``[W, 4]``: the stem and the residual of the segment's centre."""
        stem = self._separate(segment)[self.context:self.context + self.window]
        residual = segment[self.context:self.context + self.window] - stem
        return np.concatenate([stem, residual], axis=1)

    def _separate(self, segment: np.ndarray) -> np.ndarray:
        """The model on one chunk: ``[L, 2]`` audio → ``[L, 2]`` the stem's audio (float64)."""
        c = self.contract
        specs = [stft(segment[:, ch].astype(np.float64), c.n_fft, c.hop)[:c.dim_f] for ch in range(2)]
        if specs[0].shape[1] != c.dim_t:
            raise ModelError(f"contract n_fft={c.n_fft}, hop={c.hop} give {specs[0].shape[1]} STFT frames "
                             f"per chunk, not dim_t={c.dim_t}")
        packed = np.stack([part for s in specs for part in (s.real, s.imag)])[None].astype(np.float32)
        (out,) = run_model(self.session, [c.output], {c.input: packed})
        out = np.asarray(out)
        if out.shape != packed.shape:
            raise ModelError(f"the model's output '{c.output}' has shape {list(out.shape)}; "
                             f"the contract expects {list(packed.shape)}")
        bins = c.n_fft // 2 + 1
        waves = []
        for ch in range(2):
            spec = np.zeros((bins, c.dim_t), np.complex128)
            spec[:c.dim_f] = out[0, 2 * ch] + 1j * out[0, 2 * ch + 1]
            waves.append(istft(spec, self.length, c.n_fft, c.hop))
        return np.stack(waves, axis=1)
