"""Graph nodes around the small bundled models: DNSMOS meter, Silero VAD (+ gate), GTCRN.

All take float32 ``[frames, channels]`` blocks at the graph rate, resample to the
model's 16 kHz internally with streaming soxr (delay-compensated and independent
of block size), and keep output sample ``i`` aligned with input sample ``i``.
Models are opened on the first :meth:`start` and kept until :meth:`close`.
"""

from __future__ import annotations

import numpy as np

from restora.dsp.resample import StreamResampler
from restora.graph.model_rate import ModelRateBridge
from restora.graph.node import Block, Measurement, Node, Outputs, Param, empty
from restora.models import dnsmos, gtcrn, silero_vad

_VAD_SR = silero_vad.SR


def _main(block: np.ndarray) -> Outputs:
    return {"main": np.ascontiguousarray(block, dtype=np.float32)}


def _mono(block: Block) -> np.ndarray:
    return np.asarray(block, np.float32).mean(axis=1, keepdims=True)


class DnsmosNode(Node):
    """Analysis: DNSMOS P.835 SIG/BAK/OVRL and P.808 MOS (1-5) of the (downmixed) speech.

    Audio passes unchanged. At the end of the stream it attaches, for the whole
    file (``start_s`` None) and for each 9.01 s window, the Measurements
    ``sig``, ``bak``, ``ovrl`` and ``p808`` (unit ``MOS``).
    """

    type_name = "dnsmos"
    PARAMS = (Param("hop_s", 1, kind="int", minimum=1, maximum=60, unit="s",
                    doc="Start-to-start distance of the 9.01 s windows; 1 s is the reference, "
                        "larger is proportionally faster"),)
    _model: dnsmos.DnsmosModel | None = None

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        if self._model is None:
            self._model = dnsmos.DnsmosModel()
        self._meter = dnsmos.DnsmosMeter(sample_rate, self._model, self.params["hop_s"])

    def process(self, block: Block) -> Outputs:
        self._meter.push(_mono(block))
        return _main(block)

    def finish(self) -> Outputs:
        try:
            result = self._meter.result()
        except ValueError:  # empty stream: nothing to measure
            return super().finish()
        for scores, per_file in [(result.file, True)] + [(w, False) for w in result.windows]:
            for name in ("sig", "bak", "ovrl", "p808"):
                self.measurements.append(Measurement(
                    name, getattr(scores, name), "MOS",
                    None if per_file else scores.start_s, None if per_file else scores.end_s))
        return super().finish()

    def close(self) -> None:
        self._model = None


class VadSegmenter:
    """Speech segments from 32 ms Silero probabilities, decided chunk by chunk.

    Hysteresis as in Silero's ``get_speech_timestamps``: speech starts at
    ``p >= threshold`` and ends after ``min_silence_s`` of ``p < threshold - 0.15``.
    Segments shorter than ``min_speech_s`` are dropped; the rest are padded by
    ``pad_s`` each side (and merged where they then touch) by :meth:`segments`.
    """

    def __init__(self, threshold: float, min_speech_s: float, min_silence_s: float,
                 pad_s: float) -> None:
        self.on, self.off = threshold, max(threshold - 0.15, 0.01)
        self.min_speech, self.pad = min_speech_s, pad_s
        self.hang = max(1, int(round(min_silence_s / silero_vad.CHUNK_S)))
        self.count = 0
        self._start: int | None = None     # chunk where the open segment began
        self._quiet_from: int | None = None  # first chunk of the current silence run
        self._closed: list[tuple[int, int]] = []

    def push(self, probs: np.ndarray) -> np.ndarray:
        """Consume probabilities; return the per-chunk state (1 = inside speech)."""
        state = np.zeros(len(probs), np.float32)
        for i, p in enumerate(probs):
            k = self.count + i
            if p >= self.on:
                self._quiet_from = None
                if self._start is None:
                    self._start = k
            elif p < self.off and self._start is not None:
                if self._quiet_from is None:
                    self._quiet_from = k
                if k + 1 - self._quiet_from >= self.hang:
                    self._closed.append((self._start, self._quiet_from))
                    self._start = self._quiet_from = None
            state[i] = self._start is not None
        self.count += len(probs)
        return state

    def segments(self, duration_s: float) -> list[tuple[float, float]]:
        """Final (start_s, end_s) list for a stream of ``duration_s`` seconds."""
        spans = list(self._closed)
        if self._start is not None:
            spans.append((self._start, self._quiet_from if self._quiet_from is not None
                          else self.count))
        out: list[tuple[float, float]] = []
        for a, b in spans:
            s, e = a * silero_vad.CHUNK_S, min(b * silero_vad.CHUNK_S, duration_s)
            if e - s < self.min_speech:
                continue
            s, e = max(0.0, s - self.pad), min(duration_s, e + self.pad)
            if out and s <= out[-1][1]:
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
        return out


