"""``restora upscale``: round trip, JSON report, rates, and one-line errors for bad input."""

import json

import numpy as np
import pytest
import soundfile as sf

from restora.cli.main import main
from restora.dsp.resample import resample


def _input(tmp_path, rate=8000, channels=2, seconds=2.0, name="in.wav"):
    x = (0.1 * np.random.default_rng(0).standard_normal((int(rate * seconds), channels))).astype(np.float32)
    path = tmp_path / name
    sf.write(path, x, rate, subtype="FLOAT")
    return path, x


def test_8k_round_trip_writes_48k_and_the_generated_band(tmp_path, capsys):
    src, x = _input(tmp_path)
    code = main(["upscale", str(src), "-o", str(tmp_path / "up.wav"), "--generated", str(tmp_path / "gen.wav"),
                 "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output_rate"] == 48000 and report["input_rate"] == 8000 and report["method"] == "neural"
    assert report["extended"] is True and report["cutoff_source"] == "auto"
    assert 3500 < report["cutoff_hz"] < 4000
    up, rate = sf.read(tmp_path / "up.wav", dtype="float32")
    gen, _ = sf.read(tmp_path / "gen.wav", dtype="float32")
    assert rate == 48000 and up.shape == (len(x) * 6, 2)
    assert np.abs(gen).max() > 0.01
    # main = the plain resampled input + the generated band
    np.testing.assert_allclose(up - gen, resample(x, 8000, 48000, "VHQ"), atol=1e-5)


def test_given_cutoff_and_full_band_input(tmp_path, capsys):
    src, x = _input(tmp_path, rate=48000, channels=1)
    assert main(["upscale", str(src), "-o", str(tmp_path / "same.wav"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["extended"] is False and report["output_rate"] == 48000
    out, _ = sf.read(tmp_path / "same.wav", dtype="float32")
    np.testing.assert_array_equal(out, x[:, 0])  # full band at the target rate: unchanged
    assert main(["upscale", str(src), "-o", str(tmp_path / "given.wav"), "--cutoff", "12000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cutoff_hz"] == 12000 and report["cutoff_source"] == "given" and report["extended"] is True


def test_a_lower_target_rate_keeps_the_input_rate_with_a_note(tmp_path, caplog):
    src, _ = _input(tmp_path, rate=22050, channels=1)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.wav"), "--target-rate", "16000"]) == 0
    assert sf.info(tmp_path / "o.wav").samplerate == 22050
    assert "keeps 22050 Hz" in caplog.text


def test_the_upscale_preset_runs_through_process(tmp_path):
    src, x = _input(tmp_path, rate=16000, channels=1)
    assert main(["process", str(src), "-o", str(tmp_path / "p.flac"), "--preset", "upscale"]) == 0
    info = sf.info(tmp_path / "p.flac")
    assert info.samplerate == 48000 and info.frames == len(x) * 3


@pytest.mark.parametrize("extra, message", [
    (["--cutoff", "5000"], "Nyquist"),
    (["--cutoff", "0"], "positive"),
    (["--cutoff", "-20"], "positive"),
    (["--cutoff", "soon"], "neither 'auto'"),
    (["--target-rate", "1000000"], "out of range"),
    (["--target-rate", "0"], "out of range"),
])
def test_bad_settings_are_usage_errors(tmp_path, capsys, extra, message):
    src, _ = _input(tmp_path)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.wav"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()


def test_missing_corrupt_and_nan_inputs_fail_cleanly(tmp_path, capsys):
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00junk")
    src, x = _input(tmp_path)
    x[100, 1] = np.nan
    sf.write(tmp_path / "nan.wav", x, 8000, subtype="FLOAT")
    for name, message in (("missing.wav", "not found"), ("bad.wav", "bad.wav"), ("nan.wav", "NaN")):
        assert main(["upscale", str(tmp_path / name), "-o", str(tmp_path / "o.wav")]) == 3
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not (tmp_path / "o.wav").exists()
