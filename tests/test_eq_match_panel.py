"""The EQ-match panel driven offscreen: background fit, curves, handles, table, amount and apply/undo."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QEvent, QSettings
from PySide6.QtWidgets import QApplication, QMessageBox
from scipy.signal import lfilter

from restora.app.eq_match_panel import EqMatchPanel, document_audio
from restora.app.main_window import MainWindow
from restora.app.settings import Settings
from restora.graph.nodes_basic import rbj_biquad

SR = 16000
SECONDS = 3.0
# The "known EQ" the reference went through: (type, Hz, dB, Q).
KNOWN_EQ = [("peak", 1000.0, 6.0, 1.0), ("highshelf", 4000.0, -5.0, 0.707)]


def _pinkish(seconds: float, seed: int = 5) -> np.ndarray:
    """Stereo noise falling 3 dB/octave (1/f power), peak 0.5, [frames, 2]."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal((int(seconds * SR), 2)), axis=0)
    freqs = np.fft.rfftfreq(int(seconds * SR), 1.0 / SR)
    spec /= np.sqrt(np.maximum(freqs, 20.0))[:, None]
    audio = np.fft.irfft(spec, n=int(seconds * SR), axis=0)
    return (0.5 * audio / np.max(np.abs(audio))).astype(np.float32)


def _through_eq(audio: np.ndarray) -> np.ndarray:
    for kind, freq, gain, q in KNOWN_EQ:
        row = rbj_biquad(kind, freq, gain, q, SR)
        audio = lfilter(row[:3], row[3:], audio, axis=0)
    return audio.astype(np.float32)


@pytest.fixture
def files(tmp_path):
    noise = _pinkish(SECONDS)
    source, reference = tmp_path / "source.wav", tmp_path / "reference.wav"
    sf.write(source, noise, SR, subtype="FLOAT")
    sf.write(reference, _through_eq(noise), SR, subtype="FLOAT")
    return source, reference


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, files):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)  # no modal box at close
    settings = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    win = MainWindow(settings, open_demo_on_first_launch=False, autosave_folder=tmp_path / "autosave")
    win.errors = []
    win.show_error = lambda title, text: win.errors.append((title, text))
    qtbot.addWidget(win)
    assert win.open_file(files[0])
    qtbot.waitUntil(win.is_loaded, timeout=5000)
    yield win
    win.docs.dirty = False
    win.close()
    win.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def _open_panel(window) -> EqMatchPanel:
    action = next(a for menu in window.menuBar().actions() for a in menu.menu().actions()
                  if a.text() == "&Match EQ to reference…")
    action.trigger()
    return window.eq_match_window


def _fitted(qtbot, window, reference) -> EqMatchPanel:
    panel = _open_panel(window)
    with qtbot.waitSignal(panel.fitted, timeout=5000):
        panel.set_reference(reference)
        assert panel.running  # the fit is on a worker thread, the GUI thread goes on
    return panel


def test_fit_runs_in_the_background_and_shows_the_bands(qtbot, window, files):
    panel = _fitted(qtbot, window, files[1])
    assert panel.table.rowCount() == 6 and len(panel.view.handles) == 6
    assert [panel.band_row(i)[0] for i in range(6)] == [b.type for b in panel.bands]
    before, after = panel.errors
    assert after < before and after < 1.0
    assert f"{before:.2f} dB before, {after:.2f} dB after" in panel.error_label.text()
    # Reference is level-aligned to the source: the same mean over the compared range.
    _, src = panel.view.curve_data("source")
    _, ref = panel.view.curve_data("reference")
    assert np.mean(ref - src) == pytest.approx(0.0, abs=1e-6)

    with qtbot.waitSignal(panel.fitted, timeout=5000):
        panel.bands_spin.setValue(3)
    assert panel.table.rowCount() == 3 and len(panel.view.handles) == 3


