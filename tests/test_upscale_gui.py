"""The upscale node in the GUI: palette and parameters; render, views, playback and export at the working rate."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QSettings, Qt
from restora.app.chain import ChainModel
from restora.app.graph_editor import GraphEditor
from restora.app.param_widgets import TextParamWidget
from restora.app.playback import B
from restora.app.settings import Settings
from restora.graph.node import ParameterError
from test_main_window import make_window  # noqa: F401 - the window fixture of the workstation tests


@pytest.fixture
def editor(qtbot, tmp_path):
    widget = GraphEditor(ChainModel(), settings=Settings(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)))
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_upscale_is_in_the_palette_and_its_params_render(qtbot, editor):
    listed = [editor.palette.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(editor.palette.list.count())]
    assert "upscale" in listed
    editor.palette.select_type("upscale")
    editor.palette.add_button.click()
    node_id = editor.selected_node_id()
    widgets = editor.param_panel.widgets
    assert {"target_rate", "cutoff", "method"} <= set(widgets)
    assert widgets["target_rate"].value() == 48000 and widgets["method"].value() == "neural"
    cutoff = widgets["cutoff"]
    assert isinstance(cutoff, TextParamWidget) and cutoff.value() == "auto"
    cutoff.edit.setFocus()
    cutoff.edit.selectAll()
    qtbot.keyClicks(cutoff.edit, "8000")
    qtbot.keyClick(cutoff.edit, Qt.Key.Key_Return)
    assert editor.chain.node(node_id).params["cutoff"] == "8000"
    with pytest.raises(ParameterError):  # checked when set, not only when the chain runs
        editor.chain.set_param(node_id, "cutoff", "loud")
    assert editor.chain.node(node_id).params["cutoff"] == "8000"


# -- the workstation window: render, view, play and export at the chain's working rate ----------------------

LOW_RATE, CUT_HZ, WORK_RATE = 16000, 4000.0, 48000


def band_energy(audio: np.ndarray, rate: int, lo: float, hi: float) -> float:
    """Share of the mono mix's power between ``lo`` and ``hi`` Hz."""
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum() / spectrum.sum())


def lowpassed_noise(seconds: float, rate: int, cut_hz: float | None) -> np.ndarray:
    """Stereo white noise (brick-wall low-passed at ``cut_hz``; None: full band), float32 [frames, 2]."""
    rng = np.random.default_rng(7)
    noise = rng.standard_normal((int(seconds * rate), 2))
    if cut_hz is not None:
        spectrum = np.fft.rfft(noise, axis=0)
        spectrum[np.fft.rfftfreq(len(noise), 1 / rate) > cut_hz] = 0
        noise = np.fft.irfft(spectrum, n=len(noise), axis=0)
    return (0.2 * noise / np.abs(noise).max()).astype(np.float32)


@pytest.fixture
def band_limited(tmp_path):
    path = tmp_path / "phone.wav"
    sf.write(path, lowpassed_noise(2.0, LOW_RATE, CUT_HZ), LOW_RATE, subtype="FLOAT")
    return path


@pytest.fixture
def full_band(tmp_path):
    path = tmp_path / "studio.wav"
    sf.write(path, lowpassed_noise(1.5, WORK_RATE, None), WORK_RATE, subtype="FLOAT")
    return path


@pytest.fixture
def window(make_window):  # noqa: F811 - the fixture imported above
    return make_window()


def open_and_upscale(qtbot, window, path) -> str:
    """Open ``path``, add an upscale node from the palette (as a user does) and wait for the render."""
    assert window.open_file(path)
    qtbot.waitUntil(window.is_loaded, timeout=10000)
    window.editor.palette.select_type("upscale")
    window.editor.palette.add_button.click()
    node_id = window.editor.selected_node_id()
    qtbot.waitUntil(lambda: window.renderer.is_idle() and window.renderer.fraction() >= 1.0, timeout=30000)
    assert not window.errors
    return node_id


