"""The graph runner and presets, driven with small test nodes (no models)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from restora.errors import UsageError
from restora.graph.node import Node, Param, empty
from restora.graph.preset import load_preset
from restora.graph.registry import register_node_type
from restora.graph.runner import ArraySink, GraphRun, array_blocks


class DelayedHalfNode(Node):
    """Halves the signal after an internal 1000-frame look-ahead (like a model)."""

    type_name = "test-delayed-half"
    PARAMS = (Param("latency", 1000, kind="int", minimum=0, maximum=100000),)

    def start(self, sample_rate, channels):
        super().start(sample_rate, channels)
        self._held = empty(channels)
        self._received = 0

    def process(self, block):
        data = np.concatenate([self._held, block])
        self._received += len(block)
        ready = max(0, len(data) - self.params["latency"])
        self._held = data[ready:]
        return {"main": 0.5 * data[:ready]}

    def finish(self):
        out, self._held = 0.5 * self._held, empty(self.channels)
        return {"main": out}


class PeakNormalizeNode(Node):
    """Whole-file node: scales the file so its peak is ``peak``."""

    type_name = "test-peak-normalize"
    NEEDS_WHOLE_FILE = True
    PARAMS = (Param("peak", 0.5, minimum=0.01, maximum=1.0),)

    def start(self, sample_rate, channels):
        super().start(sample_rate, channels)
        self._max = 0.0

    def analyze(self, block):
        self._max = max(self._max, float(np.max(np.abs(block), initial=0.0)))

    def process(self, block):
        gain = self.params["peak"] / self._max if self._max > 0 else 1.0
        return {"main": (block * gain).astype(np.float32)}


register_node_type(DelayedHalfNode.type_name, DelayedHalfNode)
register_node_type(PeakNormalizeNode.type_name, PeakNormalizeNode)


def write_preset(tmp_path, nodes, outputs, name="t"):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"restora_preset": 1, "name": name, "nodes": nodes, "outputs": outputs}))
    return load_preset(path)


def run(preset, audio, sr=48000, block=4096):
    sinks = {name: ArraySink() for name in preset.outputs}
    measurements = GraphRun(preset, sr, audio.shape[1], sinks, block_frames=block).run(
        array_blocks(audio, block), len(audio))
    return {name: s.result(audio.shape[1]) for name, s in sinks.items()}, measurements


@pytest.fixture
def audio():
    rng = np.random.default_rng(1)
    return (0.3 * rng.standard_normal((30011, 2))).astype(np.float32)


def test_target_and_residual_sum_to_input_and_stay_aligned(tmp_path, audio):
    preset = write_preset(tmp_path, [{"id": "x", "type": "test-delayed-half"}],
                          {"target": "x", "rest": "x.residual"})
    out, _ = run(preset, audio)
    assert out["target"].shape == audio.shape
    np.testing.assert_allclose(out["target"], 0.5 * audio, atol=1e-7)
    np.testing.assert_allclose(out["target"] + out["rest"], audio, atol=1e-6)


@pytest.mark.parametrize("block", [1, 999, 4096, 100000])
def test_output_does_not_depend_on_block_size(tmp_path, audio, block):
    preset = write_preset(tmp_path, [
        {"id": "a", "type": "test-delayed-half", "params": {"latency": 777}, "mix": 0.25},
        {"id": "b", "type": "test-peak-normalize", "input": "a"},
        {"id": "c", "type": "test-delayed-half", "input": "b"}], {"main": "c"})
    reference, _ = run(preset, audio, block=len(audio))
    out, _ = run(preset, audio, block=block)
    np.testing.assert_allclose(out["main"], reference["main"], atol=1e-6)


def test_wet_dry_mix_is_latency_compensated(tmp_path, audio):
    preset = write_preset(tmp_path, [{"id": "x", "type": "test-delayed-half", "mix": 0.5}], {"main": "x"})
    out, _ = run(preset, audio)
    np.testing.assert_allclose(out["main"], 0.75 * audio, atol=1e-6)


def test_bypass_passes_input_through(tmp_path, audio):
    preset = write_preset(tmp_path, [{"id": "x", "type": "test-delayed-half", "bypass": True}],
                          {"main": "x", "removed": "x.residual"})
    out, _ = run(preset, audio)
    np.testing.assert_array_equal(out["main"], audio)
    assert not out["removed"].any()


def test_whole_file_node_runs_two_passes(tmp_path, audio):
    preset = write_preset(tmp_path, [{"id": "n", "type": "test-peak-normalize", "params": {"peak": 0.25}}],
                          {"main": "n"})
    out, _ = run(preset, audio)
    assert np.max(np.abs(out["main"])) == pytest.approx(0.25, rel=1e-6)
    assert out["main"].shape == audio.shape


def test_set_overrides_are_validated(tmp_path):
    preset = write_preset(tmp_path, [{"id": "x", "type": "test-delayed-half"}], {"main": "x"})
    assert preset.with_overrides(["x.latency=5", "x.mix=0.5"]).node("x").params["latency"] == 5
    for bad, words in [("x.latency=-1", "out of range"), ("x.latency=abc", "not a valid int"),
                       ("y.latency=1", "no node 'y'"), ("x.nope=1", "unknown parameter"),
                       ("latency=1", "NODE_ID.PARAM=VALUE"), ("x.mix=2", "mix=2.0 is out of range")]:
        with pytest.raises(UsageError, match=words):
            preset.with_overrides([bad])


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    ('{"restora_preset": 9, "nodes": []}', "unsupported preset version 9"),
    ('{"restora_preset": 1, "nodes": [{"id": "a", "type": "nope"}], "outputs": {"m": "a"}}',
     "node 'a': unknown node type 'nope'"),
    ('{"restora_preset": 1, "nodes": [{"id": "a", "type": "test-delayed-half", "params": {"latency": -5}}],'
     ' "outputs": {"m": "a"}}', r"node 'a' \(test-delayed-half\): parameter latency=-5 is out of range"),
    ('{"restora_preset": 1, "nodes": [{"id": "a", "type": "test-delayed-half", "input": "zz"}],'
     ' "outputs": {"m": "a"}}', "node 'a': input 'zz' is not produced"),
    ('{"restora_preset": 1, "nodes": [{"id": "a", "type": "test-delayed-half"},'
     ' {"id": "a", "type": "test-delayed-half"}], "outputs": {"m": "a"}}', "used twice"),
    ('{"restora_preset": 1, "nodes": [{"id": "a", "type": "test-delayed-half"}], "outputs": {"m": "b"}}',
     "output 'm' reads 'b'"),
])
def test_broken_presets_name_the_fault(tmp_path, content, words):
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=words):
        load_preset(path)


def test_unknown_preset_name_lists_builtins():
    with pytest.raises(UsageError, match="dialogue-clean"):
        load_preset("no-such-preset")


@pytest.mark.parametrize("name", ["dialogue-clean", "dialogue-isolate", "denoise-light", "loudness-podcast"])
def test_builtin_presets_load(name):
    preset = load_preset(name)
    assert preset.name == name and preset.outputs


def test_python_api_processes_arrays_and_files(tmp_path):
    import soundfile as sf

    from restora import api

    preset = api.load_preset("loudness-podcast").with_overrides(["level.target_lufs=-20"])
    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal((44100 * 3, 2))).astype(np.float32)
    outputs, measurements = api.process_array(preset, audio, 44100)
    assert outputs["main"].shape == audio.shape
    values = {m.name: m.value for m in measurements["level"]}
    assert values["applied_gain_db"] == pytest.approx(-20 - values["input_integrated_lufs"], abs=1e-6)
    sf.write(tmp_path / "in.wav", audio, 44100, subtype="FLOAT")
    result = api.process_file(preset, tmp_path / "in.wav", tmp_path / "out.flac")
    assert result.outputs["main"].is_file() and result.duration_s == 3.0
    with pytest.raises(UsageError, match="NaN"):
        api.process_array(preset, np.full((100, 1), np.nan, np.float32), 44100)
