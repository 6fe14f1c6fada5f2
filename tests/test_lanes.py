"""Lanes: main/stems/removed, scope splicing, and identical results for any block size."""

from __future__ import annotations

import numpy as np
import pytest

from restora.graph.lanes import INPUT_STREAM, LaneAssembler, lane_preset, lanes_for, scope_weights
from restora.graph.preset import preset_from_dict
from restora.graph.runner import GraphRun, array_blocks


def _preset(outputs, nodes=None):
    nodes = nodes or [{"id": "g", "type": "gain", "params": {"gain_db": -6}}]
    return preset_from_dict({"restora_preset": 1, "name": "t", "nodes": nodes, "outputs": outputs}, "test")


def _assemble(preset, audio, rate, block, scope=None):
    lanes = lanes_for(preset)
    got = {}

    def emit(start, data):
        for name, b in data.items():
            got.setdefault(name, []).append((start, b))

    asm = LaneAssembler(lanes, emit, scope=scope, fade_frames=100)
    GraphRun(lane_preset(preset), rate, audio.shape[1], asm.sinks, block_frames=block).run(
        array_blocks(audio, block), len(audio))
    out = {}
    for name, parts in got.items():
        assert [s for s, _ in parts] == list(np.cumsum([0] + [len(b) for _, b in parts[:-1]]))
        out[name] = np.concatenate([b for _, b in parts])
    return lanes, out


def test_removed_lane_is_input_minus_main_and_block_size_does_not_matter():
    rng = np.random.default_rng(1)
    audio = rng.standard_normal((5000, 2)).astype(np.float32) * 0.1
    preset = _preset({"processed": "g"})
    lanes, a = _assemble(preset, audio, 8000, 512)
    assert [lane.name for lane in lanes] == ["processed", "removed"]
    np.testing.assert_allclose(a["processed"], audio * 10 ** (-6 / 20), atol=1e-6)
    np.testing.assert_allclose(a["removed"], audio - a["processed"], atol=1e-7)
    np.testing.assert_array_equal(a[INPUT_STREAM], audio)
    _, b = _assemble(preset, audio, 8000, 333)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_a_residual_stem_replaces_the_removed_lane():
    preset = _preset({"speech": "g", "background": "g.residual"})
    assert [lane.kind for lane in lanes_for(preset)] == ["main", "stem"]


def test_scope_keeps_the_original_outside_and_fades_at_the_edges():
    audio = np.ones((4000, 1), np.float32)
    lanes, out = _assemble(_preset({"processed": "g"}), audio, 8000, 700, scope=(1000, 3000))
    main = out["processed"][:, 0]
    gain = 10 ** (-6 / 20)
    assert np.all(main[:1000] == 1.0) and np.all(main[3000:] == 1.0)
    np.testing.assert_allclose(main[1100:2900], gain, atol=1e-6)
    ramp = main[1000:1100]
    assert np.all(np.diff(ramp) <= 1e-7) and ramp[0] > ramp[-1]
    np.testing.assert_allclose(out["removed"][:, 0], 1.0 - main, atol=1e-7)


@pytest.mark.parametrize("scope", [(0, 10), (5, 6), (100, 50)])
def test_scope_weights_stay_in_range_for_tiny_or_empty_scopes(scope):
    w = scope_weights(0, 200, scope, 100)
    assert w.shape == (200,) and np.all((w >= 0) & (w <= 1))


def test_separator_stems_have_no_removed_lane_but_other_multi_output_presets_do():
    from restora.graph.preset import load_preset

    assert [lane.name for lane in lanes_for(load_preset("stems-2"))] == ["vocals", "accompaniment"]
    two = _preset({"main": "g", "copy": "input"})
    assert [lane.kind for lane in lanes_for(two)] == ["main", "stem", "removed"]
