"""The playback mix: what the audio callback sends, decided from the transport state.

:class:`PlaybackMixer` is plain numpy (no Qt, no sounddevice) so its rules are
testable without a device. It owns the playhead (``position``, frames at the
source rate), the A/B switch, the loop and the lane settings, and fills one
callback buffer at a time with :meth:`PlaybackMixer.render`.

Processed audio comes from a *lane provider* (the renderer, or
:class:`StaticLanes` for fully rendered material and tests)::

    provider.read(lane, start, frames) -> float32 [frames, channels] | None  # None: not rendered yet
    provider.level_match_gain(lane) -> float   # linear gain to the original's level
    provider.lane_names() -> list[str]         # main lane first

Lanes are sample-aligned with the original, so A and B read at the same
frame are latency-aligned and the switch can flip at any sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from restora.app.source import SourceAudio
from restora.graph.taps import downmix

RAMP_S = 0.01  # glide for A/B flips, lane changes, start, pause and seek: no clicks
A, B = "A", "B"


@dataclass(frozen=True)
class LaneSetting:
    """How a lane is heard in B: gain in dB, mute, solo (solo wins over mute)."""

    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False


@dataclass
class MeterReading:
    """Peaks since the last reading: ``input`` is the original, ``output`` what was sent.

    ``*_peak`` are float32 [channels] linear full-scale peaks (source channels
    for input, device channels for output); ``*_clip`` are bool [channels],
    True where a sample reached 1.0 or more.
    """

    input_peak: np.ndarray
    input_clip: np.ndarray
    output_peak: np.ndarray
    output_clip: np.ndarray


class StaticLanes:
    """A lane provider over fully rendered lanes: ``{name: float32 [frames, channels]}``.

    The first key is the main lane. ``gains`` gives level-match gains per lane
    (default 1.0); with ``reference`` (the original, [frames, channels]) and no
    gain for a lane, its gain is the RMS ratio original / lane.
    """

    def __init__(self, lanes: dict[str, np.ndarray], gains: dict | None = None, *,
                 reference: np.ndarray | None = None) -> None:
        self._lanes = {name: _as_2d(audio) for name, audio in lanes.items()}
        self._gains = dict(gains or {})
        if reference is not None:
            ref_rms = _rms(_as_2d(reference))
            for name, audio in self._lanes.items():
                lane_rms = _rms(audio)
                self._gains.setdefault(name, ref_rms / lane_rms if lane_rms > 0 else 1.0)

    def read(self, lane: str, start: int, frames: int) -> np.ndarray | None:
        audio = self._lanes.get(lane)
        if audio is None or start < 0 or start + frames > len(audio):
            return None
        return audio[start:start + frames]

    def level_match_gain(self, lane: str) -> float:
        return float(self._gains.get(lane, 1.0))

    def lane_names(self) -> list[str]:
        return list(self._lanes)


def _as_2d(audio: np.ndarray) -> np.ndarray:
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    return audio[:, None] if audio.ndim == 1 else audio


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


class _Ramp:
    """A gain that glides linearly to its target in ``length`` frames."""

    def __init__(self, value: float, length: int) -> None:
        self.value = self.target = float(value)
        self.step = 0.0
        self.length = max(1, int(length))

    def set(self, target: float) -> None:
        target = float(target)
        if target != self.target:
            self.target = target
            self.step = (target - self.value) / self.length

    def jump(self, value: float | None = None) -> None:
        self.value = self.target = self.target if value is None else float(value)
        self.step = 0.0

    @property
    def moving(self) -> bool:
        return self.value != self.target

    def remaining(self) -> int:
        """Frames until the target is reached."""
        return 0 if not self.moving else int(np.ceil(abs((self.target - self.value) / self.step)))

    def take(self, frames: int, steps: np.ndarray) -> float | np.ndarray:
        """Gains for the next ``frames`` frames: a scalar when constant, else float32 [frames, 1].

        ``steps`` is the preallocated ``1, 2, 3, ...`` float32 ramp index.
        """
        if not self.moving:
            return self.value
        gains = self.value + self.step * steps[:frames]
        np.clip(gains, min(self.value, self.target), max(self.value, self.target), out=gains)
        self.value = float(gains[-1])
        if abs(self.value - self.target) < 1e-7:
            self.value = self.target
        return gains[:, None]


class PlaybackMixer:
    """Playback state and the per-callback mix of original (A) and processed lanes (B).

    ``source`` is the decoded recording (``sample_rate`` Hz); ``out_rate`` is
    the device rate (None = the source rate; otherwise soxr converts inside
    :meth:`render`), ``out_channels`` the device channels. GUI-thread methods
    only set requests; the audio thread applies them at block edges, so the
    two never fight over the playhead.
    """

    def __init__(self, source: SourceAudio, provider=None, *, out_channels: int | None = None,
                 out_rate: int | None = None) -> None:
        self.source = source
        self.sample_rate = int(source.sample_rate)
        self.channels = int(source.channels)
        self.out_channels = int(out_channels or self.channels)
        self.out_rate = int(out_rate or self.sample_rate)
        self.ramp_frames = max(1, int(round(RAMP_S * self.sample_rate)))
        self.position = 0
        self.playing = False
        self.ended = False
        self.loop: tuple[int, int] | None = None
        self.ab = A
        self.level_match = True
        self.not_ready_frames = 0
        self.capture: list | None = None
        self.lanes: dict[str, LaneSetting] = {}
        self._pending_seek: int | None = None
        self._pending_halt = False
        self._a = _Ramp(1.0, self.ramp_frames)
        self._master = _Ramp(0.0, self.ramp_frames)
        self._fallback = _Ramp(0.0, self.ramp_frames)
        self._scratch_frames = 0
        self._ensure_scratch(4096)
        self._resampler = None
        self._reset_meters()
        self.set_provider(provider)
        self.set_output(self.out_channels, self.out_rate)

    # ---- settings (GUI thread) -------------------------------------------------
    def set_provider(self, provider) -> None:
        """Use ``provider`` for B (None: B plays the original and counts not-ready frames)."""
        names = list(provider.lane_names()) if provider is not None else []
        defaults = {name: LaneSetting(mute=index > 0) for index, name in enumerate(names)}
        self.lanes = {**defaults, **self.lanes}
        ramps = {name: _Ramp(0.0, self.ramp_frames) for name in names}
        # One assignment, so the audio thread sees old or new lanes, never a mix.
        self._lane_state = (provider, names, ramps)

    def lane_names(self) -> list[str]:
        return list(self._lane_state[1])

    def set_lane(self, name: str, gain_db: float | None = None, mute: bool | None = None,
                 solo: bool | None = None) -> LaneSetting:
        """Change one lane's setting (None leaves that field); the change glides in."""
        old = self.lanes.get(name, LaneSetting())
        new = replace(old, **{k: v for k, v in (("gain_db", gain_db), ("mute", mute), ("solo", solo))
                              if v is not None})
        self.lanes = {**self.lanes, name: new}
        return new

    def set_ab(self, which: str) -> None:
        """Hear ``"A"`` (the original) or ``"B"`` (the processed lanes); flips with a short glide."""
        if which not in (A, B):
            raise ValueError(f"ab must be 'A' or 'B', got {which!r}")
        self.ab = which

    def set_output(self, channels: int, rate: int | None = None) -> None:
        """Device channels and rate (None = source rate); call while no stream runs."""
        self.out_channels = int(channels)
        self.out_rate = int(rate or self.sample_rate)
        self._resampler = None
        if self.out_rate != self.sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, self.out_rate, self.out_channels,
                                                  dtype="float32", quality="HQ")
        self._fifo = np.zeros((0, self.out_channels), np.float32)
        self._fifo_len = 0
        self._scratch_frames = 0
        self._ensure_scratch(4096)
        self._reset_meters()

    def set_loop(self, frames: tuple[int, int] | None) -> None:
        """Loop ``start .. stop`` (frames, stop exclusive) or None; ignored when empty."""
        if frames is not None:
            start, stop = int(frames[0]), int(frames[1])
            frames = (max(0, start), stop) if stop > start else None
        self.loop = frames

    # ---- transport (GUI thread) ------------------------------------------------
    def start(self) -> None:
        """Begin playing at ``position`` (fading in); call while no stream runs."""
        self.halt()
        if self.ended or self.position >= self._length():
            self.position = self.loop[0] if self.loop else 0
        self.ended = False
        self._a.jump(1.0 if self.ab == A else 0.0)
        self._fallback.jump(0.0)
        provider, names, ramps = self._lane_state
        targets = self._lane_targets(provider, names)
        for name in names:
            ramps[name].jump(targets[name])
        self._master.jump(0.0)
        self._master.set(1.0)
        self._reset_resampler()
        self.playing = True

    def fade_out(self, seek_to: int | None = None) -> None:
        """Ask the audio thread to fade out and stop (then jump to ``seek_to`` if given)."""
        if seek_to is not None:
            self._pending_seek = max(0, int(seek_to))
        self._pending_halt = True

    def halt(self) -> None:
        """Stop now and apply pending requests; for when no stream runs."""
        if self._pending_seek is not None:
            self.position, self._pending_seek = self._pending_seek, None
        self._pending_halt = False
        self.playing = False
        self._master.jump(0.0)

    def seek(self, frame: int) -> None:
        """Move the playhead; while playing the audio thread fades out, jumps and fades in."""
        frame = max(0, int(frame))
        self.ended = False
        if self.playing:
            self._pending_seek = frame
        else:
            self.position = frame

    def shown_position(self) -> int:
        """The playhead a display should show right now (a pending seek counts)."""
        pending = self._pending_seek
        return self.position if pending is None else pending

    def take_meters(self) -> MeterReading:
        """Peaks and clips since the previous call (then starts afresh)."""
        reading = MeterReading(self._in_peak, self._in_peak >= 1.0, self._out_peak, self._out_peak >= 1.0)
        self._reset_meters()
        return reading

    def _reset_meters(self) -> None:
        # Fresh arrays rather than zeroing in place: the audio thread may hold the old ones.
        self._in_peak = np.zeros(self.channels, np.float32)
        self._out_peak = np.zeros(self.out_channels, np.float32)

    # ---- audio thread ------------------------------------------------------------
    def render(self, out: np.ndarray) -> None:
        """Fill ``out`` (float32 [frames, out_channels] at ``out_rate``) with the next audio."""
        frames = len(out)
        if self._resampler is None:
            self._render_source(out, frames)
        else:
            self._render_resampled(out, frames)
        peak = self._out_peak
        if frames:
            np.maximum(peak, np.abs(out).max(axis=0), out=peak)

    def _render_resampled(self, out: np.ndarray, frames: int) -> None:
        chunk = int(np.ceil(frames * self.sample_rate / self.out_rate)) + 1
        self._ensure_scratch(chunk)
        block = self._mapped[:chunk]
        while self._fifo_len < frames:
            if not self.playing:
                break
            self._render_source(block, chunk)
            self._push_fifo(self._resampler.resample_chunk(block))
        take = min(frames, self._fifo_len)
        out[:take] = self._fifo[:take]
        out[take:] = 0.0
        self._fifo[:self._fifo_len - take] = self._fifo[take:self._fifo_len]
        self._fifo_len -= take

    def _push_fifo(self, chunk: np.ndarray) -> None:
        need = self._fifo_len + len(chunk)
        if need > len(self._fifo):
            grown = np.zeros((max(need, 2 * len(self._fifo)), self.out_channels), np.float32)
            grown[:self._fifo_len] = self._fifo[:self._fifo_len]
            self._fifo = grown
        self._fifo[self._fifo_len:need] = chunk
        self._fifo_len = need

    def _reset_resampler(self, keep_tail: bool = False) -> None:
        """Start a new resampled stream (on start and seek; ``keep_tail`` keeps the faded-out end).

        A loop wrap does not reset it: the wrapped audio is one continuous signal.
        """
        if self._resampler is None:
            return
        if keep_tail:
            self._push_fifo(self._resampler.resample_chunk(self._mapped[:0], last=True))
        else:
            self._fifo_len = 0
        self._resampler.clear()

    def _render_source(self, out: np.ndarray, frames: int) -> None:
        """Fill ``out`` [frames, out_channels] at the source rate, segment by segment."""
        self._ensure_scratch(frames)
        done = 0
        while done < frames:
            self._apply_requests()
            if not self.playing:
                out[done:frames] = 0.0
                return
            n = self._segment_length(frames - done)
            if n <= 0:
                out[done:frames] = 0.0  # at the end, or the loader has not decoded this far yet
                if self.source.complete:
                    self.playing, self.ended = False, True
                return
            start = self.position
            seg = out[done:done + n]
            self._mix_segment(start, n, seg)
            if self.capture is not None:
                self.capture.append((start, seg.copy()))
            self.position = start + n
            done += n
            self._after_segment()

    def _apply_requests(self) -> None:
        """Fade out for a pending seek or halt; once silent, jump and fade in, or stop."""
        if not (self._pending_halt or self._pending_seek is not None):
            return
        self._master.set(0.0)
        if self._master.moving:
            return
        if self._pending_seek is not None:
            self.position, self._pending_seek = self._pending_seek, None
            self._reset_resampler(keep_tail=True)
        if self._pending_halt:
            self._pending_halt = False
            self.playing = False
        else:
            self._master.set(1.0)

    def _segment_length(self, wanted: int) -> int:
        """How far the next segment may run: to the loop end, file end, or a finished fade."""
        n = min(wanted, self._available() - self.position)
        loop = self.loop
        if loop and self.position < loop[1]:
            n = min(n, loop[1] - self.position)
        if self._master.target == 0.0 and self._master.moving:
            n = min(n, self._master.remaining())
        return n

    def _after_segment(self) -> None:
        loop = self.loop
        if loop and self.position == loop[1]:
            self.position = loop[0]
        if self.source.complete and self.position >= self.source.frames:
            self.playing, self.ended = False, True

    def _mix_segment(self, start: int, n: int, dst: np.ndarray) -> None:
        """Mix frames ``start .. start+n`` into ``dst`` [n, out_channels]."""
        orig = self.source.data[start:start + n]
        peak = self._in_peak
        np.maximum(peak, np.maximum(orig.max(axis=0), -orig.min(axis=0)), out=peak)
        self._a.set(1.0 if self.ab == A else 0.0)
        wa = self._a.take(n, self._steps)
        mix = self._mix[:n]
        if isinstance(wa, float) and wa == 1.0:
            self._settle_lanes()
            mix[:] = orig
        else:
            b = self._mix_b(start, n, orig)
            np.subtract(orig, b, out=mix)  # A·wa + B·(1−wa) = B + wa·(A − B)
            mix *= wa
            mix += b
        mix *= self._master.take(n, self._steps)
        _map_channels(mix, dst)

    def _mix_b(self, start: int, n: int, orig: np.ndarray) -> np.ndarray:
        """The B mix for ``start .. start+n``: float32 [n, channels] (the original where not rendered)."""
        provider, names, ramps = self._lane_state
        targets = self._lane_targets(provider, names)
        acc, tmp = self._acc[:n], self._tmp[:n]
        acc[:] = 0.0
        ready = provider is not None
        for name in names:
            ramp = ramps[name]
            ramp.set(targets[name])
            if not ready or (ramp.value == 0.0 and ramp.target == 0.0):
                continue
            block = _safe_read(provider, name, start, n)
            if block is None:
                ready = False
                continue
            np.multiply(block, ramp.take(n, self._steps), out=tmp)
            acc += tmp
        if not ready:
            self.not_ready_frames += n
            for ramp in ramps.values():
                ramp.jump()
            self._fallback.jump(1.0)
            acc[:] = orig
            return acc
        self._fallback.set(0.0)
        wf = self._fallback.take(n, self._steps)
        if not (isinstance(wf, float) and wf == 0.0):
            np.subtract(orig, acc, out=tmp)  # glide from the stand-in original to the rendered lanes
            tmp *= wf
            acc += tmp
        return acc

    def _lane_targets(self, provider, names: list[str]) -> dict[str, float]:
        """Linear gain per lane for B: solo wins over mute, level match scales the whole mix."""
        settings = self.lanes
        lanes = [settings.get(name, LaneSetting()) for name in names]
        any_solo = any(s.solo for s in lanes)
        match = 1.0
        if self.level_match and provider is not None and names:
            try:
                match = float(provider.level_match_gain(names[0]))
            except Exception:  # a renderer hiccup must not kill the audio thread
                match = 1.0
        return {name: (10.0 ** (s.gain_db / 20.0) * match if (s.solo if any_solo else not s.mute) else 0.0)
                for name, s in zip(names, lanes)}

    def _settle_lanes(self) -> None:
        # Unheard while A is fully on: lane gains may take their targets at once.
        provider, names, ramps = self._lane_state
        targets = self._lane_targets(provider, names)
        for name in names:
            ramps[name].jump(targets[name])
        self._fallback.jump(0.0)

    def _available(self) -> int:
        src = self.source
        return min(src.decoded, src.frames) if src.complete else src.decoded

    def _length(self) -> int:
        return self.source.frames if self.source.complete else self.source.decoded

    def _ensure_scratch(self, frames: int) -> None:
        if frames <= self._scratch_frames:
            return
        frames = max(frames, 2 * self._scratch_frames)
        self._steps = np.arange(1, frames + 1, dtype=np.float32)
        self._mix = np.zeros((frames, self.channels), np.float32)
        self._acc = np.zeros((frames, self.channels), np.float32)
        self._tmp = np.zeros((frames, self.channels), np.float32)
        self._mapped = np.zeros((frames + 2, max(self.out_channels, 1)), np.float32)
        self._scratch_frames = frames


def _safe_read(provider, name: str, start: int, n: int) -> np.ndarray | None:
    try:
        block = provider.read(name, start, n)
    except Exception:  # treated as not rendered: the original plays instead
        return None
    if block is None or len(block) != n:
        return None
    return block if block.ndim == 2 else block[:, None]


def _map_channels(block: np.ndarray, out: np.ndarray) -> None:
    """Write ``block`` [n, C] into ``out`` [n, D]: mono to all, fewer to the first, more downmixed."""
    have, want = block.shape[1], out.shape[1]
    if have == want or have == 1:
        out[:] = block
    elif have > want:
        out[:] = downmix(block, want)
    else:
        out[:, :have] = block
        out[:, have:] = 0.0
