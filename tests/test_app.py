"""The first GUI window, driven offscreen with pytest-qt."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from restora.app.main import build_window, demo_path, main, spectrogram_db


def test_demo_recording_opens_and_is_drawn(qtbot):
    window = build_window(demo_path())
    qtbot.addWidget(window)
    window.show()
    assert "noisy-speech.flac" in window.info_label.text()
    assert "44100 Hz" in window.info_label.text()
    assert window.wave_plot.getPlotItem().listDataItems(), "waveform not drawn"
    assert window.spec_plot.getPlotItem().items, "spectrogram not drawn"


def test_bad_file_is_reported_in_the_window_not_raised(qtbot, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    window = build_window(bad)
    qtbot.addWidget(window)
    assert "Cannot open" in window.info_label.text() and "bad.wav" in window.info_label.text()


def test_spectrogram_puts_a_tone_in_its_bin():
    sr = 16000
    tone = np.sin(2 * np.pi * 1000 * np.arange(sr) / sr).astype(np.float32)
    db = spectrogram_db(tone, n_fft=1024, hop=512)
    assert db.shape[1] == 513
    assert int(np.argmax(db.mean(axis=0))) == round(1000 * 1024 / sr)


def test_smoke_start_quits_cleanly(qtbot, tmp_path):
    path = tmp_path / "t.wav"
    sf.write(path, np.zeros((1000, 2), np.float32), 8000)
    assert main([str(path), "--smoke"]) == 0
