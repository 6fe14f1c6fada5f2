"""Playback mix rules (A/B, lanes, loop, meters, rate conversion) and the playback widgets."""

from __future__ import annotations

import numpy as np
import pytest

from restora.app.playback import PlaybackMixer, StaticLanes
from restora.app.source import SourceAudio

SR = 48000


def tone(freq: float, seconds: float = 1.0, amp: float = 0.5, rate: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def play(mixer: PlaybackMixer, frames: int, block: int = 512) -> np.ndarray:
    """Run the callback for ``frames`` output frames in ``block``-sized calls: [frames, out_channels]."""
    out = np.zeros((frames, mixer.out_channels), np.float32)
    for i in range(0, frames, block):
        mixer.render(out[i:i + block])
    return out


def mixer_for(original: np.ndarray, lanes: dict | None = None, **kwargs) -> PlaybackMixer:
    provider = StaticLanes(lanes, **kwargs) if lanes is not None else None
    return PlaybackMixer(SourceAudio.from_array(original, SR), provider)


def started(mixer: PlaybackMixer, ab: str = "A", at: int = 0) -> PlaybackMixer:
    mixer.set_ab(ab)
    mixer.seek(at)
    mixer.start()
    play(mixer, mixer.ramp_frames)  # past the fade-in
    return mixer


def test_a_plays_the_original_and_b_the_processed_lane():
    x = tone(440)
    y = tone(1000, amp=0.3)
    m = started(mixer_for(x, {"processed": y}), "A")
    start = m.position
    np.testing.assert_array_equal(play(m, 2048), x[start:start + 2048])
    m = started(mixer_for(x, {"processed": y}), "B")
    start = m.position
    np.testing.assert_array_equal(play(m, 2048), y[start:start + 2048])


def test_ab_flip_mid_block_glides_and_lands_on_the_other_signal():
    x = tone(440)
    m = started(mixer_for(x, {"processed": -x}), "A")  # inverted: a hard switch would jump by up to 1.0
    out = np.zeros((4096, 1), np.float32)
    m.render(out[:300])
    m.set_ab("B")
    m.render(out[300:700])  # flip lands inside this block
    for i in range(700, 4096, 512):
        m.render(out[i:i + 512])
    steepest = 0.5 * 2 * np.pi * 440 / SR
    assert np.abs(np.diff(out[:, 0])).max() < 1.5 * steepest
    start = m.position - 4096
    tail = slice(300 + m.ramp_frames + 1, 4096)
    np.testing.assert_allclose(out[tail], -x[start:start + 4096][tail], atol=1e-6)


def test_lane_solo_mute_and_gain():
    x = tone(440)
    lanes = {"speech": tone(300), "background": tone(2000, amp=0.2)}
    speech, bg = lanes["speech"], lanes["background"]
    m = started(mixer_for(x, lanes), "B")

    def settled() -> tuple[np.ndarray, slice]:
        play(m, 2 * m.ramp_frames)
        start = m.position
        return play(m, 1024), slice(start, start + 1024)

    out, at = settled()
    np.testing.assert_allclose(out, speech[at], atol=1e-6)  # default: main lane only
    m.set_lane("background", mute=False)
    out, at = settled()
    np.testing.assert_allclose(out, speech[at] + bg[at], atol=1e-6)
    m.set_lane("background", solo=True)
    out, at = settled()
    np.testing.assert_allclose(out, bg[at], atol=1e-6)
    m.set_lane("background", mute=True)  # solo wins over mute
    out, at = settled()
    np.testing.assert_allclose(out, bg[at], atol=1e-6)
    m.set_lane("background", solo=False)
    m.set_lane("speech", gain_db=-6.0)
    out, at = settled()
    np.testing.assert_allclose(out, speech[at] * 10 ** (-6 / 20), atol=1e-6)
    m.set_lane("speech", mute=True)
    out, _ = settled()
    assert not out.any()


def test_lane_change_glides_without_a_click():
    x = tone(440)
    m = started(mixer_for(x, {"processed": x}), "B")
    out = np.zeros((4096, 1), np.float32)
    m.render(out[:1000])
    m.set_lane("processed", mute=True)
    m.render(out[1000:])
    assert np.abs(np.diff(out[:, 0])).max() < 1.5 * 0.5 * 2 * np.pi * 440 / SR
    assert not out[1000 + m.ramp_frames + 1:].any()


def rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))


