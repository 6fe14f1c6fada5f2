"""Playback through a real PortAudio stream on ALSA's null device, and without any device.

The null device takes audio as fast as the callback makes it (it is not paced
by a clock), so these tests compare *what* was delivered, never *when*, and
keep the stream open only briefly.
"""

from __future__ import annotations

import numpy as np
import pytest

from restora.app import audio_output
from restora.app.playback import StaticLanes
from restora.app.player import Player
from restora.app.source import SourceAudio

sd = pytest.importorskip("sounddevice", exc_type=OSError)

SR = 48000


def _rescan() -> None:
    sd._terminate()
    sd._initialize()


@pytest.fixture
def null_device(tmp_path, monkeypatch):
    """PortAudio sees one ALSA output, the null device (restored afterwards)."""
    conf = tmp_path / "xdg" / "alsa"
    conf.mkdir(parents=True)
    (conf / "asoundrc").write_text("pcm.!default { type null }\nctl.!default { type hw card 0 }\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    _rescan()
    if not audio_output.list_output_devices():
        pytest.skip("PortAudio did not pick up the ALSA null device")
    yield
    monkeypatch.undo()
    _rescan()


@pytest.fixture
def no_device(monkeypatch):
    """PortAudio reports no device at all, as on a machine without a sound card."""
    def no_stream(*args, **kwargs):
        raise sd.PortAudioError("Error querying device -1")

    def no_devices(device=None, kind=None):
        if device is None and kind is None:
            return sd.DeviceList([])
        raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "query_devices", no_devices)
    monkeypatch.setattr(sd, "OutputStream", no_stream)
    monkeypatch.setattr(audio_output, "rescan", lambda: True)


def _tone(freq: float, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    left = 0.4 * np.sin(2 * np.pi * freq * t)
    return np.stack([left, 0.5 * left], axis=1).astype(np.float32)


def _player_with_lanes(qtbot):
    original = _tone(440.0)
    processed = _tone(1000.0)  # recognisably different from the original
    player = Player()
    player.set_source(SourceAudio.from_array(original, SR))
    player.set_provider(StaticLanes({"processed": processed, "removed": original - processed}))
    return player, original, processed


def test_real_stream_delivers_the_processed_lane(qtbot, null_device):
    player, original, processed = _player_with_lanes(qtbot)
    player.set_ab("B")
    mixer = player.mixer()
    mixer.capture = []
    with qtbot.waitSignal(player.state_changed):
        player.play()
    assert player.state() == "playing", player.last_failure()
    qtbot.waitUntil(lambda: sum(len(b) for _, b in mixer.capture) >= SR // 2, timeout=5000)
    blocks, mixer.capture = mixer.capture, None  # stop() fades out; only compare full-level audio
    player.stop()
    player.close()
    checked = 0
    for start, block in blocks:
        if start < mixer.ramp_frames:
            continue  # playback fades in over its first ramp
        np.testing.assert_allclose(block, processed[start:start + len(block)], atol=1e-6)
        checked += len(block)
    assert checked >= SR // 2 - mixer.ramp_frames - 4096
    assert not np.allclose(processed[SR:SR + 1000], original[SR:SR + 1000], atol=0.1)


def test_real_stream_delivers_what_the_renderer_made(qtbot, null_device):
    """The whole path: a chain rendered in the background, played through a real stream."""
    from restora.app.render import RenderController
    from restora.graph.preset import preset_from_dict

    original = _tone(440.0)
    source = SourceAudio.from_array(original, SR)
    renderer = RenderController()
    renderer.set_source(source)
    renderer.set_preset(preset_from_dict({"restora_preset": 1, "name": "t", "outputs": {"processed": "g"},
                                    "nodes": [{"id": "g", "type": "gain", "params": {"gain_db": -12}}]}, "test"))
    assert renderer.wait_idle(20)
    player = Player()
    player.set_source(source)
    player.set_provider(renderer)
    player.set_ab("B")
    player.set_level_match(False)
    mixer = player.mixer()
    mixer.capture = []
    with qtbot.waitSignal(player.state_changed):
        player.play()
    qtbot.waitUntil(lambda: sum(len(b) for _, b in mixer.capture) >= SR // 2, timeout=5000)
    blocks, mixer.capture = mixer.capture, None
    player.close()
    renderer.shutdown()
    expected = original * 10 ** (-12 / 20)
    checked = 0
    for start, block in blocks:
        if start >= mixer.ramp_frames:
            np.testing.assert_allclose(block, expected[start:start + len(block)], atol=1e-6)
            checked += len(block)
    assert checked >= SR // 4


def test_no_device_says_why_and_keeps_working(qtbot, no_device):
    player, original, _ = _player_with_lanes(qtbot)
    assert not player.available()
    assert "No audio output device" in player.unavailable_reason()
    with qtbot.waitSignal(player.playback_failed) as failed:
        player.play()
    assert "No audio output device" in failed.args[0]
    assert "export" in failed.args[0]  # tells the user what still works
    assert player.state() == "stopped"
    player.seek(1.0)
    player.toggle_ab()
    assert player.position_s() == pytest.approx(1.0)
    assert audio_output.list_output_devices() == []


def test_missing_portaudio_library_is_explained(monkeypatch):
    def broken():
        raise OSError("PortAudio library not found")

    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "sounddevice":
            broken()
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    reason = audio_output.unavailable_reason()
    assert "PortAudio" in reason and "playback is off" in reason


def test_device_lost_mid_play_stops_gracefully_and_can_play_again(qtbot, null_device):
    player, _, _ = _player_with_lanes(qtbot)
    mixer = player.mixer()
    real_render = mixer.render
    calls = []

    def unplugged(out):
        calls.append(1)
        if len(calls) > 3:
            raise sd.CallbackAbort  # what a vanished device looks like from the callback
        real_render(out)

    mixer.render = unplugged
    failures = []
    player.playback_failed.connect(failures.append)
    player.play()
    qtbot.waitUntil(lambda: player.state() == "stopped", timeout=5000)
    assert failures and "stopped" in failures[0]
    mixer.render = real_render
    with qtbot.waitSignal(player.state_changed):
        player.play()
    assert player.state() == "playing"
    player.stop()
    player.close()


def test_finished_callback_without_our_stop_counts_as_device_loss(qtbot, null_device):
    player, _, _ = _player_with_lanes(qtbot)
    player.play()
    output = player._output
    with qtbot.waitSignal(player.playback_failed) as failed:
        output._finished()  # PortAudio ending the stream on its own
    assert "audio device" in failed.args[0]
    assert player.state() == "stopped"
    player.close()


def test_device_rate_other_than_the_file_rate_is_converted(qtbot, null_device):
    player, _, _ = _player_with_lanes(qtbot)
    player.configure(samplerate=44100)
    mixer = player.mixer()
    with qtbot.waitSignal(player.state_changed):
        player.play()
    assert player._output.samplerate == 44100
    qtbot.waitUntil(lambda: mixer.position > SR // 2 or mixer.ended, timeout=5000)
    player.close()
    assert mixer.out_rate == 44100 and mixer.take_meters().output_peak.max() > 0.3
