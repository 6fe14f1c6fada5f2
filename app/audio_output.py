"""The audio output stream (sounddevice/PortAudio), imported lazily so the app runs without it.

Everything that can go wrong with audio hardware becomes :class:`AudioUnavailable`
with a sentence a user can act on; the rest of the app (analysis, export)
never depends on this module succeeding.
"""

from __future__ import annotations

import time

OFF = "playback is off; analysis and export still work."
NO_DEVICE = f"No audio output device found: {OFF}"
STALL_S = 2.0  # no callback for this long while running = the device is gone

_open_streams = 0  # PortAudio may only be re-initialised while none is open


class AudioUnavailable(RuntimeError):
    """Audio output cannot be used; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _sounddevice():
    """The sounddevice module, or AudioUnavailable when it or PortAudio is missing."""
    try:
        import sounddevice
    except OSError:
        raise AudioUnavailable("The PortAudio library is not installed (Debian/Ubuntu: "
                               f"apt install libportaudio2): {OFF}") from None
    except ImportError:
        raise AudioUnavailable(f"The sounddevice package is not installed: {OFF}") from None
    return sounddevice


def list_output_devices() -> list[dict]:
    """Output devices: ``{index, name, hostapi, default_samplerate, max_output_channels}`` each.

    Empty when there is none or when PortAudio is missing (see :func:`unavailable_reason`).
    """
    try:
        sd = _sounddevice()
        devices, apis = sd.query_devices(), sd.query_hostapis()
    except Exception:
        return []
    return [{"index": int(d["index"]), "name": d["name"], "hostapi": apis[d["hostapi"]]["name"],
             "default_samplerate": float(d["default_samplerate"]),
             "max_output_channels": int(d["max_output_channels"])}
            for d in devices if d["max_output_channels"] > 0]


def unavailable_reason(device=None) -> str:
    """Why playback to ``device`` (None = default) cannot work, or "" when it can."""
    try:
        find_device(device)
    except AudioUnavailable as exc:
        return exc.reason
    return ""


def rescan() -> bool:
    """Make PortAudio enumerate devices again (one plugged in since start-up); False if a stream is open."""
    if _open_streams:
        return False
    try:
        sd = _sounddevice()
        sd._terminate()  # sounddevice has no public rescan; these two are what it runs at import
        sd._initialize()
    except Exception:
        return False
    return True


def find_device(device=None) -> dict:
    """The PortAudio info dict of output ``device`` (index, name or None = default)."""
    sd = _sounddevice()
    try:
        info = sd.query_devices(device, kind="output") if device is None else sd.query_devices(device)
    except (ValueError, sd.PortAudioError):
        if device is None:
            raise AudioUnavailable(NO_DEVICE) from None
        raise AudioUnavailable(f"The output device {device!r} is not available: {OFF}") from None
    if int(info["max_output_channels"]) < 1:
        raise AudioUnavailable(f"{info['name']!r} has no outputs: {OFF}")
    return info


def stream_settings(device, samplerate: int, channels: int) -> tuple[int, int, int]:
    """``(device index, rate, channels)`` to open: ``samplerate`` if the device takes it,
    else the device's default rate; ``channels`` at least 2 where the device has them."""
    sd = _sounddevice()
    info = find_device(device)
    index = int(info["index"])
    channels = max(1, min(max(int(channels), 2), int(info["max_output_channels"])))
    try:
        sd.check_output_settings(index, channels=channels, dtype="float32", samplerate=samplerate)
    except Exception:
        samplerate = int(info["default_samplerate"])
    return index, int(samplerate), channels


class AudioOutput:
    """One float32 output stream calling ``fill(outdata) -> bool`` on PortAudio's thread.

    ``outdata`` is float32 [frames, channels] at ``samplerate`` Hz; ``fill``
    returns False when playback has ended (the stream then stops by itself).
    ``on_finished(lost, reason)`` is called once, from the audio thread, when
    the stream ends without :meth:`close`: ``lost`` is False for a normal end,
    True when the device failed or vanished. Opening raises AudioUnavailable.
    """

    def __init__(self, fill, on_finished, *, device=None, samplerate: int = 48000, channels: int = 2,
                 blocksize: int = 512) -> None:
        global _open_streams
        self._fill, self._on_finished = fill, on_finished
        self._closing = self._ended = False
        self._reported = False
        self._error = ""
        self._stream = None
        self._sd = sd = _sounddevice()
        self.device, self.samplerate, self.channels = stream_settings(device, samplerate, channels)
        self.device_name = find_device(self.device)["name"]
        try:
            self._stream = sd.OutputStream(device=self.device, samplerate=self.samplerate,
                                           blocksize=int(blocksize), channels=self.channels, dtype="float32",
                                           callback=self._callback, finished_callback=self._finished)
        except Exception as exc:
            raise AudioUnavailable(f"Cannot open {self.device_name!r} ({exc}): {OFF}") from None
        _open_streams += 1
        self.latency = float(self._stream.latency)
        self.last_callback = time.monotonic()
        self.callbacks = self.underflows = 0  # counted for benchmarks/live_preview.py
        self.underflow_at: list[int] = []  # callback numbers of the first underflows

    def start(self) -> None:
        try:
            self.last_callback = time.monotonic()
            self._stream.start()
        except Exception as exc:
            self.close()
            raise AudioUnavailable(f"Cannot start {self.device_name!r} ({exc}): {OFF}") from None

    def close(self) -> None:
        """Stop at once and release the device; no ``on_finished`` report follows."""
        global _open_streams
        if self._stream is None:
            return
        self._closing = True
        stream, self._stream = self._stream, None
        try:
            stream.abort()
        except Exception:
            pass  # a vanished device cannot be stopped, only released
        try:
            stream.close()
        except Exception:
            pass
        _open_streams -= 1

    def check(self) -> str:
        """From the GUI thread: "" while healthy, else why the stream died unnoticed."""
        if self._stream is None or self._closing or self._ended or self._reported:
            return ""
        try:
            active = self._stream.active
        except Exception as exc:
            return f"The audio device failed ({exc}); playback stopped."
        if not active:
            return self._error or "The audio device stopped (unplugged?); playback stopped."
        if time.monotonic() - self.last_callback > STALL_S:
            return "The audio device stopped responding (unplugged?); playback stopped."
        return ""

    def _callback(self, outdata, frames, time_info, status) -> None:
        self.last_callback = time.monotonic()
        self.callbacks += 1
        if status.output_underflow:
            self.underflows += 1
            if len(self.underflow_at) < 20:
                self.underflow_at.append(self.callbacks)
        sd = self._sd
        if self._closing:
            outdata.fill(0)
            raise sd.CallbackAbort
        try:
            keep = self._fill(outdata)
        except (sd.CallbackAbort, sd.CallbackStop):
            raise
        except Exception as exc:  # a bug in the mix must end playback, not leave a screaming device
            outdata.fill(0)
            self._error = f"Playback stopped by an error: {exc!r}"
            raise sd.CallbackAbort from None
        if not keep:
            self._ended = True
            raise sd.CallbackStop

    def _finished(self) -> None:
        if self._closing or self._reported:
            return
        self._reported = True
        lost = not self._ended
        reason = self._error or "The audio device stopped (unplugged?); playback stopped."
        self._on_finished(lost, reason if lost else "")