def test_level_match_brings_a_quieter_lane_to_the_original_level():
    x = tone(440)
    quieter = x * 10 ** (-6 / 20)
    m = started(mixer_for(x, {"processed": quieter}, reference=x), "B")
    assert rms(play(m, 9600)) == pytest.approx(rms(x), rel=0.01)
    m.level_match = False
    play(m, 2 * m.ramp_frames)
    assert rms(play(m, 9600)) == pytest.approx(rms(quieter), rel=0.01)


def test_loop_wraps_exactly():
    x = (np.arange(20000, dtype=np.float32) / 20000)[:, None]  # a ramp: every frame is distinct
    m = mixer_for(x)
    m.set_loop((1000, 3000))
    m.seek(1000)
    m.start()
    out = play(m, 9000, block=700)
    loop = x[1000:3000]
    expected = np.concatenate([loop] * 5)[:9000]
    ramp = m.ramp_frames
    np.testing.assert_array_equal(out[ramp:], expected[ramp:])
    assert m.playing and 1000 <= m.position < 3000


def test_stops_with_silence_at_the_end_of_the_file():
    x = tone(440, seconds=0.1)
    m = started(mixer_for(x), at=len(x) - 2000)
    out = play(m, 4096)
    left = 2000 - m.ramp_frames
    np.testing.assert_array_equal(out[:left], x[len(x) - left:])
    assert not out[left:].any()
    assert not m.playing and m.ended


def test_unrendered_ranges_play_the_original_and_are_counted():
    x = tone(440)
    y = tone(1000)

    class Partial(StaticLanes):
        def read(self, lane, start, frames):
            return None if start < 8192 else super().read(lane, start, frames)

    m = PlaybackMixer(SourceAudio.from_array(x, SR), Partial({"processed": y}))
    m.set_ab("B")
    m.start()
    out = play(m, 8192)
    np.testing.assert_allclose(out[m.ramp_frames:], x[m.ramp_frames:8192], atol=1e-6)
    assert m.not_ready_frames == 8192
    play(m, 2 * m.ramp_frames)  # the rendered lane glides in
    start = m.position
    np.testing.assert_allclose(play(m, 1024), y[start:start + 1024], atol=1e-6)
    assert m.not_ready_frames == 8192


def test_a_b_are_sample_aligned_at_the_same_position():
    x = tone(440) + tone(1234, amp=0.2)
    m = mixer_for(x, {"processed": 0.5 * x})
    m.level_match = False
    m.capture = []
    m.seek(5000)
    m.start()
    play(m, 3000)  # A
    m.set_ab("B")
    play(m, 3000)  # flips while playing
    for start, block in m.capture:
        orig = x[start:start + len(block)]
        loud = np.abs(orig) > 0.05
        if start >= 5000 + m.ramp_frames:
            ratio = block[loud] / orig[loud]
            assert ratio.min() >= 0.5 - 1e-5 and ratio.max() <= 1.0 + 1e-5, start  # a blend of x and x/2, never shifted
    last_start, last = m.capture[-1]
    np.testing.assert_allclose(last, 0.5 * x[last_start:last_start + len(last)], atol=1e-6)


def test_seek_while_playing_fades_and_jumps():
    x = (np.arange(48000, dtype=np.float32) / 48000)[:, None]
    m = started(mixer_for(x))
    m.capture = []
    m.seek(30000)
    play(m, 4096)
    starts = [s for s, _ in m.capture]
    assert starts[0] < 30000 and 30000 in starts  # first the fade-out where it was, then the new place
    assert m.position == 30000 + sum(len(b) for s, b in m.capture if s >= 30000)


def test_rate_conversion_keeps_the_tone_frequency():
    src_rate = 44100
    x = tone(1000, seconds=1.0, rate=src_rate)
    m = PlaybackMixer(SourceAudio.from_array(x, src_rate), out_channels=2, out_rate=48000)
    m.start()
    out = play(m, 48000, block=480)
    assert out.shape == (48000, 2)
    body = out[4800:, 0]
    spectrum = np.abs(np.fft.rfft(body * np.hanning(len(body))))
    peak_hz = np.argmax(spectrum) * 48000 / len(body)
    assert peak_hz == pytest.approx(1000, abs=3)
    assert rms(body) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert m.position == pytest.approx(44100 * 48000 / 48000, abs=600)  # about one second of source used


