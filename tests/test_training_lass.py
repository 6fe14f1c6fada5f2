"""Training pieces for language-queried extraction: mu-law storage, mixtures on the device, the network's shapes."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "training"))

import lass_net  # noqa: E402
import lass_pairs  # noqa: E402

from restora.models.training import prepare_lass_data as prep  # noqa: E402


def test_mu_law_round_trip_is_within_8_bit_mu_law_error():
    x = np.linspace(-1, 1, 10001).astype(np.float32)
    y = lass_pairs.decode_mu_law(torch.as_tensor(prep.mu_law(x))).numpy()
    assert np.abs(y - x).max() < 0.04 and np.abs(y - x)[np.abs(x) < 0.01].max() < 3e-4


def test_loudest_window_finds_the_event():
    x = np.zeros(prep.RATE * 5, np.float32)
    x[3 * prep.RATE: 3 * prep.RATE + 1000] = 1.0
    w = prep.loudest(x, 1.0)
    assert len(w) == prep.RATE and w.max() == 1.0


FREQS = (500.0, 1100.0, 2300.0, 4700.0)


def _data(clips=12, rate=16000):
    """Clips of concept k are sines at FREQS[k], so a mixture's parts can be told apart by frequency."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(rate // 2, 2 * rate, clips)
    concept = np.arange(clips) % len(FREQS)
    audio = np.concatenate([prep.mu_law(0.5 * np.sin(2 * np.pi * FREQS[k] * np.arange(n) / rate))
                            for k, n in zip(concept, lengths)])
    owner = np.repeat(np.arange(len(FREQS)), 3).astype(np.int32)
    return {"audio": audio, "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]), "lengths": lengths,
            "clip_concept": np.stack([np.arange(clips), concept], 1).astype(np.int32),
            "concepts": json.dumps([f"tone {f:g} Hz" for f in FREQS]),
            "caption_emb": rng.normal(size=(len(owner), 384)).astype(np.float16), "caption_concept": owner,
            "rate": rate}


def test_mixtures_hold_the_target_and_never_the_queried_concept_as_background():
    data = lass_pairs.LassData(_data(), torch.device("cpu"))
    mixture, target, query, concept = lass_pairs.MixtureSampler(data, 16000, seed=1).batch(64)
    assert mixture.shape == target.shape == (64, 16000) and query.shape == (64, 384)
    assert torch.isfinite(mixture).all() and mixture.abs().amax(-1).max() <= 1.0
    background, wanted = torch.fft.rfft(mixture - target).abs(), torch.fft.rfft(target).abs()  # 1 Hz bins
    for bg, tg, k in zip(background, wanted, concept.tolist()):
        f = int(FREQS[k])
        assert bg[f] <= 0.02 * tg[f]  # the queried concept is in the target only
    assert (background.sum(-1) > 0).float().mean() > 0.8  # most mixtures have a background
    # The query is one of the captions of the target's concept.
    for q, k in zip(query, concept.tolist()):
        own = data.cap_emb[data.cap_start[k]: data.cap_start[k] + data.cap_count[k]]
        assert (own == q).all(-1).any()


def test_query_jitter_stays_near_the_concepts_captions():
    data = lass_pairs.LassData(_data(), torch.device("cpu"))
    sampler = lass_pairs.MixtureSampler(data, 16000, seed=2, query_jitter=True)
    concept = torch.arange(len(FREQS)).repeat(64)
    query = sampler.query(concept)
    assert torch.allclose(query.norm(dim=-1), torch.ones(len(query)), atol=1e-5)
    best = []
    for q, k in zip(query, concept.tolist()):
        own = data.cap_emb[data.cap_start[k]: data.cap_start[k] + data.cap_count[k]]
        own = own / own.norm(dim=-1, keepdim=True)
        best.append((own @ q).max().item())
    best = np.array(best)
    assert best.min() > 0.5 and (best > 0.9999).mean() > 0.1 and (best < 0.95).mean() > 0.2


def test_packed_caption_embeddings_round_trip():
    import lass_captions

    emb = np.random.default_rng(3).normal(size=(50, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    back = lass_captions.unpack_embeddings(lass_captions.pack_embeddings(emb))
    assert back.dtype == np.float32 and np.abs(back - emb).max() < 0.005 * np.abs(emb).max()


def test_network_returns_a_signal_of_the_input_length():
    net = lass_net.LassNet(channels=(8, 8, 8, 8)).eval()
    for n in (16000, 16123):
        with torch.no_grad():
            y = net(torch.randn(2, n), torch.randn(2, 384))
        assert y.shape == (2, n) and torch.isfinite(y).all()


def test_si_sdr_of_a_perfect_estimate_is_high_and_of_noise_low():
    ref = torch.randn(3, 8000)
    assert (lass_net.si_sdr(ref * 0.5, ref) > 60).all()
    assert (lass_net.si_sdr(torch.randn(3, 8000), ref) < -10).all()


def test_shards_and_caption_table_rebuild_the_whole_set(tmp_path):
    class Encoder:
        def embed(self, texts):
            return np.ones((len(texts), 384), np.float32)

    clips = prep.Clips()
    for i in range(7):
        clips.add(np.sin(np.arange(16000) * (i + 1) / 10).astype(np.float32), 16000, [f"c{i % 3}", "all"], 0, 2.0)
    prep.save(clips, tmp_path / "lass.npz", ("{c}", "the {c}"), Encoder(), shards=2)
    captions = dict(np.load(tmp_path / "lass_captions.npz"))
    total = 0
    for k in range(2):
        arrays = {**dict(np.load(tmp_path / f"lass_shard{k}.npz")), **captions}
        data = lass_pairs.LassData(arrays, torch.device("cpu"))
        total += len(data.lengths)
        assert data.has.shape == (len(data.lengths), 4) and data.has[:, data.concepts.index("all")].all()
        mixture, target, query, concept = lass_pairs.MixtureSampler(data, 8000).batch(4)
        assert mixture.shape == (4, 8000)
    assert total == 7


def test_card_counts_the_steps_behind_a_second_stage(tmp_path):
    import onnx_export

    history = [{"init": "w.pt", "init_step": 40000}, {"step": 11000, "held_out": {"si_sdri_db": 13.9}}]
    (tmp_path / "metrics.json").write_text(json.dumps({"history": history}))
    card = {"source": {"members": [{"dest": "m.onnx"}]}}
    figures = {"m.onnx": {"sha256": "ab"}, "parity": {"max": 0.0}, "steps": 11000}
    out = onnx_export.record_in_card(card, figures, tmp_path, "held out")
    assert out["measured"]["training"]["steps"] == 51000 and out["measured"]["training"]["si_sdri_db"] == 13.9
    assert "40000" in out["measured"]["training"]["note"] and out["source"]["members"][0]["sha256"] == "ab"
