"""``upscale`` with ``method="neural"`` (issue 7), node and CLI, on a tiny ONNX stand-in for sr-extender.

No torch and no trained model: the stand-in is built here with onnx.helper and
has the real graph's interface (inputs ``logmag`` float32 [B, 513, T] and
``cutoff`` [B], output ``gain`` [B, 513, T]); its gain is a constant -0.3
(log10), so the restored band is the folded copy at half its level.
"""

import json

import numpy as np
import onnx
import pytest
import soundfile as sf
from invariance import assert_block_invariant_measured, run_node_measured
from onnx import TensorProto, helper, numpy_helper
from test_upscale_node import _band_power_db, _low_band_snr, _lowpass, _measured, _noise

from restora.cli.main import main
from restora.dsp.resample import resample
from restora.errors import ModelError
from restora.graph import nodes_upscale
from restora.dsp.windowed import WindowedProcessor
from restora.graph.nodes_upscale import DEFAULT_METHOD, METHODS, UpscaleNode
from restora.models import sr_extender

SR = 48000
GAIN = -0.3  # log10 magnitude of the folded copy


def _tiny_onnx(path):
    """Write a model with sr-extender's inputs/outputs whose gain is ``0 * logmag + GAIN`` (per bin)."""
    inputs = [helper.make_tensor_value_info("logmag", TensorProto.FLOAT, ["B", sr_extender.BINS, "T"]),
              helper.make_tensor_value_info("cutoff", TensorProto.FLOAT, ["B"])]
    output = helper.make_tensor_value_info("gain", TensorProto.FLOAT, ["B", sr_extender.BINS, "T"])
    weights = [numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
               numpy_helper.from_array(np.full((sr_extender.BINS, 1), GAIN, np.float32), "bias")]
    nodes = [helper.make_node("Mul", ["logmag", "zero"], ["silent"]),
             helper.make_node("Add", ["silent", "bias"], ["gain"])]
    model = helper.make_model(helper.make_graph(nodes, "tiny_sr", inputs, [output], weights),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by any ONNX Runtime the project supports
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("sr") / "tiny_sr.onnx"
    _tiny_onnx(path)
    return sr_extender.SRExtender(path, threads=1)


@pytest.fixture
def neural(monkeypatch, tiny):
    """The node and the CLI get the tiny model wherever they ask sr_extender for the registered one."""
    monkeypatch.setattr(sr_extender, "extender", lambda threads=None: tiny)
    return tiny


@pytest.fixture
def small_windows(monkeypatch):
    """1 s windows (0.25 s overlap) and a 0.5 s analysis window: several windows, decided mid-stream."""
    monkeypatch.setattr(nodes_upscale, "WINDOW_S", 1.0)
    monkeypatch.setattr(nodes_upscale, "OVERLAP_S", 0.25)
    monkeypatch.setattr(nodes_upscale, "ANALYSIS_S", 0.5)


@pytest.fixture
def no_model(monkeypatch):
    """sr-extender is not installed (the registry does not know it)."""
    def missing(model_id):
        raise ModelError(f"unknown model '{model_id}'")

    monkeypatch.setattr("restora.models.fetch.ensure_installed", missing)
    sr_extender.extender.cache_clear()
    yield
    sr_extender.extender.cache_clear()


def test_methods_default_and_windows():
    assert METHODS == ("fold", "neural") and DEFAULT_METHOD == "neural"
    assert UpscaleNode().params["method"] == DEFAULT_METHOD
    # one node window is one model chunk
    assert (nodes_upscale.WINDOW_S, nodes_upscale.OVERLAP_S) == (sr_extender.CHUNK_S, sr_extender.OVERLAP_S)


@pytest.mark.parametrize("rate", [SR, 44100])
def test_block_size_invariant(neural, small_windows, rate):
    x = _lowpass(_noise(3.3, channels=2, rate=rate, seed=2), 6000, rate)
    outs, meas = assert_block_invariant_measured(lambda: UpscaleNode(method="neural"), x, rate,
                                                 block_sizes_s=(0.3, 1.7), atol=1e-5,
                                                 block_frames=(4799, 1001, rate + 7))
    assert _measured(meas)["extended"] == 1.0
    assert _band_power_db(outs["generated"], 7000, 12000, rate) > _band_power_db(x, 7000, 12000, rate) + 30


def test_equals_one_sr_extender_pass_at_48k(neural):
    # 12 s: two 10 s windows; at 48 kHz the node cuts where SRExtender.extend does, so the results agree
    x = _lowpass(_noise(12.0, seed=4), 7000)
    outs, _ = run_node_measured(lambda: UpscaleNode(method="neural", cutoff="7000"), x, SR, 30011)
    np.testing.assert_allclose(outs["main"], neural.extend(x, 7000.0), atol=1e-5)


@pytest.mark.parametrize("rate", [44100, SR])
def test_low_band_is_the_input_and_generated_is_the_difference(neural, small_windows, rate):
    cutoff = 8000
    x = _lowpass(_noise(2.6, channels=2, rate=rate, seed=3), cutoff, rate)
    outs, meas = run_node_measured(lambda: UpscaleNode(method="neural"), x, rate, 10000)
    y = outs["main"]
    assert y.shape == x.shape and y.dtype == np.float32
    assert _low_band_snr(x, y, cutoff, rate) >= 40.0
    np.testing.assert_allclose(y - x, outs["generated"], atol=1e-6)
    assert _band_power_db(y, 9000, 16000, rate) > _band_power_db(x, 9000, 16000, rate) + 30
    assert abs(_measured(meas)["cutoff_hz"] - cutoff) < 0.05 * cutoff


def test_above_48k_the_band_is_restored_up_to_24k_only(neural, small_windows):
    rate = 96000
    x = _lowpass(_noise(2.0, rate=rate, seed=6), 12000, rate)
    gen = run_node_measured(lambda: UpscaleNode(method="neural", cutoff="12000"), x, rate, 7000)[0]["generated"]
    assert _band_power_db(gen, 26000, 46000, rate) < _band_power_db(gen, 13000, 23000, rate) - 60


def test_full_band_input_passes_through_unchanged(neural):
    x = _noise(2.0, channels=2)
    outs, meas = run_node_measured(lambda: UpscaleNode(method="neural"), x, SR, 4096)
    np.testing.assert_array_equal(outs["main"], x)
    assert not outs["generated"].any() and _measured(meas)["extended"] == 0.0


def test_stereo_channels_are_independent(neural, small_windows):
    x = _lowpass(_noise(2.2, seed=7), 6000)
    stereo = np.concatenate([x, np.zeros_like(x)], axis=1)
    outs, _ = run_node_measured(lambda: UpscaleNode(method="neural", cutoff="6000"), stereo, SR, 7000)
    assert not outs["main"][:, 1].any()
    mono, _ = run_node_measured(lambda: UpscaleNode(method="neural", cutoff="6000"), x, SR, 7000)
    np.testing.assert_allclose(outs["main"][:, :1], mono["main"], atol=1e-6)
    assert np.abs(mono["generated"]).max() > 1e-3


@pytest.mark.parametrize("frames", [0, 1, 300, 2205, 30000])
def test_inputs_shorter_than_a_window(neural, frames):
    rate = 44100
    x = _lowpass(_noise(1.0, channels=2, rate=rate, seed=8), 6000, rate)[:frames]
    outs, _ = run_node_measured(lambda: UpscaleNode(method="neural", cutoff="6000"), x, rate, 1000)
    assert outs["main"].shape == x.shape and np.isfinite(outs["main"]).all()
    np.testing.assert_allclose(outs["main"] - x, outs["generated"], atol=1e-6)
    if frames >= 2205:
        assert np.abs(outs["generated"]).max() > 1e-3


def test_silence_stays_silent(neural):
    x = np.zeros((SR, 2), np.float32)
    measured, meas = run_node_measured(lambda: UpscaleNode(method="neural"), x, SR, 5000)
    given, _ = run_node_measured(lambda: UpscaleNode(method="neural", cutoff="6000"), x, SR, 5000)
    assert not measured["main"].any() and not given["main"].any() and _measured(meas)["cutoff_hz"] is None


def test_windowed_generator_joins_windows_seamlessly():
    # fn = identity: cross-faded windows must give the input back exactly, whatever the block size
    x = _noise(1.0, channels=2, seed=9)[:10007]
    for size in (1, 999, 4000, 20000):
        gen = WindowedProcessor(lambda chunk: chunk, 1000, 250, 2)
        out = np.concatenate([gen.process(x[i:i + size]) for i in range(0, len(x), size)] + [gen.finish()])
        np.testing.assert_allclose(out, x, atol=1e-6)
    with pytest.raises(ValueError):
        WindowedProcessor(lambda chunk: chunk, 100, 100, 1)


def test_a_missing_model_fails_at_start_naming_fold(no_model):
    node = UpscaleNode(method="neural")  # building (presets, GUI) needs no model
    with pytest.raises(ModelError, match=r"sr-extender.*--method fold"):
        node.start(SR, 2)
    UpscaleNode(method="fold").start(SR, 2)  # the DSP method never asks for it


def _input(tmp_path, rate=8000, channels=2, seconds=2.0):
    x = (0.1 * np.random.default_rng(0).standard_normal((int(rate * seconds), channels))).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, rate, subtype="FLOAT")
    return tmp_path / "in.wav", x


