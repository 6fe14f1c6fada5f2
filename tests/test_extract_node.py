"""The extract node: block-size invariance, target + residual = input, modes and strength, alignment."""

import numpy as np
import pytest

from restora.errors import UsageError
from restora.graph.node import ParameterError
from restora.graph.nodes_extract import ExtractNode


class FakeExtractor:
    """A window-dependent stand-in: scales each window by its own mean level (so windowing matters)."""

    class Info:
        confidence, confident, text, nearest = 0.9, True, "q", [("q", 0.9)]

    def understand(self, query):
        return self.Info()

    def extract(self, chunk, rate, info):
        return (chunk * np.abs(chunk).mean(axis=0, keepdims=True) * 3).astype(np.float32)


def run(node, x, block):
    node.start(8000, x.shape[1])
    parts = [node.process(x[i:i + block]) for i in range(0, len(x), block)] + [node.finish()]
    return {k: np.concatenate([p[k] for p in parts]) for k in node.OUTPUTS}


@pytest.fixture
def audio():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8000 * 23, 2)).astype(np.float32) * 0.1
    x[:, 0] *= np.linspace(0.2, 2.0, len(x))  # level changes, so windows differ
    return x


@pytest.mark.parametrize("block", [1000, 4096, 8000 * 7 + 3])
def test_output_does_not_depend_on_the_block_size(audio, block):
    ref = run(ExtractNode(FakeExtractor()), audio, 8000 * 30)
    out = run(ExtractNode(FakeExtractor()), audio, block)
    for k in ref:
        assert out[k].shape == audio.shape
        np.testing.assert_allclose(out[k], ref[k], atol=1e-6)


@pytest.mark.parametrize("mode", ["extract", "remove"])
@pytest.mark.parametrize("strength", [0.0, 0.4, 1.0])
def test_target_plus_residual_is_the_input(audio, mode, strength):
    out = run(ExtractNode(FakeExtractor(), mode=mode, strength=strength), audio, 5000)
    np.testing.assert_allclose(out["target"] + out["residual"], audio, atol=1e-6)
    np.testing.assert_array_equal(out["main"], out["target" if mode == "extract" else "residual"])
    if strength == 0.0:
        np.testing.assert_allclose(out["main"], audio if mode == "extract" else audio, atol=1e-6)


def test_windows_are_cross_faded_to_unity():
    class Half(FakeExtractor):
        def extract(self, chunk, rate, info):
            return 0.5 * chunk

    x = np.random.default_rng(1).standard_normal((8000 * 30, 1)).astype(np.float32)
    out = run(ExtractNode(Half()), x, 3000)
    np.testing.assert_allclose(out["target"], 0.5 * x, atol=1e-5)


def test_short_and_empty_inputs():
    for n in (0, 10, 8000):
        x = np.ones((n, 1), np.float32)
        out = run(ExtractNode(FakeExtractor()), x, 512)
        assert out["main"].shape == (n, 1)


def test_an_empty_query_is_refused():
    with pytest.raises(UsageError, match="query"):
        ExtractNode(FakeExtractor(), query="   ").start(8000, 1)
    with pytest.raises(ParameterError):
        ExtractNode(query="x" * 501)


def test_real_model_reports_its_confidence_and_keeps_alignment():
    node = ExtractNode(query="a dog barking")
    x = np.random.default_rng(2).standard_normal((8000 * 3, 1)).astype(np.float32) * 0.05
    out = run(node, x, 1024)
    assert out["main"].shape == x.shape and np.isfinite(out["main"]).all()
    conf = [m.value for m in node.measurements if m.name == "query_confidence"]
    assert conf and conf[0] > 0.55