def test_dragging_a_handle_moves_the_band_in_the_table_and_the_curves(qtbot, window, files):
    panel = _fitted(qtbot, window, files[1])
    index = next(i for i, b in enumerate(panel.bands) if b.type == "peak")
    _, result_before = panel.view.curve_data("result")
    panel.view.drag_handle(index, 300.0, -9.0)
    _kind, freq, gain, _q = panel.band_row(index)
    assert (freq, gain) == (pytest.approx(300.0, abs=0.05), pytest.approx(-9.0, abs=0.005))
    assert panel.bands[index].freq_hz == pytest.approx(300.0)
    _, result_after = panel.view.curve_data("result")
    assert np.max(np.abs(result_after - result_before)) > 3.0
    assert panel.view.handle_position(index) == pytest.approx((300.0, -9.0))

    q = panel.bands[index].q
    panel.view.handles[index].wheelEvent(_WheelUp())
    assert panel.band_row(index)[3] == pytest.approx(q * 2 ** (1 / 6), abs=1e-3)

    # Editing the table moves the handle; a pass filter's gain stays 0 dB even when dragged.
    panel.table.cellWidget(index, 0).setCurrentText("highpass")
    panel.view.drag_handle(index, 80.0, 7.0)
    assert panel.bands[index].gain_db == 0.0 and panel.band_row(index)[2] == 0.0
    assert panel.view.handle_position(index)[1] == 0.0


class _WheelUp:
    """Stands in for a QGraphicsSceneWheelEvent of one notch away from the user."""

    accepted = False

    def delta(self) -> int:
        return 120

    def accept(self) -> None:
        self.accepted = True


def test_amount_zero_makes_the_result_the_source(qtbot, window, files):
    panel = _fitted(qtbot, window, files[1])
    panel.amount.setValue(0)
    _, source = panel.view.curve_data("source")
    _, result = panel.view.curve_data("result")
    np.testing.assert_allclose(result, source, atol=1e-9)
    assert panel.errors[1] == pytest.approx(panel.errors[0])
    assert np.all(panel.view.curve_data("eq")[1] == 0.0)


def test_apply_adds_one_eq_node_and_one_undo_removes_it(qtbot, window, files):
    window.chain.add_node("gain")
    panel = _fitted(qtbot, window, files[1])
    panel.amount.setValue(50)
    depth = window.chain.undo_stack.count()
    panel.apply_button.click()
    assert window.chain.undo_stack.count() == depth + 1
    assert [n.type for n in window.chain.nodes()] == ["gain", "eq"]
    params = window.chain.node(panel.node_id).params
    for i, band in enumerate(panel.applied_bands(), 1):
        assert params[f"band{i}_type"] == band.type
        assert params[f"band{i}_gain_db"] == pytest.approx(band.gain_db)
        assert params[f"band{i}_gain_db"] == pytest.approx(panel.bands[i - 1].gain_db / 2)
    assert all(params[f"band{i}_type"] == "off" for i in range(7, 13))
    assert window.chain.to_preset() is not None  # the CLI would accept it

    panel.amount.setValue(100)  # a second apply updates the same node, again one step
    panel.apply_button.click()
    assert len(window.chain.nodes()) == 2 and window.chain.undo_stack.count() == depth + 2
    window.undo_action.trigger()
    window.undo_action.trigger()
    assert [n.type for n in window.chain.nodes()] == ["gain"]


@pytest.mark.parametrize("what", ["silent", "short", "unreadable"])
def test_a_bad_reference_shows_a_message(qtbot, window, tmp_path, what):
    bad = tmp_path / f"{what}.wav"
    if what == "unreadable":
        bad.write_bytes(b"RIFF0000WAVEjunk")
    else:
        sf.write(bad, np.zeros((SR * (2 if what == "silent" else 0) + 100, 2), np.float32), SR)
    panel = _open_panel(window)
    with qtbot.waitSignal(panel.failed, timeout=5000) as failed:
        panel.set_reference(bad)
    assert failed.args[0] and "Traceback" not in failed.args[0]
    assert failed.args[0] in panel.status.text()
    assert not panel.apply_button.isEnabled()
    assert {"silent": "silent", "short": "too short", "unreadable": "not a readable"}[what] in failed.args[0]


def test_the_source_is_the_selection_when_there_is_one(window):
    audio, rate = document_audio(window)
    assert (len(audio), rate) == (int(SECONDS * SR), SR)
    window.views.set_selection((0.5, 2.0))
    audio, _ = document_audio(window)
    assert len(audio) == int(1.5 * SR)