def test_channel_mapping_mono_to_all_and_surround_downmixed():
    x = tone(440)
    m = PlaybackMixer(SourceAudio.from_array(x, SR), out_channels=2)
    m.start()
    out = play(m, 2048)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    six = np.zeros((SR, 6), np.float32)
    six[:, 2] = x[:, 0]  # centre only
    m = PlaybackMixer(SourceAudio.from_array(six, SR), out_channels=2)
    m.start()
    out = play(m, 2048)
    assert np.abs(out[1000:, 0]).max() > 0.1
    np.testing.assert_allclose(out[:, 0], out[:, 1])


def test_meters_report_peaks_and_clips():
    x = np.stack([tone(440, amp=0.5)[:, 0], tone(440, amp=0.25)[:, 0]], axis=1)
    loud = x * 2.4  # left reaches 1.2: clips
    m = started(mixer_for(x, {"processed": loud}), "B")
    m.take_meters()
    play(m, 4096)
    reading = m.take_meters()
    np.testing.assert_allclose(reading.input_peak, [0.5, 0.25], atol=0.01)
    assert not reading.input_clip.any()
    np.testing.assert_allclose(reading.output_peak, [1.2, 0.6], atol=0.02)
    assert reading.output_clip.tolist() == [True, False]
    assert not m.take_meters().output_peak.any()  # a reading starts afresh


# ---- widgets -------------------------------------------------------------------------

from PySide6.QtCore import Qt  # noqa: E402

from restora.app import audio_output, player as player_module  # noqa: E402
from restora.app.audio_output import NO_DEVICE, AudioUnavailable  # noqa: E402
from restora.app.lanes_panel import LanesPanel  # noqa: E402
from restora.app.meters import LevelMeter, MetersPanel  # noqa: E402
from restora.app.player import Player  # noqa: E402
from restora.app.transport import TransportBar, format_time  # noqa: E402


class SilentOutput:
    """Stands in for AudioOutput: opens, never calls back (no device needed)."""

    def __init__(self, fill, on_finished, *, device=None, samplerate=48000, channels=2, blocksize=512):
        self.fill, self.samplerate, self.channels, self.latency = fill, samplerate, channels, 0.0

    def start(self):
        pass

    def close(self):
        pass

    def check(self):
        return ""


@pytest.fixture
def no_device(monkeypatch):
    def missing():
        raise AudioUnavailable(NO_DEVICE)

    monkeypatch.setattr(audio_output, "_sounddevice", missing)


def loaded_player(lanes: dict | None = None) -> Player:
    x = tone(440, seconds=90.0, rate=8000, amp=0.3)
    player = Player()
    player.set_source(SourceAudio.from_array(x, 8000))
    if lanes is not None:
        player.set_provider(StaticLanes(lanes))
    return player


def test_transport_without_a_device_says_why_and_still_drives_the_player(qtbot, no_device):
    player = loaded_player()
    bar = TransportBar(player)
    qtbot.addWidget(bar)
    bar.show()
    assert "No audio output device" in bar.message.text()
    with qtbot.waitSignal(player.playback_failed):
        qtbot.mouseClick(bar.play_button, Qt.LeftButton)
    assert player.state() == "stopped" and bar.play_button.text() == "Play"
    assert "export still work" in bar.message.text()
    qtbot.mouseClick(bar.ab_button, Qt.LeftButton)
    assert player.ab() == "B" and bar.ab_button.text() == "B: processed"
    qtbot.mouseClick(bar.level_match, Qt.LeftButton)
    assert player.level_match() is False
    qtbot.mouseClick(bar.loop_button, Qt.LeftButton)
    assert player.loop_enabled
    player.seek(61.5)
    bar.refresh()
    assert bar.time_label.text() == "01:01.500 / 01:30.000"
    player.set_loop((10.0, 20.0))
    qtbot.mouseClick(bar.stop_button, Qt.LeftButton)
    assert player.position_s() == pytest.approx(10.0)  # stop returns to the loop start


