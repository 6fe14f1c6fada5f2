"""Language-queried extraction runtime (restora.models.lass): STFT, query understanding, shapes, parity."""

import sys
from pathlib import Path

import numpy as np
import pytest

from restora.errors import UsageError
from restora.models import lass


@pytest.fixture(scope="module")
def ex():
    return lass.extractor()


def test_stft_round_trip_is_exact():
    x = np.random.default_rng(0).standard_normal(16000 * 2 + 77)
    assert np.abs(lass.istft(lass.stft(x), len(x)) - x).max() < 1e-9


def test_stft_matches_torch_framing():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal(5000)
    want = torch.stft(torch.as_tensor(x), lass.N_FFT, lass.HOP, window=torch.hann_window(lass.N_FFT, dtype=torch.float64),
                      center=True, return_complex=True).numpy()
    assert np.abs(lass.stft(x) - want).max() < 1e-9


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_query_is_a_usage_error(ex, query):
    with pytest.raises(UsageError, match="empty"):
        ex.understand(query)


def test_known_and_unknown_queries(ex):
    dog = ex.understand("a dog barking")
    assert dog.confident and "dog" in dog.nearest[0][0]
    odd = ex.understand("quarterly tax spreadsheet formula")
    assert not odd.confident and odd.confidence < dog.confidence
    assert len(ex.understand("Hundegebell").nearest) == 5  # non-English: no crash, a report


@pytest.mark.parametrize("rate,channels", [(8000, 1), (16000, 2), (44100, 1), (48000, 2)])
def test_target_has_the_input_shape_and_silence_stays_silent(ex, rate, channels):
    info = ex.understand("speech")
    rng = np.random.default_rng(2)
    audio = (0.1 * rng.standard_normal((int(rate * 2.5), channels))).astype(np.float32)
    target = ex.extract(audio, rate, info)
    assert target.shape == audio.shape and target.dtype == np.float32 and np.isfinite(target).all()
    assert not ex.extract(np.zeros((rate, channels), np.float32), rate, info).any()


@pytest.mark.parametrize("rate", [16000, 44100])
def test_chunks_are_cross_faded_with_weights_that_sum_to_one(ex, monkeypatch, rate):
    """With a network that answers 0.5 everywhere, a 20 s input comes back at exactly half level."""
    monkeypatch.setattr(ex, "mask", lambda logmag, query: np.full(logmag.shape, 0.5))
    x = (0.1 * np.random.default_rng(3).standard_normal((rate * 20, 1))).astype(np.float32)
    target = ex.extract(x, rate, ex.understand("dog barking"))
    assert np.abs(target - 0.5 * x).max() < 1e-3 * np.abs(x).max()


def test_onnx_export_and_runtime_padding_match_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "training"))
    import export_lass
    import lass_net

    torch.manual_seed(0)
    net = lass_net.LassNet(channels=(8, 8, 8, 8)).eval()
    export_lass.export(net, tmp_path / "m.onnx")
    assert export_lass.parity(net, tmp_path / "m.onnx")["mask_max_abs"] < 1e-4
    runtime = lass.QueryExtractor.__new__(lass.QueryExtractor)
    import onnxruntime as ort

    runtime.session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    logmag, query = np.random.default_rng(4).normal(-3, 2, (257, 101)), np.ones(384) / np.sqrt(384)
    with torch.no_grad():
        want = net.mask(torch.as_tensor(logmag[None], dtype=torch.float32),
                        torch.as_tensor(query[None], dtype=torch.float32))[0].numpy()
    assert np.abs(runtime.mask(logmag, query) - want).max() < 1e-4
