"""``upscale``: audio super-resolution, restoring the empty band above a recording's cut-off.

The graph runs at one sample rate, so the node cannot raise the rate of its
own output. Instead it declares the rate it needs (:meth:`UpscaleNode.stream_rate`:
``max(input rate, target_rate)``) and :meth:`restora.graph.preset.Preset.working_rate`
runs the whole graph at the highest rate any (non-bypassed) node asks for:
:func:`restora.graph.file_job.process_file` and ``process_array`` resample the
input up before the first node (soxr VHQ, streaming) and write at that rate
unless the user asks for another. Every node already works at any rate, so
nodes before or after ``upscale`` simply run at the higher rate. A caller that
runs a :class:`~restora.graph.runner.GraphRun` at the file's own rate (the GUI
today) gets an upscale node that extends only up to that rate's Nyquist (a
44.1 kHz MP3 cut at 16 kHz is still restored up to 22.05 kHz).

At the node's rate ``sr`` (Hz), audio float32 ``[frames, channels]``:

- Cut-off: ``cutoff="auto"`` measures it with
  :class:`restora.dsp.bandwidth.BandwidthEstimator` (the measure behind
  ``restora analyze``'s bandwidth_hz) on the **first ``ANALYSIS_S`` seconds**
  of the stream (the whole stream if shorter), counted in samples from the
  start, so the result does not depend on how the stream is cut into blocks.
  The node holds its input back until that window is complete (bounded memory:
  ``ANALYSIS_S * sr * channels`` floats), then processes it and every later
  block. A number is a cut-off in Hz given by the user.
- Pass-through (``main`` = input, ``generated`` = 0): silence in the analysis
  window, a cut-off at or above ``FULL_BAND_HZ`` (nothing audible is missing:
  a 44.1 kHz CD upscaled to 48 kHz only changes rate) or within 5 % of
  ``sr / 2``, or an automatic cut-off below ``MIN_CUTOFF_HZ`` (too little
  band to extend from; logged).
- ``method="fold"``: :class:`restora.dsp.band_extension.FoldingExtender`
  streamed through :class:`restora.dsp.stft.SpectralProcessor`; its envelope
  slope is measured on the same analysis window. ``generated`` is the
  inverse STFT of the shaped copy alone, ``main = input + generated``, so the
  band below the cut-off changes only by the synthesis window's leakage
  (>= 40 dB SNR, tested). A stream of up to ``ANALYSIS_S`` seconds gives
  exactly :func:`restora.dsp.band_extension.extend_band`'s result.
- ``method="neural"``: the trained ``sr-extender`` network
  (:func:`restora.models.sr_extender.extender`, loaded in :meth:`start`: a
  missing model is a ModelError before any audio is read). The model works
  at 48 kHz (:data:`restora.models.sr_extender.RATE`), so the stream is cut
  at fixed positions (multiples of ``WINDOW_S - OVERLAP_S`` seconds from the
  start) into windows of ``WINDOW_S`` seconds; each window is resampled to
  48 kHz, extended, and only the generated part (extended - input, at
  48 kHz) is resampled back to the node's rate; windows are joined with
  :func:`restora.dsp.crossfade.crossfade_weights` (:class:`WindowedProcessor`).
  ``main = input + generated``: the band below the cut-off is the input's
  samples plus the model's (tiny) low-band residue, never a resampled copy.
  At a rate above 48 kHz the band is restored up to 24 kHz only (the model's
  Nyquist); nothing above is invented. Output does not depend on the block
  size; memory is bounded by one window.

Output sample ``i`` is aligned with input sample ``i`` on both ports; the
latency (the analysis window, then the STFT's ``N_FFT - HOP`` samples for
``fold``, up to one window for ``neural``) is released by :meth:`finish`.
Measurements: ``cutoff_hz`` (Hz, None for silence), ``extended`` (1 when a
band was generated, 0 for pass-through) and ``output_rate`` (Hz, the rate the
node ran at).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from restora.dsp.band_extension import FULL_BAND_FRACTION, HOP, N_FFT, FoldingExtender, spectral_slope
from restora.dsp.bandwidth import BandwidthEstimator
from restora.dsp.resample import resample
from restora.dsp.stft import SpectralProcessor, StreamingSTFT
from restora.dsp.windowed import WindowedProcessor
from restora.errors import UsageError
from restora.graph.fifo import BlockFifo
from restora.graph.node import Block, Measurement, Node, Outputs, Param, ParameterError, empty
from restora.graph.preset import GRAPH_INPUT, Preset
from restora.graph.upscale_methods import DEFAULT_METHOD, METHODS

log = logging.getLogger(__name__)

#: "neural" windows in seconds: one sr_extender chunk (CHUNK_S, OVERLAP_S) each, so at 48 kHz the node
#: cuts the stream exactly where SRExtender.extend would, and each window is a single model pass.
WINDOW_S, OVERLAP_S = 10.0, 1.5
ANALYSIS_S = 20.0       # seconds from the start used to measure the cut-off and slope
FULL_BAND_HZ = 20000.0  # content up to here misses nothing audible
MIN_CUTOFF_HZ = 1000.0  # below this there is too little band to copy from
MIN_RATE, MAX_RATE = 8000, 384000


def parse_cutoff(value: Any) -> float | None:
    """``"auto"`` (None) or a positive number of Hz; ParameterError otherwise."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    try:
        hz = float(text)
    except ValueError:
        raise ParameterError(f"cutoff={value!r} is neither 'auto' nor a frequency in Hz") from None
    if not math.isfinite(hz) or hz <= 0:
        raise ParameterError(f"cutoff={value!r} must be 'auto' or a positive frequency in Hz")
    return hz


