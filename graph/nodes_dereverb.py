"""``dereverb``: online WPE dereverberation (:class:`restora.dsp.dereverb.OnlineWPE`).

At the node's rate ``sr`` (Hz), audio float32 ``[frames, channels]``, each channel
dereverberated on its own through :class:`restora.dsp.stft.SpectralProcessor`
(Hann, ``n_fft``/``hop`` from :func:`restora.dsp.dereverb.stft_size`: 512/128 at
16 kHz, 2048/512 at 44.1/48 kHz, so one frame of ``taps``/``delay`` is 8-11.6 ms).
The recursion is causal: the only latency is the STFT's ``n_fft - hop`` samples,
released by :meth:`finish`; output sample ``i`` is aligned with input sample ``i``.
The filters adapt from the stream start, so the first second or so is dereverberated
less. Measurement: ``reduction_db`` (dB, input energy over output energy; the reverb removed).
"""

from __future__ import annotations

import numpy as np

from restora.dsp.dereverb import OnlineWPE, stft_size
from restora.dsp.stft import SpectralProcessor
from restora.graph.node import Block, Measurement, Node, Outputs, Param


class DereverbNode(Node):
    """Removes late reverberation (room tail) while keeping the direct sound and early reflections."""

    type_name = "dereverb"
    PARAMS = (
        Param("taps", 10, kind="int", minimum=1, maximum=40, unit="frames",
              doc="length of the prediction filter in STFT frames (8-11.6 ms each); longer tails need more"),
        Param("delay", 3, kind="int", minimum=1, maximum=10, unit="frames",
              doc="the prediction starts this many frames back: what lies closer (direct sound, early "
                  "reflections; 24-35 ms at 3) is kept"),
        Param("alpha", 0.995, minimum=0.9, maximum=0.9999,
              doc="forgetting factor: closer to 1 adapts slower, with less distortion"),
    )

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        n_fft, hop = stft_size(sample_rate)
        p = self.params
        self._wpe = OnlineWPE(n_fft // 2 + 1, channels, p["taps"], p["delay"], p["alpha"])
        self._processor = SpectralProcessor(n_fft, hop, "hann", fn=self._dereverb)
        self._energy = [0.0, 0.0]  # input, output spectral energy

    def _dereverb(self, spec: np.ndarray) -> np.ndarray:
        if not len(spec):
            return spec
        out = self._wpe(spec)
        self._energy[0] += float(np.sum(np.abs(spec) ** 2))
        self._energy[1] += float(np.sum(np.abs(out) ** 2))
        return out

    def process(self, block: Block) -> Outputs:
        return _out(self._processor.process(np.asarray(block, np.float32)))

    def finish(self) -> Outputs:
        out = _out(self._processor.finish().reshape(-1, self.channels))  # an empty stream gives [0, 0]
        e_in, e_out = self._energy
        value = round(float(10 * np.log10(e_in / e_out)), 2) if e_in > 0 and e_out > 0 else None
        self.measurements.append(Measurement("reduction_db", value, "dB"))
        return out


def _out(block: np.ndarray) -> Outputs:
    return {"main": np.ascontiguousarray(block, dtype=np.float32)}