def test_cli_missing_model_is_one_line_exit_5_and_writes_nothing(tmp_path, capsys, no_model):
    src, _ = _input(tmp_path)
    code = main(["upscale", str(src), "-o", str(tmp_path / "o.wav"), "--method", "neural",
                 "--generated", str(tmp_path / "g.wav")])
    err = capsys.readouterr().err
    assert code == ModelError.exit_code == 5
    assert "sr-extender" in err and "--method fold" in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists() and not (tmp_path / "g.wav").exists()


def test_cli_neural_end_to_end(tmp_path, capsys, neural):
    src, x = _input(tmp_path)
    code = main(["upscale", str(src), "-o", str(tmp_path / "up.wav"), "--generated", str(tmp_path / "gen.wav"),
                 "--method", "neural", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "neural" and report["extended"] is True and report["output_rate"] == SR
    up, rate = sf.read(tmp_path / "up.wav", dtype="float32")
    gen, _ = sf.read(tmp_path / "gen.wav", dtype="float32")
    assert rate == SR and up.shape == (len(x) * 6, 2)
    np.testing.assert_allclose(up - gen, resample(x, 8000, SR, "VHQ"), atol=1e-5)
    assert _band_power_db(gen, 4500, 7000) > _band_power_db(up - gen, 4500, 7000) + 30


def test_process_preset_with_a_missing_model_exits_5_and_leaves_no_file(tmp_path, capsys, no_model):
    src, _ = _input(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = main(["process", str(src), "-o", str(out_dir / "p.flac"), "--preset", "upscale"])
    err = capsys.readouterr().err
    assert code == 5 and "sr-extender" in err and "Traceback" not in err
    assert list(out_dir.iterdir()) == []


def test_threads_reach_the_model_session_and_absurd_counts_are_usage_errors(tmp_path, capsys, monkeypatch, tiny):
    asked = []
    monkeypatch.setattr(sr_extender, "extender", lambda threads=None: asked.append(threads) or tiny)
    src, _ = _input(tmp_path)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.wav"), "--method", "neural", "--threads", "3"]) == 0
    assert asked and set(asked) == {3}
    for bad in ("0", "17"):
        assert main(["upscale", str(src), "-o", str(tmp_path / "b.wav"), "--threads", bad]) == 2
        assert "--threads" in capsys.readouterr().err and not (tmp_path / "b.wav").exists()