@dataclass(frozen=True)
class CutoffParam(Param):
    """A text parameter holding "auto" or a positive number of Hz (checked wherever params are set: GUI too)."""

    def validate(self, value: Any) -> Any:
        text = super().validate(value).lower()
        parse_cutoff(text)
        return text


class UpscaleNode(Node):
    """Bandwidth extension (super-resolution): ``main`` is the input with its missing high band restored,
    ``generated`` the restored band alone (``main - input``), to audition what was invented.

    ``target_rate`` (Hz) is the rate the graph is raised to (never below the
    input's); ``cutoff`` is "auto" (measured on the first 20 s) or the edge of
    the input's content in Hz; ``method`` picks the generator.
    """

    type_name = "upscale"
    OUTPUTS = ("main", "generated")
    PARAMS = (
        Param("target_rate", 48000, kind="int", minimum=MIN_RATE, maximum=MAX_RATE, unit="Hz",
              doc="output sample rate; never lower than the input's"),
        CutoffParam("cutoff", "auto", kind="text",
                    doc="'auto' (measured on the first 20 s) or where the input's content ends, in Hz"),
        Param("method", DEFAULT_METHOD, kind="choice", choices=METHODS,
              doc="fold: spectral translation of the octave below the cut-off; "
                  "neural: the trained sr-extender model (restores up to 24 kHz)"),
        Param("threads", 1, kind="int", minimum=1, maximum=16, doc="ONNX Runtime threads (neural)"),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._cutoff = parse_cutoff(self.params["cutoff"])
        self._extender: Any = None

    @classmethod
    def stream_rate(cls, params: dict[str, Any], input_rate: int) -> int:
        """The graph rate this node needs: ``max(input_rate, target_rate)`` Hz."""
        return max(int(input_rate), int(params.get("target_rate", 48000)))

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        nyquist = sample_rate / 2.0
        if self._cutoff is not None and self._cutoff >= nyquist:
            raise UsageError(f"upscale: cutoff {self._cutoff:g} Hz is not below the Nyquist frequency "
                             f"{nyquist:g} Hz of the {sample_rate} Hz stream")
        if self._cutoff is not None and self._cutoff < MIN_CUTOFF_HZ:
            raise UsageError(f"upscale: cutoff {self._cutoff:g} Hz is below {MIN_CUTOFF_HZ:g} Hz: "
                             "too little band to extend from")
        if self.params["method"] == "neural":  # heavy, and may be missing: load before any audio is read
            from restora.models import sr_extender
            self._extender = sr_extender.extender(self.params["threads"])
        self._window = analysis_frames(sample_rate)
        self._held = BlockFifo(channels)      # input held until the analysis window is complete
        self._estimator = BandwidthEstimator(sample_rate) if self._cutoff is None else None
        self._power_stft = StreamingSTFT(N_FFT, HOP, "hann")  # long-term spectrum for the slope
        self._power = np.zeros(N_FFT // 2 + 1)
        self._frames = 0
        self._processor: SpectralProcessor | None = None
        self._dry = BlockFifo(channels)       # input waiting for its generated band
        self._decided = False

    # -- stream ---------------------------------------------------------------
    def process(self, block: Block) -> Outputs:
        block = np.asarray(block, np.float32)
        if self._decided:
            return self._run(block)
        self._analyse(block[:self._window - self._held.frames])
        self._held.push(block)
        if self._held.frames < self._window:
            return self._outputs(empty(self.channels), empty(self.channels))
        self._decide()
        return self._run(self._held.pop(self._held.frames))

    def finish(self) -> Outputs:
        if not self._decided:
            self._decide()
            first = self._run(self._held.pop(self._held.frames))
        else:
            first = self._outputs(empty(self.channels), empty(self.channels))
        if self._processor is None:
            return first
        generated = self._processor.finish()
        dry = self._dry.pop(len(generated))
        return {name: np.concatenate([first[name], out]) for name, out in
                self._outputs(dry, generated).items()}

    # -- analysis ---------------------------------------------------------------
    def _analyse(self, chunk: np.ndarray) -> None:
        """Feed the part of the analysis window in ``chunk`` [frames, channels] to the measurements."""
        if not len(chunk):
            return
        if self._estimator is not None:
            self._estimator.process(chunk)
        self._add_power(self._power_stft.process(chunk))

    def _add_power(self, spec: np.ndarray) -> None:
        if spec.size:
            self._power += (np.abs(spec) ** 2).sum(axis=(0, 2))
            self._frames += spec.shape[0]

    def _decide(self) -> None:
        """Fix the cut-off and build the extender once the analysis window is complete."""
        self._decided = True
        self._add_power(self._power_stft.finish())
        cutoff = self._cutoff if self._estimator is None else self._estimator.finish()
        self.measurements.append(Measurement("cutoff_hz", None if cutoff is None else round(cutoff, 1), "Hz"))
        extend = cutoff is not None and cutoff < min(FULL_BAND_HZ, FULL_BAND_FRACTION * self.sample_rate / 2)
        if extend and self._cutoff is None and cutoff < MIN_CUTOFF_HZ:
            log.warning("upscale: measured cut-off %.0f Hz is too low to extend from; passing the input through",
                        cutoff)
            extend = False
        if extend:
            self._processor = self._neural(cutoff) if self.params["method"] == "neural" else self._fold(cutoff)
        self.measurements.append(Measurement("extended", 1.0 if extend else 0.0))
        self.measurements.append(Measurement("output_rate", float(self.sample_rate), "Hz"))

    def _fold(self, cutoff: float) -> SpectralProcessor:
        """The streaming FoldingExtender for ``cutoff`` Hz, shaped by the analysis window's spectral slope."""
        long_term = self._power / max(self._frames * self.channels, 1)
        extender = FoldingExtender(self.sample_rate, cutoff, spectral_slope(long_term, self.sample_rate, cutoff))
        return SpectralProcessor(N_FFT, HOP, "hann", fn=extender.generate)

    def _neural(self, cutoff: float) -> WindowedProcessor:
        """The sr-extender model over fixed windows: generated band [frames, channels] at the node's rate."""
        window, overlap = model_frames(WINDOW_S, self.sample_rate), model_frames(OVERLAP_S, self.sample_rate)
        return WindowedProcessor(lambda chunk: neural_band(self._extender, chunk, self.sample_rate, cutoff),
                                 window, overlap, self.channels)

    def close(self) -> None:
        self._extender = None  # the session itself is cached by sr_extender.extender

    # -- synthesis --------------------------------------------------------------
    def _run(self, block: np.ndarray) -> Outputs:
        """Outputs for ``block`` [frames, channels] once the extender is decided (aligned, maybe shorter)."""
        if self._processor is None:  # pass-through
            return self._outputs(block, np.zeros_like(block))
        self._dry.push(block)
        generated = self._processor.process(block)
        return self._outputs(self._dry.pop(len(generated)), generated)

    @staticmethod
    def _outputs(dry: np.ndarray, generated: np.ndarray) -> Outputs:
        generated = np.asarray(generated, np.float32)
        return {"main": (dry + generated).astype(np.float32), "generated": generated}


def analysis_frames(rate: int) -> int:
    """Frames at ``rate`` Hz that ``cutoff=auto`` (and the fold method's slope) are measured on."""
    return max(int(round(ANALYSIS_S * rate)), 1)


def measure_cutoff(head: np.ndarray, rate: int) -> float | None:
    """The cut-off (Hz) ``cutoff=auto`` measures on a stream that starts with ``head`` [frames, channels] at
    ``rate`` Hz: only its first ``ANALYSIS_S`` seconds count; None when there is no content."""
    estimator = BandwidthEstimator(rate)
    estimator.process(np.asarray(head[:analysis_frames(rate)], np.float32))
    return estimator.finish()


def fix_auto_cutoffs(preset: Preset, head: Callable[[int], np.ndarray], rate: int) -> Preset:
    """``preset`` with the ``auto`` cut-off of each upscale node fed by the graph input replaced by its value.

    ``head(frames)`` returns the first ``frames`` of the input [frames, channels] at ``rate`` Hz (the
    working rate). A run over a later segment of a file (the GUI's preview) then extends the band a
    run from the file's start would (export, CLI); an upscale node behind other nodes keeps ``auto``.
    So does a cut-off the node would not extend from (none, below ``MIN_CUTOFF_HZ`` or full band): ``auto``
    handles those with a pass-through, where a given value would be refused or used.
    """
    wanted = [s for s in preset.nodes if s.type == UpscaleNode.type_name and s.input == GRAPH_INPUT
              and parse_cutoff(s.params.get("cutoff", "auto")) is None]
    if not wanted:
        return preset
    cutoff = measure_cutoff(head(analysis_frames(rate)), rate)
    if cutoff is None or not MIN_CUTOFF_HZ <= cutoff < min(FULL_BAND_HZ, FULL_BAND_FRACTION * rate / 2):
        return preset
    return preset.with_overrides([f"{s.id}.cutoff={cutoff!r}" for s in wanted])  # exact: as measured from the start


def model_frames(seconds: float, rate: int) -> int:
    """``seconds`` as whole model hops at 48 kHz (like SRExtender's chunks), then in frames at ``rate`` Hz.

    Rounded down, so a window resampled to 48 kHz never exceeds one model chunk;
    at 48 kHz the node's windows are exactly SRExtender.extend's chunks.
    """
    from restora.models.sr_extender import HOP as MODEL_HOP, RATE

    return int(seconds * RATE) // MODEL_HOP * MODEL_HOP * int(rate) // RATE


def neural_band(extender: Any, chunk: np.ndarray, rate: int, cutoff: float) -> np.ndarray:
    """The band ``extender`` (an SRExtender, 48 kHz) adds above ``cutoff`` Hz to ``chunk`` [n, C] at ``rate`` Hz.

    Returns float32 [n, C] at ``rate``: ``extended - input`` computed at 48 kHz
    and resampled back, so the caller adds it to the untouched input (the low
    band is never a resampled copy). Above 48 kHz nothing is generated past 24 kHz.
    """
    from restora.models.sr_extender import RATE

    at_model = resample(chunk, rate, RATE, "VHQ")
    generated = resample(extender.extend(at_model, cutoff) - at_model, RATE, rate, "VHQ")
    n = len(chunk)  # the round trip through 48 kHz may gain or lose a frame to rounding
    return np.pad(generated[:n], ((0, n - min(n, len(generated))), (0, 0)))
