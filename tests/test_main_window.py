"""The whole workstation window driven offscreen: open, edit, listen, process, save, export, batch."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QEvent, QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from restora.app.main_window import MainWindow
from restora.app.settings import Settings
from restora.graph.node import Node
from restora.graph.registry import register_node_type

SR = 16000
GAIN_DB = -6.0


@pytest.fixture
def recording(tmp_path):
    """2 s of a tone in noise, 16 kHz stereo WAV (float, so comparisons are exact)."""
    rng = np.random.default_rng(3)
    t = np.arange(2 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    audio = np.stack([tone, 0.5 * tone], axis=1) + 0.05 * rng.standard_normal((len(t), 2))
    path = tmp_path / "take.wav"
    sf.write(path, audio.astype(np.float32), SR, subtype="FLOAT")
    return path


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    made = []

    def make(name: str = "s", first_launch: bool = False):
        settings = Settings(QSettings(str(tmp_path / f"{name}.ini"), QSettings.IniFormat))
        window = MainWindow(settings, open_demo_on_first_launch=first_launch, autosave_folder=tmp_path / "autosave")
        window.errors = []
        window.show_error = lambda title, text: window.errors.append((title, text))
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        return window

    yield make
    for window in made:
        window.docs.dirty = False
        window.close()
        # Destroy the C++ side now, in order, rather than whenever Python's GC gets to it.
        window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def _open(qtbot, window, path):
    assert window.open_file(path)
    qtbot.waitUntil(window.is_loaded, timeout=10000)


def _add_gain(qtbot, window, gain_db=GAIN_DB):
    node_id = window.editor.add_node("gain")
    spin = window.editor.param_panel.widgets["gain_db"].control
    spin.setValue(gain_db)
    spin.editingFinished.emit()
    _rendered(qtbot, window)
    return node_id


def _rendered(qtbot, window):
    qtbot.waitUntil(lambda: window.renderer.is_idle() and window.renderer.fraction() >= 1.0, timeout=15000)


def _original(path):
    return sf.read(path, dtype="float32", always_2d=True)[0]


def test_open_shows_the_file_and_draws_views(qtbot, make_window, recording):
    window = make_window()
    _open(qtbot, window, recording)
    assert "take.wav" in window.info_label.text() and "16000 Hz" in window.info_label.text()
    # Drawing follows the loader's signals, which arrive just after the data is complete.
    qtbot.waitUntil(lambda: window.views.spectrogram_columns() > 0, timeout=5000)
    assert str(recording) in window.settings.recent_files
    assert window.errors == []


def test_a_bad_file_shows_an_error_and_keeps_the_open_recording(qtbot, make_window, recording, tmp_path):
    window = make_window()
    _open(qtbot, window, recording)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    assert not window.open_file(bad)
    assert window.errors and "bad.wav" in window.errors[0][1]
    assert window.source.path == recording


def test_dropping_a_file_opens_it(qtbot, make_window, recording):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(recording))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(window.is_loaded, timeout=10000)
    assert window.source.path == recording


def test_add_node_change_parameter_hear_it_and_undo(qtbot, make_window, recording):
    window = make_window()
    _open(qtbot, window, recording)
    node_id = _add_gain(qtbot, window)
    original = _original(recording)
    processed = window.renderer.lane_data("processed")
    np.testing.assert_allclose(processed, original * 10 ** (GAIN_DB / 20), atol=1e-6)
    np.testing.assert_allclose(window.renderer.lane_data("removed"), original - processed, atol=1e-6)
    assert window.lanes_panel.rows.keys() == {"processed", "removed"}

    window.undo_action.trigger()  # undo the parameter change
    _rendered(qtbot, window)
    assert window.chain.node(node_id).params["gain_db"] == 0.0
    assert window.editor.param_panel.widgets["gain_db"].value() == 0.0
    np.testing.assert_allclose(window.renderer.lane_data("processed"), original, atol=1e-6)
    window.redo_action.trigger()
    _rendered(qtbot, window)
    np.testing.assert_allclose(window.renderer.lane_data("processed"), processed, atol=1e-6)


def test_b_key_flips_between_original_and_processed(qtbot, make_window, recording):
    window = make_window()
    _open(qtbot, window, recording)
    _add_gain(qtbot, window)
    assert window.player.ab() == "A"
    with qtbot.waitActive(window):
        window.activateWindow()
    QTest.keyClick(window, Qt.Key_B)
    assert window.player.ab() == "B"
    # What the mixer sends for B is the rendered lane, level-matched back to the original.
    mixer = window.player.mixer()
    window.player.set_level_match(False)
    mixer.start()
    out = np.zeros((512, 2), np.float32)
    for _ in range(8):  # past the start glide
        mixer.render(out)
    start = mixer.position - 512
    np.testing.assert_allclose(out, window.renderer.read("processed", start, 512), atol=1e-6)
    QTest.keyClick(window, Qt.Key_B)
    assert window.player.ab() == "A"


def test_process_only_the_selection(qtbot, make_window, recording):
    window = make_window()
    _open(qtbot, window, recording)
    _add_gain(qtbot, window)
    window.views.set_selection((0.5, 1.5))
    window.set_scope("selection")
    _rendered(qtbot, window)
    assert window.scope_frames() == (8000, 24000)
    original = _original(recording)
    processed = window.renderer.lane_data("processed")
    np.testing.assert_array_equal(processed[:8000], original[:8000])
    np.testing.assert_array_equal(processed[24000:], original[24000:])
    fade = window.renderer.lanes and 400
    np.testing.assert_allclose(processed[8000 + fade:24000 - fade],
                               original[8000 + fade:24000 - fade] * 10 ** (GAIN_DB / 20), atol=1e-6)


def test_save_and_reopen_a_project(qtbot, make_window, recording, tmp_path):
    window = make_window()
    _open(qtbot, window, recording)
    node_id = _add_gain(qtbot, window)
    window.views.set_selection((0.25, 1.0))
    window.player.set_lane("removed", mute=False, gain_db=-3.0)
    window.views.set_compare_mode("beside")
    project = tmp_path / "session.restora"
    assert window.docs.save_to(project)
    assert project.exists() and (tmp_path / "session.restora-cache").is_dir()
    assert "*" not in window.windowTitle()

    other = make_window("other")
    assert other.open_file(project)
    qtbot.waitUntil(other.is_loaded, timeout=10000)
    assert other.source.path == recording
    assert other.chain.node(node_id).params["gain_db"] == GAIN_DB
    assert other.views.selection() == pytest.approx((0.25, 1.0))
    assert other.views.compare_mode() == "beside"
    lane = other.player.lane_settings()["removed"]
    assert (lane.mute, lane.gain_db) == (False, -3.0)
    _rendered(qtbot, other)
    np.testing.assert_allclose(other.renderer.lane_data("processed"),
                               window.renderer.lane_data("processed"), atol=1e-7)


def test_ctrl_s_saves_to_the_open_project(qtbot, make_window, recording, tmp_path):
    window = make_window()
    _open(qtbot, window, recording)
    _add_gain(qtbot, window)
    project = tmp_path / "p.restora"
    assert window.docs.save_to(project)
    before = project.stat().st_mtime_ns
    window.editor.add_node("highpass")
    assert "*" in window.windowTitle()
    os.utime(project, ns=(before - 10**9, before - 10**9))
    with qtbot.waitActive(window):
        window.activateWindow()
    QTest.keyClick(window, Qt.Key_S, Qt.ControlModifier)
    assert project.stat().st_mtime_ns > before - 10**9
    assert "highpass" in project.read_text()


def test_export_writes_what_was_previewed(qtbot, make_window, recording, tmp_path):
    window = make_window()
    _open(qtbot, window, recording)
    _add_gain(qtbot, window)
    window.export_dialog()
    dialog = window.export_window
    out = tmp_path / "out" / "take-restored.wav"
    dialog.set_destination(out)
    dialog.format_combo.setCurrentText("wav")
    dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findText("32-bit float"))
    with qtbot.waitSignal(dialog.exported, timeout=15000):
        dialog.start_export()
    written, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == SR
    np.testing.assert_allclose(written, window.renderer.lane_data("processed"), atol=1e-6)


def test_a_small_batch_and_a_cancelled_one(qtbot, make_window, recording, tmp_path):
    window = make_window()
    _open(qtbot, window, recording)
    _add_gain(qtbot, window)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        sf.write(folder / f"{name}.wav", _original(recording), SR, subtype="FLOAT")
    window.batch_dialog()
    dialog = window.batch_window
    dialog.set_folders(folder, tmp_path / "done")
    dialog.set_preset("current")
    with qtbot.waitSignal(dialog.finished_batch, timeout=30000) as done:
        dialog.start()
    assert done.args[0]["done"] == 2
    result, _ = sf.read(tmp_path / "done" / "a.wav", dtype="float32", always_2d=True)
    np.testing.assert_allclose(result, window.renderer.lane_data("processed"), atol=1e-4)

    # A slow node keeps the second batch busy long enough to cancel it mid-file.
    register_node_type("slow-test", _SlowNode)
    window.editor.add_node("slow-test")
    dialog.set_folders(folder, tmp_path / "stopped")
    with qtbot.waitSignal(dialog.finished_batch, timeout=30000) as stopped:
        dialog.start()
        qtbot.waitUntil(lambda: any(item.status.startswith("running") for item in dialog.items), timeout=10000)
        dialog.cancel()
    assert stopped.args[0]["cancelled"] >= 1 and stopped.args[0]["done"] == 0
    stopped_dir = tmp_path / "stopped"
    assert not stopped_dir.exists() or not [p for p in stopped_dir.rglob("*") if p.is_file()]


class _SlowNode(Node):
    """Passes audio through, slowly (a stand-in for a heavy model)."""

    type_name = "slow-test"

    def process(self, block):
        time.sleep(0.05)
        return {"main": block}


def test_crash_restore_offers_the_autosaved_session(qtbot, make_window, recording, tmp_path):
    window = make_window()
    _open(qtbot, window, recording)
    _add_gain(qtbot, window)
    window.views.set_selection((0.1, 0.9))
    assert window.docs.autosaver.tick()
    # Pretend the process died: its lock now names a pid that does not exist.
    window.docs.autosaver.lock_path.write_text("999999999")
    restored = make_window("after-crash")
    assert restored.docs.offer_restore()
    qtbot.waitUntil(restored.is_loaded, timeout=10000)
    assert restored.source.path == recording
    assert [n.type for n in restored.chain.nodes()] == ["gain"]
    assert restored.views.selection() == pytest.approx((0.1, 0.9))


def test_without_an_audio_device_the_window_says_why_and_still_works(qtbot, make_window, recording):
    window = make_window()
    _open(qtbot, window, recording)
    if window.player.available():
        pytest.skip("this machine has an audio output device")
    window.player.play()
    assert window.player.state() != "playing"
    assert "playback is off" in window.statusBar().currentMessage().lower() or window.errors


def test_analysis_panel_measures_original_and_processed(qtbot, make_window, recording):
    window = make_window()
    _open(qtbot, window, recording)
    _add_gain(qtbot, window)
    with qtbot.waitSignal(window.analysis.finished, timeout=30000) as done:
        window.analysis.button.click()
    result = done.args[0]
    before, after = result["original"]["lufs"], result["processed"]["lufs"]
    assert after == pytest.approx(before + GAIN_DB, abs=0.1)


def test_clicking_the_views_seeks_the_player(qtbot, make_window, recording):
    window = make_window()
    _open(qtbot, window, recording)
    window.views.seek_requested.emit(1.25)
    assert window.player.position_s() == pytest.approx(1.25, abs=1e-3)
    assert window.transport.time_label.text().startswith("00:01.250")


def test_the_demo_opens_on_first_launch_only(qtbot, make_window):
    first = make_window("fresh", first_launch=True)
    qtbot.waitUntil(first.is_loaded, timeout=10000)
    assert first.source.path == first.demo_path()
    again = make_window("fresh", first_launch=True)
    qtbot.wait(100)
    assert again.source is None


def test_first_launch_checks_the_models_and_names_the_missing(qtbot, make_window, monkeypatch, tmp_path):
    monkeypatch.setenv("RESTORA_MODELS", str(tmp_path / "empty-store"))
    first = make_window("fresh-store", first_launch=True)
    qtbot.waitUntil(lambda: first.model_check is not None and not first.model_check.running, timeout=30000)
    message = first.statusBar().currentMessage()
    assert "Model check:" in message and "deepfilternet3 (missing)" in message and "restora models check" in message
    again = make_window("fresh-store", first_launch=True)
    assert again.model_check is None  # once, with the demo


def _installed(model_id: str) -> bool:
    from restora.errors import ModelError
    from restora.models.fetch import INSTALLED, status

    try:
        return status(model_id) == INSTALLED
    except ModelError:
        return False


@pytest.mark.skipif(not _installed("spleeter-2stems"), reason="spleeter-2stems not installed")
def test_stems_show_as_lanes_and_sum_to_the_original(qtbot, make_window, recording):
    window = make_window()
    _open(qtbot, window, recording)
    assert window.editor.load_builtin("stems-2")
    qtbot.waitUntil(lambda: window.renderer.is_idle() and window.renderer.fraction() >= 1.0, timeout=90000)
    assert window.errors == []
    assert list(window.lanes_panel.rows) == ["vocals", "accompaniment"]
    vocals, accompaniment = (window.renderer.lane_data(n) for n in ("vocals", "accompaniment"))
    np.testing.assert_allclose(vocals + accompaniment, _original(recording), atol=1e-4)
    window.player.set_lane("accompaniment", solo=True)
    assert window.player.lane_settings()["accompaniment"].solo