class VadNode(Node):
    """Voice activity (Silero VAD v6): speech segments and ratio; optional noise gate.

    Measurements at the end: ``speech`` per segment (``start_s``/``end_s``, value =
    its duration in s) and ``speech_ratio`` (0-1) for the file. With ``gate`` on,
    non-speech is attenuated to ``floor_db``; the gate opens ``pad_ms`` ahead of
    speech (look-ahead, so onsets are not clipped) and closes along a straight
    line in dB that reaches the floor after ``release_ms``; its gain is linearly
    interpolated between 32 ms chunk centres, so it never steps. Gating delays the output by about ``pad_ms`` + 64 ms
    (returned by :meth:`finish`); without the gate, audio passes with no delay.
    """

    type_name = "vad"
    PARAMS = (
        Param("threshold", 0.5, minimum=0.05, maximum=0.95, doc="Speech probability that starts speech"),
        Param("min_speech_ms", 250.0, minimum=0.0, maximum=5000.0, unit="ms",
              doc="Shorter speech segments are ignored"),
        Param("min_silence_ms", 100.0, minimum=32.0, maximum=5000.0, unit="ms",
              doc="Silence needed to end a segment"),
        Param("pad_ms", 30.0, minimum=0.0, maximum=1000.0, unit="ms",
              doc="Added before and after each segment (and the gate's look-ahead)"),
        Param("gate", False, kind="bool", doc="Attenuate non-speech"),
        Param("floor_db", -30.0, minimum=-80.0, maximum=0.0, unit="dB", doc="Gain outside speech"),
        Param("release_ms", 150.0, minimum=1.0, maximum=5000.0, unit="ms",
              doc="Time the gate takes to close from 0 dB to the floor"),
    )
    _vad: silero_vad.SileroVad | None = None

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        if self._vad is None:
            self._vad = silero_vad.SileroVad()
        self._vad.reset()
        p = self.params
        self._seg = VadSegmenter(p["threshold"], p["min_speech_ms"] / 1e3,
                                 p["min_silence_ms"] / 1e3, p["pad_ms"] / 1e3)
        self._resampler = StreamResampler(sample_rate, _VAD_SR, 1)
        self._frames_in = 0
        # Gate state: pending input from absolute frame self._pos; per-chunk gains.
        self._pending = empty(channels)
        self._pos = 0
        self._ahead = int(np.ceil(p["pad_ms"] / 1e3 / silero_vad.CHUNK_S))
        self._floor_db = p["floor_db"]
        # dB the closing gate drops per chunk (a dB-linear ramp reaches a deep floor in time).
        self._release_step = -p["floor_db"] * silero_vad.CHUNK_S / (p["release_ms"] / 1e3)
        self._states = np.zeros(0, np.float32)  # speech state of chunks not yet turned into gain
        self._state_base = 0                    # chunk index of self._states[0]
        self._gains = np.zeros(0, np.float64)   # gain at the centre of chunks [gain_base, ...)
        self._gain_base = 0
        self._last_db = self._floor_db

    def process(self, block: Block) -> Outputs:
        self._frames_in += len(block)
        self._advance(self._vad.push(self._resampler.process(_mono(block))), final=False)
        if not self.params["gate"]:
            return _main(block)
        self._pending = np.concatenate([self._pending, np.asarray(block, np.float32)])
        return _main(self._emit(final=False))

    def finish(self) -> Outputs:
        self._vad.push(self._resampler.finish())
        self._advance(self._vad.flush(), final=True)
        duration = self._frames_in / self.sample_rate
        segments = self._seg.segments(duration)
        for s, e in segments:
            self.measurements.append(Measurement("speech", e - s, "s", s, e))
        ratio = sum(e - s for s, e in segments) / duration if duration > 0 else 0.0
        self.measurements.append(Measurement("speech_ratio", ratio, ""))
        if not self.params["gate"]:
            return super().finish()
        return _main(self._emit(final=True))

    def close(self) -> None:
        self._vad = None

    # -- gate ----------------------------------------------------------------
    def _advance(self, probs: np.ndarray, final: bool) -> None:
        """Turn new probabilities into chunk gains once their look-ahead is known."""
        self._states = np.concatenate([self._states, self._seg.push(probs)])
        ready = len(self._states) if final else len(self._states) - self._ahead
        gains = []
        for i in range(max(ready, 0)):
            # Open early: speech within the next `ahead` chunks counts as speech now.
            target = 0.0 if self._states[i:i + self._ahead + 1].max() > 0 else self._floor_db
            self._last_db = max(target, self._last_db - self._release_step)
            gains.append(10.0 ** (self._last_db / 20.0))
        done = max(ready, 0)
        self._states = self._states[done:]
        self._state_base += done
        self._gains = np.concatenate([self._gains, gains])

    def _emit(self, final: bool) -> np.ndarray:
        """Gated pending frames whose gain is final (all of them when ``final``)."""
        known = self._gain_base + len(self._gains)  # chunks with a gain
        centres = (np.arange(self._gain_base, known) + 0.5) * silero_vad.CHUNK_S
        if final:
            n = len(self._pending)
        else:  # frames up to the last known chunk centre, never past the input
            if known == 0:
                return empty(self.channels)
            n = min(len(self._pending),
                    max(0, int(np.floor(centres[-1] * self.sample_rate)) + 1 - self._pos))
        if n == 0:
            return empty(self.channels)
        times = (self._pos + np.arange(n)) / self.sample_rate
        gain = (np.interp(times, centres, self._gains) if len(self._gains)
                else np.full(n, 10.0 ** (self._floor_db / 20.0)))
        out = self._pending[:n] * gain[:, None].astype(np.float32)
        self._pending = self._pending[n:]
        self._pos += n
        # Keep the chunk whose centre precedes the next frame: interpolation needs it.
        before = int(np.floor(self._pos / self.sample_rate / silero_vad.CHUNK_S - 0.5))
        drop = max(0, before - self._gain_base)
        self._gains = self._gains[drop:]
        self._gain_base += drop
        return out


class GtcrnNode(Node):
    """Light speech enhancement (GTCRN, 16 kHz) for weak CPUs; any rate and channel count.

    Each channel is resampled to 16 kHz, enhanced, and resampled back, so the
    output band ends at 8 kHz: on 44.1/48 kHz material everything above 8 kHz is
    removed (use ``deepfilternet3`` for full band, or mix the dry signal's high
    band back in a later node). Output length equals input length; latency is
    the STFT's 256-511 samples at 16 kHz plus the resamplers' hold-back,
    delivered by :meth:`finish`.
    """

    type_name = "gtcrn"
    _model: gtcrn.GtcrnModel | None = None

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        if self._model is None:
            self._model = gtcrn.GtcrnModel()
        self._bridge = ModelRateBridge(sample_rate, gtcrn.SR, [self._model.stream() for _ in range(channels)])

    def process(self, block: Block) -> Outputs:
        return _main(self._bridge.process(block))

    def finish(self) -> Outputs:
        return _main(self._bridge.finish())

    def close(self) -> None:
        self._model = None
