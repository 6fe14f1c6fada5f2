"""The Qt face of playback: one :class:`Player` drives the mixer and the output stream.

Widgets talk only to :class:`Player`. The stream opens lazily on :meth:`Player.play`
and closes after a pause or stop has faded out, so an idle app holds no device.
Anything the audio thread reports arrives on the GUI thread through a queued
signal; a missing or vanished device ends in ``"stopped"`` plus a
``playback_failed`` message, and the next :meth:`Player.play` tries again.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from restora.app import audio_output
from restora.app.audio_output import AudioOutput, AudioUnavailable
from restora.app.playback import A, B, LaneSetting, MeterReading, PlaybackMixer

SWITCH_INTERVAL_S = 0.0005

PLAYING, PAUSED, STOPPED = "playing", "paused", "stopped"


def prepare_for_realtime() -> None:
    """Keep the interpreter from starving the audio callback of the GIL.

    The callback needs the GIL once per device period (5 ms at 256 frames).
    Python's default 5 ms switch interval lets a busy render thread hold it for
    a whole period, and a full garbage collection of the tens of thousands of
    objects Qt, numpy and the models create held it for about 85 ms here;
    freezing what exists once the window is built (and again at each play)
    keeps later collections small.
    """
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    gc.collect()
    gc.freeze()


class Player(QObject):
    """Transport, A/B, loop and lanes of one recording, played through sounddevice.

    Times are in seconds of the source; lane gains in dB. The mixer runs at
    the rate of the provider's timeline (its ``timeline()``: the source, or
    the source resampled to the chain's working rate when an ``upscale`` node
    raises it), so B carries the regenerated band and A is the original.
    """

    state_changed = Signal(str)      # "playing" / "paused" / "stopped"
    playback_failed = Signal(str)    # why playback could not start or went away
    ab_changed = Signal(str)         # "A" / "B"
    loop_changed = Signal(bool)      # looping on or off
    lanes_changed = Signal(list)     # lane names, main first, when the provider changes
    source_changed = Signal()        # a recording was set or cleared
    _audio_finished = Signal(int, bool, str)  # stream generation, lost, reason (from the audio thread)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # The callback needs the GIL once per device period (see prepare_for_realtime).
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._source = self._provider = self._mixer = self._output = None
        self._generation = 0
        self._state = STOPPED
        self._device, self._blocksize, self._samplerate = None, 512, None
        self._ab, self._level_match = A, True
        self._loop_s: tuple[float, float] | None = None
        self._loop_on = False
        self._lanes: dict[str, LaneSetting] = {}
        self._reason = ""
        self._audio_finished.connect(self._on_audio_finished, Qt.QueuedConnection)
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(250)
        self._watchdog.timeout.connect(self._check_output)

    # ---- material -----------------------------------------------------------------
    def set_source(self, source) -> None:
        """Play ``source`` (a SourceAudio) from its start, or nothing (None)."""
        self._close_output()
        self._set_state(STOPPED)
        self._source = source
        self._mixer = None
        if source is not None:
            self._mixer = PlaybackMixer(self._timeline(), self._provider)
            self._push_settings()
        self.source_changed.emit()

    def _timeline(self):
        """What the mixer plays: the provider's timeline when it belongs to this source, else the source."""
        timeline = getattr(self._provider, "timeline", lambda: None)()
        source = self._source
        if timeline is None or source is None or timeline.path != source.path or timeline is source:
            return source
        if abs(timeline.duration_s - source.duration_s) > 0.01:
            return source
        return timeline

    def _follow_timeline(self) -> None:
        """Rebuild the mixer at the provider's rate (keeping the playhead in seconds) when it changed."""
        mixer, timeline = self._mixer, self._timeline()
        if mixer is None or timeline is mixer.source:
            return
        playing = self._state == PLAYING
        seconds = mixer.shown_position() / mixer.sample_rate
        ended = mixer.ended
        self._close_output()
        mixer.halt()
        self._mixer = PlaybackMixer(timeline, self._provider)
        self._mixer.seek(int(round(seconds * timeline.sample_rate)))
        self._mixer.ended = ended
        self._push_settings()
        if playing:
            self._state = PAUSED  # silently: play() below restarts the stream at the new rate
            self.play()

    def set_provider(self, provider) -> None:
        """Take processed lanes from ``provider`` (None: B plays the original)."""
        self._provider = provider
        names = list(provider.lane_names()) if provider is not None else []
        for index, name in enumerate(names):
            self._lanes.setdefault(name, LaneSetting(mute=index > 0))
        if self._mixer is not None:
            self._mixer.set_provider(provider)
            self._push_settings()
            self._follow_timeline()
        self.lanes_changed.emit(names)

    def source(self):
        return self._source

    def duration_s(self) -> float:
        return self._source.duration_s if self._source is not None else 0.0

    # ---- transport ----------------------------------------------------------------
    def state(self) -> str:
        return self._state

    def play(self) -> None:
        """Start or resume; on failure emit ``playback_failed`` and stay stopped."""
        if self._mixer is None or self._state == PLAYING:
            return
        # Objects made since start-up (models, plots) would otherwise make the
        # next full garbage collection hold the GIL for tens of milliseconds.
        gc.freeze()
        self._close_output()
        try:
            output = self._open_output()
        except AudioUnavailable as exc:
            self._mixer.halt()
            self._fail(exc.reason)
            return
        self._output = output
        self._reason = ""
        self._set_state(PLAYING)
        self._watchdog.start()

    def pause(self) -> None:
        if self._state != PLAYING:
            return
        self._halt()
        self._set_state(PAUSED)

    def stop(self) -> None:
        """Stop and put the playhead at the loop start (looping) or at 0."""
        if self._mixer is not None:
            self._halt(self._rewind_frame())
        self._set_state(STOPPED)

    def toggle_play(self) -> None:
        self.pause() if self._state == PLAYING else self.play()

    def seek(self, seconds: float) -> None:
        if self._mixer is not None:
            self._mixer.seek(int(round(max(0.0, seconds) * self._mixer.sample_rate)))

    def position_s(self) -> float:
        """The playhead to display (s): what is heard now, i.e. behind the mix by the output latency."""
        if self._mixer is None:
            return 0.0
        rate = self._mixer.sample_rate
        frame = self._mixer.shown_position()
        if self._state == PLAYING and self._output is not None:
            frame = self._behind(frame, int(round(self._output.latency * rate)))
        return max(0, frame) / rate

    def _behind(self, frame: int, latency: int) -> int:
        loop = self._mixer.loop
        if loop and loop[0] <= frame < loop[1] and frame - latency < loop[0]:
            return loop[1] - (loop[0] - (frame - latency))  # heard audio is still before the wrap
        return frame - latency

    # ---- loop ---------------------------------------------------------------------
    def set_loop(self, range_s: tuple[float, float] | None) -> None:
        """The selection to loop, ``(start_s, end_s)``, or None; looping itself is :attr:`loop_enabled`."""
        self._loop_s = None if range_s is None else (float(range_s[0]), float(range_s[1]))
        self._push_settings()

    def loop_range(self) -> tuple[float, float] | None:
        return self._loop_s

    @property
    def loop_enabled(self) -> bool:
        return self._loop_on

    @loop_enabled.setter
    def loop_enabled(self, on: bool) -> None:
        self.set_loop_enabled(on)

    def set_loop_enabled(self, on: bool) -> None:
        if bool(on) != self._loop_on:
            self._loop_on = bool(on)
            self._push_settings()
            self.loop_changed.emit(self._loop_on)

    # ---- A/B, level match, lanes --------------------------------------------------
    def set_ab(self, which: str) -> None:
        if which not in (A, B):
            raise ValueError(f"ab must be 'A' or 'B', got {which!r}")
        if which != self._ab:
            self._ab = which
            self._push_settings()
            self.ab_changed.emit(which)

    def toggle_ab(self) -> None:
        self.set_ab(B if self._ab == A else A)

    def ab(self) -> str:
        return self._ab

    def set_level_match(self, on: bool) -> None:
        self._level_match = bool(on)
        self._push_settings()

    def level_match(self) -> bool:
        return self._level_match

    def set_lane(self, name: str, gain_db: float | None = None, mute: bool | None = None,
                 solo: bool | None = None) -> None:
        """Change how lane ``name`` sounds in B (None leaves a field as it is)."""
        old = self._lanes.get(name, LaneSetting())
        self._lanes[name] = LaneSetting(old.gain_db if gain_db is None else float(gain_db),
                                        old.mute if mute is None else bool(mute),
                                        old.solo if solo is None else bool(solo))
        self._push_settings()

    def lane_settings(self) -> dict[str, LaneSetting]:
        """Settings of the provider's lanes, main lane first."""
        names = list(self._provider.lane_names()) if self._provider is not None else []
        return {name: self._lanes.get(name, LaneSetting()) for name in names}

    def _push_settings(self) -> None:
        mixer = self._mixer
        if mixer is None:
            return
        mixer.set_ab(self._ab)
        mixer.level_match = self._level_match
        mixer.lanes = dict(self._lanes)  # one assignment: the audio thread sees old or new, whole
        rate = mixer.sample_rate
        loop = self._loop_s if self._loop_on else None
        mixer.set_loop(None if loop is None else (int(round(loop[0] * rate)), int(round(loop[1] * rate))))

    # ---- device -------------------------------------------------------------------
    def configure(self, device=None, blocksize: int = 512, samplerate: int | None = None) -> None:
        """Output ``device`` (index/name, None = default), ``blocksize`` frames, ``samplerate``
        (None = follow the file); a running stream restarts with them."""
        self._device, self._blocksize, self._samplerate = device, int(blocksize), samplerate
        if self._state == PLAYING:
            self._close_output()
            self._set_state(PAUSED)
            self.play()

    def last_failure(self) -> str:
        """The reason of the last failed or lost playback ("" after a good start)."""
        return self._reason

    def available(self) -> bool:
        return self.unavailable_reason() == ""

    def unavailable_reason(self) -> str:
        """"" when the configured output can be used, else why not (plain words)."""
        return audio_output.unavailable_reason(self._device)

    def stream_stats(self) -> dict:
        """The open stream's callbacks, underflows and output latency (s); empty when closed."""
        out = self._output
        if out is None:
            return {}
        return {"callbacks": out.callbacks, "underflows": out.underflows, "underflow_at": list(out.underflow_at),
                "latency_s": out.latency,
                "device": out.device_name, "samplerate": out.samplerate}

    def take_meters(self) -> MeterReading | None:
        """Input/output peaks since the last call, or None without a recording."""
        return self._mixer.take_meters() if self._mixer is not None else None

    def mixer(self) -> PlaybackMixer | None:
        return self._mixer

    def close(self) -> None:
        """Release the device (on quit)."""
        self._watchdog.stop()
        self._close_output()
        if self._mixer is not None:
            self._mixer.halt()
        self._set_state(STOPPED)

    # ---- internals ----------------------------------------------------------------
    def _open_output(self) -> AudioOutput:
        try:
            output = self._new_output()
        except AudioUnavailable:
            if not audio_output.rescan():  # a device may have been plugged in since start-up
                raise
            output = self._new_output()
        self._mixer.set_output(output.channels, output.samplerate)
        self._mixer.start()
        output.start()
        return output

    def _new_output(self) -> AudioOutput:
        self._generation += 1
        generation, mixer = self._generation, self._mixer

        def fill(outdata) -> bool:
            mixer.render(outdata)
            return mixer.playing

        def finished(lost: bool, reason: str) -> None:
            self._audio_finished.emit(generation, lost, reason)

        rate = self._samplerate or mixer.sample_rate
        return AudioOutput(fill, finished, device=self._device, samplerate=int(rate),
                           channels=self._source.channels, blocksize=self._blocksize)

    def _halt(self, seek_to: int | None = None) -> None:
        """Fade out (stream running) or stop now, then move to ``seek_to``."""
        mixer = self._mixer
        if self._output is not None and mixer.playing:
            mixer.fade_out(seek_to)  # the stream ends itself once silent
        else:
            self._close_output()
            mixer.halt()
            if seek_to is not None:
                mixer.seek(seek_to)

    def _rewind_frame(self) -> int:
        loop = self._mixer.loop
        return loop[0] if loop else 0

    def _close_output(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None
            self._watchdog.stop()

    def _on_audio_finished(self, generation: int, lost: bool, reason: str) -> None:
        if generation != self._generation or self._output is None:
            return
        self._close_output()
        mixer = self._mixer
        ended = mixer.ended
        mixer.halt()
        if lost:
            self._fail(reason)
        elif ended:
            mixer.seek(self._rewind_frame())
            self._set_state(STOPPED)

    def _check_output(self) -> None:
        if self._output is None:
            return
        reason = self._output.check()
        if reason and self._state == PLAYING:
            self._close_output()
            self._mixer.halt()
            self._fail(reason)

    def _fail(self, reason: str) -> None:
        self._reason = reason
        self._set_state(STOPPED)
        self.playback_failed.emit(reason)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)
