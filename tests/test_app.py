"""The restora-gui entry point."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from restora.app.main import demo_path, main, spectrogram_db


def test_the_demo_recording_is_bundled():
    info = sf.info(demo_path())
    assert info.samplerate == 44100 and info.duration > 10


def test_spectrogram_puts_a_tone_in_its_bin():
    sr = 16000
    tone = np.sin(2 * np.pi * 1000 * np.arange(sr) / sr).astype(np.float32)
    db = spectrogram_db(tone, n_fft=1024, hop=512)
    assert db.shape[1] == 513
    assert int(np.argmax(db.mean(axis=0))) == round(1000 * 1024 / sr)


def test_smoke_start_opens_a_file_and_quits_cleanly(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = tmp_path / "t.wav"
    sf.write(path, np.zeros((1000, 2), np.float32), 8000)
    assert main([str(path), "--smoke"]) == 0