def test_transport_play_pause_and_keyboard_ab(qtbot, monkeypatch):
    monkeypatch.setattr(player_module, "AudioOutput", SilentOutput)
    player = loaded_player()
    bar = TransportBar(player)
    qtbot.addWidget(bar)
    qtbot.mouseClick(bar.play_button, Qt.LeftButton)
    assert player.state() == "playing" and bar.play_button.text() == "Pause"
    bar.ab_button.setFocus()
    qtbot.keyClick(bar.ab_button, Qt.Key_Space)
    assert player.ab() == "B"
    player.toggle_ab()  # from elsewhere (a shortcut): the bar follows
    assert bar.ab_button.text() == "A: original" and not bar.ab_button.isChecked()
    qtbot.mouseClick(bar.play_button, Qt.LeftButton)
    assert player.state() == "paused" and bar.play_button.text() == "Play"


def test_format_time():
    assert format_time(0) == "00:00.000"
    assert format_time(3723.4567) == "62:03.457"


def test_lanes_panel_rows_drive_the_player(qtbot):
    player = loaded_player({"speech": tone(300, rate=8000), "background": tone(900, rate=8000)})
    panel = LanesPanel(player)
    qtbot.addWidget(panel)
    assert list(panel.rows) == ["speech", "background"]
    bg = panel.rows["background"]
    assert bg.mute.isChecked() and not panel.rows["speech"].mute.isChecked()  # main lane heard by default
    with qtbot.waitSignal(panel.lane_changed) as changed:
        qtbot.mouseClick(bg.solo, Qt.LeftButton)
    assert changed.args == ["background"]
    assert player.lane_settings()["background"].solo
    assert player.mixer().lanes["background"].solo  # reaches the audio side
    qtbot.mouseClick(bg.mute, Qt.LeftButton)
    assert not player.lane_settings()["background"].mute
    bg.gain.setFocus()
    for _ in range(4):
        qtbot.keyClick(bg.gain, Qt.Key_Left)
    assert player.lane_settings()["background"].gain_db == pytest.approx(-2.0)
    assert bg.gain_label.text() == "-2.0 dB"
    player.set_provider(StaticLanes({"processed": tone(300, rate=8000), "removed": tone(900, rate=8000)}))
    assert list(panel.rows) == ["processed", "removed"]


def test_level_meter_holds_peaks_and_latches_clips(qtbot):
    now = [0.0]
    meter = LevelMeter("Output", channels=2, clock=lambda: now[0])
    qtbot.addWidget(meter)
    meter.update_levels(np.array([1.0, 0.1]), np.array([True, False]))
    for t in (0.5, 1.0):
        now[0] = t
        meter.update_levels(np.array([0.01, 0.01]), np.array([False, False]))
    assert meter.peak_hold_db()[0] == pytest.approx(0.0)
    assert meter.levels_db()[0] < -10  # the bar itself falls
    assert meter.clipped().tolist() == [True, False]
    now[0] = 3.0
    meter.update_levels(np.array([0.01, 0.01]), np.array([False, False]))
    assert meter.peak_hold_db()[0] < -30  # the hold lets go after its time
    assert meter.clipped()[0]  # the clip light stays until the user clears it
    qtbot.mouseClick(meter, Qt.LeftButton)
    assert not meter.clipped().any()


def test_meters_panel_shows_what_the_player_played(qtbot, monkeypatch):
    monkeypatch.setattr(player_module, "AudioOutput", SilentOutput)
    x = tone(440, seconds=1.0, amp=0.5, rate=8000)
    player = Player()
    player.set_source(SourceAudio.from_array(x, 8000))
    player.set_provider(StaticLanes({"processed": 2.5 * x}))
    player.set_ab("B")
    player.set_level_match(False)
    panel = MetersPanel(player)
    qtbot.addWidget(panel)
    player.play()
    out = np.zeros((2048, player._output.channels), np.float32)
    player._output.fill(out)  # one audio callback
    panel.poll()
    assert panel.input_meter.levels_db()[0] == pytest.approx(20 * np.log10(0.5), abs=0.2)
    assert panel.output_meter.clipped().all()
    assert not panel.input_meter.clipped().any()
    player.close()
