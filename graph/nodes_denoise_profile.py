"""``de-noise-profile``: spectral subtraction of a learned (or loaded) stationary noise spectrum.

At the node's rate ``sr`` (Hz), audio float32 ``[frames, channels]``:

- Profile: ``profile`` (a file written by :func:`restora.dsp.noise_profile.save_profile`, learned at
  the same rate) when given; otherwise learned from the input's samples
  ``[learn_start_s * sr, learn_end_s * sr)`` (seconds from the stream start, counted in
  samples, so the result does not depend on block size). The range must be noise only.
  The node holds its input back until ``learn_end_s`` has been seen (bounded memory:
  ``learn_end_s <= MAX_LEARN_END_S`` seconds of input), learns, then processes what it
  held and every later block. ``save_profile`` writes the learned profile to a file.
- A stream that ends before ``learn_end_s``: the part of the range it reached is used if
  it holds at least ``MIN_LEARN_S`` seconds (logged); otherwise a UsageError.
- Subtraction: :class:`restora.dsp.noise_profile.SpectralSubtractor` streamed through
  :class:`restora.dsp.stft.SpectralProcessor` (Hann, n_fft/hop from
  :func:`restora.dsp.noise_profile.stft_size`: 512/128 at 16 kHz, 2048/512 at 44.1/48 kHz).

Output sample ``i`` is aligned with input sample ``i``; the latency (the learning range,
then the STFT's ``n_fft - hop`` samples) is released by :meth:`finish`.
Measurements: ``noise_level_db`` (dBFS, the profile's mean level relative to a
full-scale sine's bin) and ``learned_s`` (s of audio the profile was learned from; 0 for a loaded file).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from restora.dsp.noise_profile import (NoiseProfile, SpectralSubtractor, learn_profile, load_profile,
                                       save_profile, stft_size)
from restora.dsp.stft import SpectralProcessor
from restora.errors import UsageError
from restora.graph.fifo import BlockFifo
from restora.graph.node import Block, Measurement, Node, Outputs, Param, ParameterError, empty

log = logging.getLogger(__name__)

#: Latest learning-range end (s): the node holds the input up to there (120 s of 48 kHz stereo = 46 MB).
MAX_LEARN_END_S = 120.0
MAX_LEARN_S = 60.0   # longest learning range (s): stationary noise needs far less
MIN_LEARN_S = 0.1    # shortest usable range (s): a few STFT frames at any rate


class NoiseProfileNode(Node):
    """Removes stationary noise (hiss, hum beds, fans) whose spectrum is learned from a noise-only range
    of the input or loaded from a profile file."""

    type_name = "de-noise-profile"
    PARAMS = (
        Param("learn_start_s", 0.0, minimum=0.0, maximum=MAX_LEARN_END_S, unit="s",
              doc="start of the noise-only range the profile is learned from"),
        Param("learn_end_s", 1.0, minimum=0.0, maximum=MAX_LEARN_END_S, unit="s",
              doc="end of the noise-only range (at most 60 s after its start)"),
        Param("profile", "", kind="text", doc="noise profile file (.json) to use instead of learning"),
        Param("save_profile", "", kind="text", doc="write the learned profile to this file (.json)"),
        Param("reduction_db", 20.0, minimum=0.0, maximum=60.0, unit="dB",
              doc="largest attenuation of any bin (the spectral floor)"),
        Param("oversubtraction", 1.0, minimum=0.5, maximum=8.0, unit="x",
              doc="multiple of the noise profile removed; more removes more noise and more signal"),
        Param("smoothing", 0.95, minimum=0.0, maximum=0.99,
              doc="decision-directed smoothing of the SNR estimate over time (0 none); less musical noise"),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        if not p["profile"]:
            length = p["learn_end_s"] - p["learn_start_s"]
            if not MIN_LEARN_S <= length <= MAX_LEARN_S:
                raise ParameterError(
                    f"learning range {p['learn_start_s']:g}-{p['learn_end_s']:g} s must last "
                    f"{MIN_LEARN_S:g} to {MAX_LEARN_S:g} s (or give a profile file)")

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        self.profile: NoiseProfile | None = None
        self._processor: SpectralProcessor | None = None
        self._held = BlockFifo(channels)
        self._seen = 0
        self._range = (int(round(self.params["learn_start_s"] * sample_rate)),
                       int(round(self.params["learn_end_s"] * sample_rate)))
        if self.params["profile"]:  # before any audio: a bad file fails at once
            self._use(load_profile(self.params["profile"], sample_rate), 0.0)

    # -- stream ---------------------------------------------------------------
    def process(self, block: Block) -> Outputs:
        block = np.asarray(block, np.float32)
        if self._processor is not None:
            return _out(self._processor.process(block))
        self._held.push(block[: max(0, self._range[1] - self._seen)])
        rest = block[max(0, self._range[1] - self._seen):]
        self._seen += len(block)
        if self._held.frames < self._range[1]:
            return _out(empty(self.channels))
        self._learn(self._held.pop(self._held.frames))
        head, self._head = self._head, empty(self.channels)  # release the held audio once processed
        return _out(np.concatenate([self._processor.process(head), self._processor.process(rest)]))

    def finish(self) -> Outputs:
        first = empty(self.channels)
        if self._processor is None:
            self._learn_short()
            first = self._processor.process(self._head)
        rest = self._processor.finish().reshape(-1, self.channels)  # an empty stream gives [0, 0]
        return _out(np.concatenate([first, rest]))

    # -- learning -------------------------------------------------------------
    def _learn(self, head: np.ndarray) -> None:
        """Learn from the range inside ``head`` [frames, channels] (all input so far) and keep it to process."""
        start, end = self._range
        segment = head[start:end]
        self._use(learn_profile(segment, self.sample_rate), len(segment) / self.sample_rate)
        self._head = head
        if self.params["save_profile"]:
            save_profile(self.profile, self.params["save_profile"])

    def _learn_short(self) -> None:
        """End of a stream shorter than ``learn_end_s``: learn from what there is, or UsageError."""
        head = self._held.pop(self._held.frames)
        have = max(0, len(head) - self._range[0])
        if have < max(MIN_LEARN_S * self.sample_rate, stft_size(self.sample_rate)[0]):
            raise UsageError(
                f"de-noise-profile: the input ends at {len(head) / self.sample_rate:.3f} s, before enough of the "
                f"learning range {self.params['learn_start_s']:g}-{self.params['learn_end_s']:g} s "
                f"(at least {MIN_LEARN_S:g} s of noise is needed)")
        log.warning("de-noise-profile: the input ends at %.3f s, inside the learning range; learning from %.3f s",
                    len(head) / self.sample_rate, have / self.sample_rate)
        self._learn(head)

    def _use(self, profile: NoiseProfile, learned_s: float) -> None:
        """Build the streaming subtractor for ``profile`` and report it."""
        self.profile = profile
        p = self.params
        subtract = SpectralSubtractor(profile, p["oversubtraction"], p["reduction_db"], p["smoothing"])
        self._processor = SpectralProcessor(profile.n_fft, profile.hop, "hann", fn=subtract)
        self._head = empty(self.channels)
        self.measurements.append(Measurement("noise_level_db", round(profile.level_dbfs(), 2), "dBFS"))
        self.measurements.append(Measurement("learned_s", round(learned_s, 3), "s"))


def _out(block: np.ndarray) -> Outputs:
    return {"main": np.ascontiguousarray(block, dtype=np.float32)}


def fix_learning_ranges(preset, read, rate: int, folder):
    """``preset`` with each ``de-noise-profile`` node fed by the graph input given, as its ``profile``, a file
    learned from its range of the input.

    ``read(start, stop)`` returns input frames ``[start, stop)`` float32 [n, channels] at ``rate`` Hz (the
    working rate); ``folder`` receives the profile files. A run over a later segment of a file (the GUI's
    preview starts at the playhead) then removes the noise a run from the file's start would (export, CLI),
    instead of learning from the segment's own first seconds. Nodes with a profile file, behind other nodes,
    bypassed, or whose range holds too little audio are left as they are (they report their own errors).
    """
    from pathlib import Path

    from restora.dsp.noise_profile import ProfileError, learn_profile, save_profile
    from restora.graph.preset import GRAPH_INPUT

    overrides = []
    for spec in preset.nodes:
        if spec.type != NoiseProfileNode.type_name or spec.input != GRAPH_INPUT or spec.bypass:
            continue
        params = NoiseProfileNode(**spec.params).params
        if params["profile"]:
            continue
        start, end = params["learn_start_s"], params["learn_end_s"]
        try:
            profile = learn_profile(read(int(round(start * rate)), int(round(end * rate))), rate)
        except ProfileError:
            continue
        path = Path(folder) / f"{spec.id}-{start:g}-{end:g}-{rate}.json"
        save_profile(profile, path)
        overrides.append(f"{spec.id}.profile={path}")
    return preset.with_overrides(overrides) if overrides else preset
