"""Training pipeline for the EQ predictor: torch twins of the runtime maths, pairs, resume, ONNX parity.

Needs the ``[train]`` extra (torch); the suite's set-up installs it.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "training"))

import eq_net  # noqa: E402
import eq_pairs  # noqa: E402
import train_eq  # noqa: E402
from common import Checkpoint  # noqa: E402

from restora.dsp import eq_match as em  # noqa: E402
from restora.models import eq_predictor as ep  # noqa: E402


def _data(items=60, seed=0):
    """A fake features.npz: random smooth spectra of three kinds, train and val."""
    rng = np.random.default_rng(seed)
    x = np.log2(ep.GRID_HZ / 20.0)[None]
    db = -3.0 * x + rng.normal(0, 3, (items, 1)) * np.cos(x / 3 + rng.uniform(0, 6, (items, 1)))
    return {"grid": ep.GRID_HZ.astype(np.float32), "power": (10 ** (db / 10)).astype(np.float32),
            "top_hz": np.full(items, 19845.0, np.float32), "kind": np.arange(items) % 3,
            "group": np.arange(items) // 2, "split": (np.arange(items) % 5 == 0).astype(np.int32)}


def test_torch_response_equals_the_eq_nodes():
    rng = np.random.default_rng(1)
    bands = torch.tensor([[[rng.uniform(40, 600), rng.uniform(-12, 12), rng.uniform(0.5, 1.4)],
                           [rng.uniform(200, 3000), rng.uniform(-12, 12), rng.uniform(0.4, 4)],
                           [rng.uniform(1000, 9000), rng.uniform(-12, 12), rng.uniform(0.4, 4)],
                           [rng.uniform(3000, 15000), rng.uniform(-12, 12), rng.uniform(0.5, 1.4)]]
                          for _ in range(5)], dtype=torch.float64)
    grid = torch.as_tensor(ep.GRID_HZ)
    got = eq_net.response_db(bands, grid).numpy()
    for row, b in zip(got, bands.numpy()):
        want = em.response_db([em.Band(t, *p) for t, p in zip(eq_net.TYPES, b)], ep.GRID_HZ, eq_net.DESIGN_RATE)
        assert np.abs(row - want).max() < 1e-6


def test_torch_features_equal_the_runtime_features():
    rng = np.random.default_rng(2)
    src, ref = rng.normal(-40, 10, len(ep.GRID_HZ)), rng.normal(-40, 10, len(ep.GRID_HZ))
    want = ep.features_from_db(src, ref, 7000.0)[0]
    mask = torch.as_tensor((ep.GRID_HZ <= 7000.0).astype(np.float32))[None]
    got = eq_pairs.features(torch.as_tensor(src[None], dtype=torch.float32),
                            torch.as_tensor(ref[None], dtype=torch.float32), mask)[0].numpy()
    assert np.abs(got - want).max() < 1e-5


def test_decode_encode_round_trip_and_valid_ranges():
    net = eq_net.EqNet(32)
    u = torch.rand(100, 4, 3)
    assert torch.allclose(net.encode(net.decode(u)), u, atol=1e-5)
    b = net.decode(torch.zeros(1, 4, 3)), net.decode(torch.ones(1, 4, 3))
    assert (b[0][..., 0] >= 29.99).all() and (b[1][..., 0] <= 18000.1).all()
    assert b[1][..., 1].max() <= eq_net.GAIN_MAX_DB + 1e-4 and b[0][..., 2].min() >= 0.2999


def test_known_pairs_differ_by_exactly_the_eq():
    sampler = eq_pairs.PairSampler(_data(), 0, torch.device("cpu"), p_known=1.0, p_low_rate=0.0)
    feats, bands, mask, known = sampler.batch(16)
    assert feats.shape == (16, 4, len(ep.GRID_HZ)) and known.all()
    curve = eq_net.response_db(bands, sampler.grid)
    want = (curve - curve.mean(-1, keepdim=True)) / 20.0
    assert torch.allclose(feats[:, 2], want, atol=1e-4)


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    data = tmp_path / "features.npz"
    np.savez(data, **_data())
    args = ["--data", str(data), "--out", str(tmp_path / "run"), "--steps", "6", "--batch", "8",
            "--hidden", "16", "--eval-every", "3", "--device", "cpu"]
    train_eq.main(args + ["--minutes", "0"])  # budget spent at once: saves step 0
    step, _ = Checkpoint(tmp_path / "run").load(eq_net.EqNet(16))
    assert step == 0
    train_eq.main(args + ["--minutes", "5"])
    net = eq_net.EqNet(16)
    step, extra = Checkpoint(tmp_path / "run").load(net)
    assert step == 6 and [h["step"] for h in extra["history"]] == [3, 6]
    assert (tmp_path / "run" / "weights.pt").is_file() and (tmp_path / "run" / "metrics.json").is_file()
    # A new stage starts from those weights with a fresh schedule (step 0), not from scratch.
    train_eq.main(args[:2] + ["--out", str(tmp_path / "stage2"), "--init", str(tmp_path / "run" / "weights.pt")]
                  + args[4:] + ["--minutes", "0"])
    stage2 = eq_net.EqNet(16)
    step, _ = Checkpoint(tmp_path / "stage2").load(stage2)
    assert step == 0 and all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                                 stage2.state_dict().values()))


def test_onnx_export_matches_pytorch(tmp_path):
    pytest.importorskip("onnx")
    import export_eq

    torch.manual_seed(0)
    net = eq_net.EqNet(32).eval()
    export_eq.export(net, tmp_path / "m.onnx")
    figures = export_eq.parity(net, tmp_path / "m.onnx", _data())
    assert figures["gain_max_abs_db"] < 1e-3 and figures["freq_max_rel"] < 1e-5 and figures["q_max_rel"] < 1e-5


def test_a_checkpoint_larger_than_the_return_limit_is_split_and_reloaded(tmp_path, monkeypatch):
    import common

    monkeypatch.setattr(common, "PIECE_BYTES", 50_000)
    net = eq_net.EqNet(64)
    opt = torch.optim.AdamW(net.parameters())
    net(torch.randn(4, 4, 120)).sum().backward()
    opt.step()  # non-zero moments to carry
    ckpt = Checkpoint(tmp_path)
    ckpt.save(7, net, opt)
    pieces = sorted(p.name for p in tmp_path.iterdir())
    assert len(pieces) > 2 and all(p.startswith("checkpoint.pt.") and not p.endswith(".part") for p in pieces)
    fresh = eq_net.EqNet(64)
    fresh_opt = torch.optim.AdamW(fresh.parameters())
    step, _ = Checkpoint(tmp_path).load(fresh, fresh_opt)
    assert step == 7 and all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), fresh.state_dict().values()))
    # Moments travel in bfloat16 and come back as the parameters' float32.
    moments = [s["exp_avg"] for s in fresh_opt.state.values()]
    assert moments and all(m.dtype == torch.float32 for m in moments)
    want = [s["exp_avg"] for s in opt.state.values()]
    assert all(torch.allclose(a, b, rtol=1e-2, atol=1e-6) for a, b in zip(moments, want))
    monkeypatch.setattr(common, "PIECE_BYTES", 10 ** 9)
    ckpt.save(8, net, opt)  # small again: one file, the pieces are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