def test_a_16k_file_is_rendered_at_48k_with_its_high_band_restored(qtbot, window, band_limited):
    node_id = open_and_upscale(qtbot, window, band_limited)
    assert window.source.sample_rate == LOW_RATE  # the original stays at its own rate (A)
    assert window.renderer.sample_rate == WORK_RATE
    processed = window.renderer.lane_data("processed")
    original = sf.read(band_limited, dtype="float32", always_2d=True)[0]
    assert len(processed) == len(original) * WORK_RATE // LOW_RATE
    assert band_energy(original, LOW_RATE, 5000, 8000) < 1e-6
    assert band_energy(processed, WORK_RATE, 8000, 24000) > 1e-3  # regenerated above the old Nyquist
    generated = window.renderer.lane_data("generated")  # the generated port is a lane of its own
    assert "generated" in window.lanes_panel.rows and band_energy(generated, WORK_RATE, 0, 3500) < 0.05
    # The processed view reaches the new Nyquist and marks the generated band at the measured cut-off.
    with qtbot.waitSignal(window.views.processed_drawn, timeout=10000):
        window.views.set_compare_mode("processed")
    qtbot.waitUntil(lambda: window.views.generated_band() is not None, timeout=5000)
    measured = window.editor.info_panel._stats[node_id]["measurements"]
    assert measured["extended"] and measured["output_rate"] == WORK_RATE
    assert abs(measured["cutoff_hz"] - CUT_HZ) < 400
    assert window.views.generated_band() == pytest.approx(measured["cutoff_hz"])
    assert window.views.band_marker_visible()
    line = window.views.band_marks[window.views.spec_plot][0]
    for log_scale in (True, False):
        window.views.set_log_frequency(log_scale)
        scale = np.log10 if log_scale else float
        assert line.isVisible() and line.value() == pytest.approx(scale(measured["cutoff_hz"]))
        assert window.views.spec_plot.getViewBox().viewRange()[1][1] == pytest.approx(scale(WORK_RATE / 2), rel=0.01)
    assert window.views.main_layer._geometry[2] == WORK_RATE
    window.views.set_compare_mode("original")
    assert not window.views.band_marker_visible()  # only views of the processed lane carry it
    # The node info panel says what the node measured.
    text = window.editor.info_panel.text()
    assert f"Cut-off: {measured['cutoff_hz'] / 1000:.2f} kHz" in text
    assert "Extended: yes" in text and "Output rate: 48000 Hz" in text


def test_playback_at_the_working_rate_and_ab_against_the_original(qtbot, window, band_limited):
    open_and_upscale(qtbot, window, band_limited)
    mixer = window.player.mixer()
    assert mixer.sample_rate == WORK_RATE and mixer.source is window.renderer.timeline()
    window.player.seek(0.5)
    assert mixer.position == WORK_RATE // 2
    out = np.zeros((WORK_RATE // 2, mixer.out_channels), np.float32)
    mixer.set_output(mixer.out_channels, WORK_RATE)
    mixer.set_ab(B)
    mixer.start()
    mixer.render(out)
    assert band_energy(out[WORK_RATE // 20:], WORK_RATE, 8000, 24000) > 1e-3  # B carries the new band
    mixer.halt()
    mixer.seek(WORK_RATE // 2)
    mixer.set_ab("A")
    mixer.start()
    mixer.render(out)
    assert band_energy(out[WORK_RATE // 20:], WORK_RATE, 8000, 24000) < 1e-4  # A is the original
    assert window.player.position_s() == pytest.approx(1.0, abs=0.01)
    # Removing the node brings playback back to the file's own rate.
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: window.player.mixer().sample_rate == LOW_RATE, timeout=5000)
    assert window.renderer.sample_rate == LOW_RATE and window.player.position_s() == pytest.approx(1.0, abs=0.01)


def test_export_writes_the_48k_file_that_was_previewed(qtbot, window, band_limited, tmp_path):
    open_and_upscale(qtbot, window, band_limited)
    window.export_dialog()
    dialog, out = window.export_window, tmp_path / "out" / "phone-restored.wav"
    assert dialog.rate_combo.itemText(0) == f"Processed ({WORK_RATE} Hz)"  # the default rate is the chain's
    dialog.format_combo.setCurrentText("wav")
    dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findText("32-bit float"))
    dialog.set_destination(out)
    with qtbot.waitSignal(dialog.exported, timeout=20000):
        dialog.start_export()
    written, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == WORK_RATE
    assert band_energy(written, WORK_RATE, 8000, 24000) > 1e-3
    np.testing.assert_allclose(written, window.renderer.lane_data("processed"), atol=1e-5)


def test_a_full_band_48k_file_passes_through_without_a_marker(qtbot, window, full_band):
    node_id = open_and_upscale(qtbot, window, full_band)
    assert window.renderer.sample_rate == WORK_RATE
    original = sf.read(full_band, dtype="float32", always_2d=True)[0]
    np.testing.assert_allclose(window.renderer.lane_data("processed"), original, atol=1e-6)
    with qtbot.waitSignal(window.views.processed_drawn, timeout=10000):
        window.views.set_compare_mode("processed")
    qtbot.waitUntil(lambda: "measurements" in window.editor.info_panel._stats.get(node_id, {}), timeout=5000)
    assert not window.editor.info_panel._stats[node_id]["measurements"]["extended"]
    assert window.views.generated_band() is None and not window.views.band_marker_visible()
