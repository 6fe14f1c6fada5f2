"""Projects, autosave/crash restore, settings, preferences, theme and the analysis panel."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from restora.app import autosave
from restora.app.analysis_panel import AnalysisPanel
from restora.app.autosave import Autosaver, find_crashed, forget, restore
from restora.app.preferences import PreferencesDialog
from restora.app.project import (MissingSourceError, Project, cache_folder, load_project, save_project,
                                 source_changed)
from restora.app.settings import Settings
from restora.app.theme import apply_dark_theme, apply_light_theme
from restora.errors import ModelError, RestoraError, UsageError
from restora.graph.preset import load_preset

RATE = 48000


def _wav(path, seconds=0.5, amplitude=0.1):
    t = np.arange(int(RATE * seconds)) / RATE
    sf.write(path, (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32), RATE)
    return path


def _project(source) -> Project:
    return Project(
        source=source, preset=load_preset("dialogue-clean").to_json(),
        selection_s=(1.25, 3.5), scope="selection",
        lanes={"main": {"gain_db": -3.0, "mute": False, "solo": True},
               "removed": {"gain_db": 0.0, "mute": True, "solo": False}},
        view={"compare_mode": "split", "log_frequency": False, "zoom": (0.5, 2.0)},
        playback={"ab": "A", "level_match": False, "loop": True, "position_s": 2.75})


# -- project files -------------------------------------------------------------

def test_round_trip_keeps_every_field(tmp_path):
    source = _wav(tmp_path / "take.wav")
    original = _project(source)
    save_project(original, tmp_path / "edit.restora")
    loaded = load_project(tmp_path / "edit.restora")
    assert loaded.source == source
    for name in ("preset", "selection_s", "scope", "lanes", "view", "playback"):
        assert getattr(loaded, name) == getattr(original, name), name
    assert loaded.source_size == source.stat().st_size
    assert not source_changed(loaded)


def test_file_is_versioned_json_with_relative_source(tmp_path):
    (tmp_path / "audio").mkdir()
    _wav(tmp_path / "audio" / "take.wav")
    save_project(_project(tmp_path / "audio" / "take.wav"), tmp_path / "p.restora")
    data = json.loads((tmp_path / "p.restora").read_text())
    assert data["restora_project"] == 1
    assert data["source"]["path"] == "audio/take.wav"


def test_project_moved_with_its_audio_still_finds_it(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    _wav(old / "take.wav")
    save_project(_project(old / "take.wav"), old / "p.restora")
    old.rename(new)
    assert load_project(new / "p.restora").source == new / "take.wav"


def test_source_outside_the_project_folder_is_stored_absolute(tmp_path):
    (tmp_path / "projects").mkdir()
    source = _wav(tmp_path / "take.wav")
    save_project(_project(source), tmp_path / "projects" / "p.restora")
    stored = json.loads((tmp_path / "projects" / "p.restora").read_text())["source"]["path"]
    assert stored == str(source)


def test_cache_folder_is_beside_the_project(tmp_path):
    assert cache_folder(tmp_path / "edit.restora") == tmp_path / "edit.restora-cache"


@pytest.mark.parametrize("text, words", [
    ("{not json", "not valid JSON"),
    ('{"restora_project": 7}', "unsupported project version 7"),
    ('{"restora_preset": 1}', "not a Restora project"),
    ('{"restora_project": 1, "selection_s": [3, 1]}', "selection_s ends"),
])
def test_bad_files_give_clear_errors(tmp_path, text, words):
    path = tmp_path / "bad.restora"
    path.write_text(text)
    with pytest.raises(UsageError, match=words) as info:
        load_project(path)
    assert "bad.restora" in str(info.value)


def test_missing_project_file_is_named(tmp_path):
    with pytest.raises(UsageError, match="nope.restora does not exist"):
        load_project(tmp_path / "nope.restora")


def test_missing_source_names_the_file_and_keeps_the_rest(tmp_path):
    source = _wav(tmp_path / "gone.wav")
    save_project(_project(source), tmp_path / "p.restora")
    source.unlink()
    with pytest.raises(MissingSourceError, match="gone.wav") as info:
        load_project(tmp_path / "p.restora")
    assert info.value.missing == source
    assert info.value.project.playback["position_s"] == 2.75  # the caller can relocate and go on


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.restora"
    save_project(_project(None), path)
    before = path.read_bytes()

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    changed = _project(None)
    changed.scope = "file"
    with pytest.raises(RestoraError, match="disk full") as info:
        save_project(changed, path)
    assert "unchanged" in str(info.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.restora"], "temporary file left behind"


def test_write_error_midway_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "p.restora"
    save_project(_project(None), path)
    before = path.read_bytes()

    def failing_disk(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_disk)
    with pytest.raises(RestoraError, match="could not save"):
        save_project(Project(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.restora"]


def test_edited_source_is_detected(tmp_path):
    source = _wav(tmp_path / "take.wav")
    save_project(_project(source), tmp_path / "p.restora")
    _wav(source, seconds=0.75)
    assert source_changed(load_project(tmp_path / "p.restora"))


# -- autosave ---------------------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # reaped, so no process has it (reuse this soon is vanishingly unlikely)


def test_autosave_writes_only_when_dirty(qtbot, tmp_path):
    saver = Autosaver(lambda: _project(None), tmp_path, interval_s=3600)
    assert not saver.tick() and not saver.path.exists()
    saver.mark_dirty()
    with qtbot.waitSignal(saver.saved):
        assert saver.tick()
    assert saver.path.exists() and saver.lock_path.read_text().strip() == str(os.getpid())
    saver.path.unlink()
    assert not saver.tick() and not saver.path.exists(), "a clean document was saved again"


def test_autosave_timer_fires(qtbot, tmp_path):
    saver = Autosaver(lambda: _project(None), tmp_path, interval_s=0.05)
    saver.mark_dirty()
    with qtbot.waitSignal(saver.saved, timeout=3000):
        pass


def test_crashed_session_is_offered_and_restored_but_a_live_one_is_not(qtbot, tmp_path):
    source = _wav(tmp_path / "take.wav")
    live = Autosaver(lambda: _project(source), tmp_path / "auto", interval_s=3600)
    live.mark_dirty()
    live.tick()
    assert find_crashed(tmp_path / "auto") == [], "a running session was offered as crashed"
    live.lock_path.write_text(f"{_dead_pid()}\n")
    crashed = find_crashed(tmp_path / "auto")
    assert [c.path for c in crashed] == [live.path]
    assert crashed[0].source_name == "take.wav"
    restored = restore(crashed[0].path)
    assert restored.source == source and restored.lanes == _project(source).lanes
    forget(crashed[0].path)
    assert find_crashed(tmp_path / "auto") == [] and not live.lock_path.exists()


def test_autosave_without_lock_counts_as_crashed(qtbot, tmp_path):
    saver = Autosaver(lambda: _project(None), tmp_path, interval_s=3600)
    saver.mark_dirty()
    saver.tick()
    saver.lock_path.unlink()
    assert [c.path for c in find_crashed(tmp_path)] == [saver.path]


def test_discard_on_clean_exit_removes_both_files(qtbot, tmp_path):
    saver = Autosaver(lambda: _project(None), tmp_path, interval_s=3600)
    saver.mark_dirty()
    saver.tick()
    saver.discard()
    assert list(tmp_path.iterdir()) == []


def test_autosave_failure_is_reported_not_raised(qtbot, tmp_path, monkeypatch):
    saver = Autosaver(lambda: _project(None), tmp_path, interval_s=3600)
    saver.mark_dirty()
    monkeypatch.setattr(autosave, "write_json_atomic",
                        lambda *a: (_ for _ in ()).throw(RestoraError("disk full while writing x")))
    with qtbot.waitSignal(saver.failed) as signal:
        assert not saver.tick()
    assert "disk full" in signal.args[0] and saver.dirty


# -- settings and preferences ---------------------------------------------------------

@pytest.fixture
def settings(tmp_path):
    return Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))


def test_recent_files_dedupe_limit_and_prune(settings, tmp_path):
    files = [tmp_path / f"{i}.wav" for i in range(12)]
    for f in files:
        f.touch()
        settings.add_recent(f)
    settings.add_recent(files[3])
    recent = settings.recent_files
    assert len(recent) == 10 and recent[0] == str(files[3]) and recent.count(str(files[3])) == 1
    assert recent[1] == str(files[11])
    files[11].unlink()
    assert str(files[11]) not in settings.recent_files


def test_settings_persist_with_types_and_defaults(tmp_path):
    path = str(tmp_path / "s.ini")
    first = Settings(QSettings(path, QSettings.Format.IniFormat))
    assert (first.buffer_size, first.sample_rate, first.level_match, first.audio_device) == (512, None, True, None)
    first.buffer_size, first.sample_rate, first.level_match = 1024, 96000, False
    first.audio_device, first.export_folder = "USB DAC", str(tmp_path)
    first.window_geometry = QByteArray(b"\x01\x02")
    first.sync()
    again = Settings(QSettings(path, QSettings.Format.IniFormat))
    assert (again.buffer_size, again.sample_rate, again.level_match) == (1024, 96000, False)
    assert again.audio_device == "USB DAC" and again.export_folder == str(tmp_path)
    assert bytes(again.window_geometry) == b"\x01\x02"


def test_preferences_without_devices_explain_and_disable(qtbot, settings):
    dialog = PreferencesDialog(settings, [], "PortAudio library not found")
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.device_combo.isEnabled()
    assert dialog.reason_label.isVisible() and "PortAudio" in dialog.reason_label.text()


def test_preferences_ok_writes_settings(qtbot, settings):
    devices = [{"index": 0, "name": "Mic", "default_samplerate": 48000, "max_output_channels": 0},
               {"index": 3, "name": "Speakers", "default_samplerate": 44100, "max_output_channels": 2}]
    dialog = PreferencesDialog(settings, devices)
    qtbot.addWidget(dialog)
    assert dialog.device_combo.count() == 2, "input-only devices must not be offered"
    dialog.device_combo.setCurrentIndex(1)
    dialog.buffer_combo.setCurrentIndex(dialog.buffer_combo.findData(2048))
    dialog.rate_combo.setCurrentIndex(dialog.rate_combo.findData(48000))
    dialog.level_match_check.setChecked(False)
    with qtbot.waitSignal(dialog.applied):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert (settings.audio_device, settings.buffer_size, settings.sample_rate, settings.level_match) == \
        ("Speakers", 2048, 48000, False)


def test_controls_have_accessible_names(qtbot, settings):
    dialog = PreferencesDialog(settings, [])
    qtbot.addWidget(dialog)
    for widget in (dialog.device_combo, dialog.buffer_combo, dialog.rate_combo, dialog.level_match_check):
        assert widget.accessibleName()


# -- theme ------------------------------------------------------------------------------

def test_dark_theme_has_a_dark_window_and_readable_disabled_text(qtbot):
    app = QApplication.instance()
    try:
        apply_dark_theme(app)
        palette = app.palette()
        window = palette.color(QPalette.ColorRole.Window)
        disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        assert window.lightness() < 60
        assert disabled.lightness() - window.lightness() > 80
        assert ":checked" in app.styleSheet(), "toggle buttons need a visible checked state"
    finally:
        apply_light_theme(app)
    assert app.palette().color(QPalette.ColorRole.Window).lightness() > 150


# -- analysis panel ----------------------------------------------------------------------

def _sine(db: float, seconds: float = 3.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (10 ** (db / 20) * np.sin(2 * np.pi * 997 * t)).astype(np.float32)[:, None]


def test_analysis_shows_loudness_and_true_peak_with_change(qtbot):
    panel = AnalysisPanel(dnsmos=False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.finished, timeout=20000) as signal:
        panel.analyse(_sine(-20), _sine(-26), RATE)
        assert panel.running and not panel.busy.isHidden()
    result = signal.args[0]
    # A 997 Hz sine at -20 dBFS peak reads -23 LUFS (BS.1770: -3.01 dB for a sine, K-weighting +0.0x).
    assert result["original"]["lufs"] == pytest.approx(-23.0, abs=0.2)
    assert result["original"]["true_peak_db"] == pytest.approx(-20.0, abs=0.1)
    assert result["change"]["lufs"] == pytest.approx(-6.0, abs=0.05)
    assert panel.cell_text("lufs", "Original") == f"{result['original']['lufs']:.1f}"
    assert panel.cell_text("true_peak_db", "Processed") == f"{result['processed']['true_peak_db']:.1f}"
    assert panel.cell_text("lufs", "Change") == "-6.0"
    assert panel.cell_text("ovrl", "Original") == "—" and "DNSMOS" in panel.note.text()
    assert not panel.running and panel.busy.isHidden()


def test_analysis_without_processed_leaves_blanks(qtbot):
    panel = AnalysisPanel(dnsmos=False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.finished, timeout=20000):
        panel.analyse(_sine(-20), None, RATE)
    assert panel.cell_text("lufs", "Processed") == "—" and panel.cell_text("lufs", "Change") == "—"


def test_new_analysis_supersedes_the_running_one(qtbot):
    panel = AnalysisPanel(dnsmos=False)
    qtbot.addWidget(panel)
    results = []
    panel.finished.connect(results.append)
    panel.analyse(_sine(-10, 20.0), None, RATE)
    with qtbot.waitSignal(panel.finished, timeout=20000):
        panel.analyse(_sine(-30, 1.0), None, RATE)
    qtbot.wait(300)
    assert len(results) == 1 and results[0]["original"]["true_peak_db"] == pytest.approx(-30, abs=0.1)


def test_analysis_error_is_reported_and_panel_stays_usable(qtbot):
    panel = AnalysisPanel(dnsmos=False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.failed, timeout=20000) as signal:
        panel.analyse(np.full((RATE, 1), np.nan, np.float32), None, RATE)
    assert "Analysis failed" in signal.args[0] and "NaN" in signal.args[0] and not panel.running
    assert "NaN" in panel.note.text()
    with qtbot.waitSignal(panel.finished, timeout=20000):
        panel.analyse(_sine(-20), None, RATE)


def test_analyse_button_asks_the_window_for_audio(qtbot):
    panel = AnalysisPanel(dnsmos=False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.analyse_requested):
        panel.button.click()


def test_missing_dnsmos_model_is_explained(qtbot, monkeypatch):
    from restora.graph import taps
    from restora.models import store

    def not_installed(model_id, verify=True):
        raise ModelError(f"model '{model_id}' is not installed; run: restora models fetch")

    taps._dnsmos_model.cache_clear()
    monkeypatch.setattr(store, "require", not_installed)
    panel = AnalysisPanel(dnsmos=True)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.finished, timeout=20000):
        panel.analyse(_sine(-20), _sine(-20), RATE)
    assert panel.cell_text("sig", "Original") == "—" and panel.cell_text("ovrl", "Change") == "—"
    assert "not installed" in panel.note.text() and "restora models fetch" in panel.note.text()
    assert panel.cell_text("lufs", "Original") != "—"
    taps._dnsmos_model.cache_clear()


def test_dnsmos_scores_appear_when_the_model_is_installed(qtbot):
    from restora.models import store

    try:
        store.require("dnsmos")
    except ModelError:
        pytest.skip("DNSMOS model not installed")
    panel = AnalysisPanel(dnsmos=True)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.finished, timeout=60000) as signal:
        panel.analyse(_sine(-20), _sine(-20), RATE)
    scores = signal.args[0]["original"]
    assert all(1.0 <= scores[k] <= 5.0 for k in ("sig", "bak", "ovrl"))
    assert panel.cell_text("ovrl", "Change") == "+0.00"


def test_format_document_names_every_key(tmp_path):
    from pathlib import Path

    from restora.app.project import project_to_json

    doc = (Path(__file__).resolve().parents[1] / "docs" / "project-format.md").read_text()
    data = project_to_json(_project(_wav(tmp_path / "t.wav")), tmp_path)
    keys = [k for k in data] + [f"{k}.{sub}" for k in ("source", "view", "playback") for sub in data[k]]
    keys += [f"lanes.NAME.{sub}" for sub in data["lanes"]["main"]]
    missing = [k for k in keys if f"`{k}`" not in doc]
    assert not missing, f"docs/project-format.md does not describe {missing}"
