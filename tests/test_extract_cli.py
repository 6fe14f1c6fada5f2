"""``restora extract``: outputs, JSON report, unknown and empty queries."""

import json

import numpy as np
import soundfile as sf

from restora.cli.main import main


def _input(tmp_path, rate=22050, channels=2):
    x = (0.05 * np.random.default_rng(0).standard_normal((rate * 3, channels))).astype(np.float32)
    path = tmp_path / "in.wav"
    sf.write(path, x, rate, subtype="FLOAT")
    return path, x


def test_output_and_residual_sum_to_the_input_and_json_reports_the_query(tmp_path, capsys):
    src, x = _input(tmp_path)
    code = main(["extract", str(src), "--query", "dog barking", "-o", str(tmp_path / "dog.wav"),
                 "--residual", str(tmp_path / "rest.wav"), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["confident"] is True and report["nearest"][0]["concept"] == "dog barking"
    assert set(report) >= {"query", "confidence", "confident", "nearest", "mode", "strength", "outputs"}
    dog, rate = sf.read(tmp_path / "dog.wav", dtype="float32")
    rest, _ = sf.read(tmp_path / "rest.wav", dtype="float32")
    assert rate == 22050 and dog.shape == x.shape
    np.testing.assert_allclose(dog + rest, x, atol=1e-5)


def test_remove_mode_writes_the_rest_to_o(tmp_path):
    src, x = _input(tmp_path, channels=1)
    assert main(["extract", str(src), "--query", "speech", "--mode", "remove", "--strength", "0",
                 "-o", str(tmp_path / "out.wav")]) == 0
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    np.testing.assert_allclose(out, x[:, 0], atol=1e-6)  # strength 0 removes nothing


def test_an_unknown_query_runs_with_a_warning(tmp_path, capsys, caplog):
    src, _ = _input(tmp_path)
    assert main(["extract", str(src), "--query", "quarterly tax spreadsheet", "-o", str(tmp_path / "o.wav"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["confident"] is False
    assert "outside what the model knows" in caplog.text


def test_bad_queries_and_parameters_are_usage_errors(tmp_path, capsys):
    src, _ = _input(tmp_path)
    for extra in (["--query", "  "], ["--query", "dog", "--strength", "1.5"], ["--query", "x" * 600]):
        assert main(["extract", str(src), "-o", str(tmp_path / "o.wav"), *extra]) == 2
    assert "query" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()
