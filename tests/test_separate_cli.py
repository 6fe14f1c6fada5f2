"""``restora separate``: stems written as OUT_DIR/<stem>.<ext>, summing back to the input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from restora.cli.main import main
from restora.errors import ModelError
from restora.models.fetch import INSTALLED, status

SR = 48000


def _input(tmp_path, channels=2, seconds=2.0):
    rng = np.random.default_rng(5)
    t = np.arange(int(SR * seconds)) / SR
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    audio = voice[:, None] + 0.05 * rng.standard_normal((len(t), channels))
    path = tmp_path / "mix.wav"
    sf.write(path, audio.astype(np.float32), SR, subtype="FLOAT")
    return path, audio.astype(np.float32)


def _installed(model_id: str) -> bool:
    try:
        return status(model_id) == INSTALLED
    except ModelError:  # no card yet
        return False


def _needs(model_id):
    return pytest.mark.skipif(not _installed(model_id), reason=f"model {model_id} not installed")


@_needs("deepfilternet3")
def test_dialogue_stems_have_the_input_length_and_sum_to_it(tmp_path):
    path, audio = _input(tmp_path)
    out = tmp_path / "stems"
    assert main(["separate", str(path), "-o", str(out), "--model", "dialogue", "-q"]) == 0
    speech, rate = sf.read(out / "speech.wav", dtype="float32", always_2d=True)
    background, _ = sf.read(out / "background.wav", dtype="float32", always_2d=True)
    assert rate == SR and speech.shape == background.shape == audio.shape
    np.testing.assert_allclose(speech + background, audio, atol=1e-5)
    assert sorted(p.name for p in out.iterdir()) == ["background.wav", "speech.wav"]


@_needs("deepfilternet3")
def test_one_chosen_stem_is_still_written_into_the_folder(tmp_path):
    path, _ = _input(tmp_path, channels=1)
    out = tmp_path / "stems"
    assert main(["separate", str(path), "-o", str(out), "--model", "dialogue", "--stems", "background",
                 "--format", "flac", "-q"]) == 0
    assert [p.name for p in out.iterdir()] == ["background.flac"]


def test_unknown_stem_and_file_as_folder_are_refused(tmp_path, capsys):
    path, _ = _input(tmp_path)
    assert main(["separate", str(path), "-o", str(tmp_path / "o"), "--stems", "drums", "-q"]) == 2
    assert "vocals, accompaniment" in capsys.readouterr().err
    assert main(["separate", str(path), "-o", str(path), "--model", "dialogue", "-q"]) == 2
    assert "is a file" in capsys.readouterr().err


@_needs("spleeter-2stems")
def test_music_stems_sum_to_the_mix(tmp_path):
    path, audio = _input(tmp_path, seconds=3.0)
    out = tmp_path / "stems"
    assert main(["separate", str(path), "-o", str(out), "--format", "wav", "--bit-depth", "float", "-q"]) == 0
    vocals, rate = sf.read(out / "vocals.wav", dtype="float32", always_2d=True)
    accompaniment, _ = sf.read(out / "accompaniment.wav", dtype="float32", always_2d=True)
    assert rate == SR and vocals.shape == audio.shape
    np.testing.assert_allclose(vocals + accompaniment, audio, atol=1e-4)


@_needs("spleeter-2stems")
def test_stems_2_preset_in_batch_writes_one_folder_per_input(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    _, audio = _input(tmp_path, seconds=1.5)
    sf.write(folder / "a.wav", audio, SR, subtype="FLOAT")
    sf.write(folder / "sub" / "b.wav", audio[:, :1], SR, subtype="FLOAT")
    out = tmp_path / "out"
    assert main(["batch", str(folder), "-o", str(out), "--preset", "stems-2", "--format", "wav",
                 "--bit-depth", "float", "-q"]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.wav"))
    assert written == ["a/accompaniment.wav", "a/vocals.wav", "sub/b/accompaniment.wav", "sub/b/vocals.wav"]
    vocals, _ = sf.read(out / "sub" / "b" / "vocals.wav", dtype="float32", always_2d=True)
    accompaniment, _ = sf.read(out / "sub" / "b" / "accompaniment.wav", dtype="float32", always_2d=True)
    assert vocals.shape == (len(audio), 1)
    np.testing.assert_allclose(vocals + accompaniment, audio[:, :1], atol=1e-5)
