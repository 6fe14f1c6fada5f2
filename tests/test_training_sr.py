"""Training pieces for super-resolution: degradations on the device, the network's shapes, crossover, resume, export."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "training"))

import sr_net  # noqa: E402
import sr_pairs  # noqa: E402
import train_sr  # noqa: E402

RATE = sr_net.RATE


def _data(clips=6, seconds=1.5, top_hz=21000.0):
    """White-noise clips (content in every band up to Nyquist), 16-bit like prepare_sr_data writes them."""
    rng = np.random.default_rng(0)
    lengths = np.full(clips, int(seconds * RATE))
    audio = np.clip(rng.standard_normal(lengths.sum()) * 0.2, -1, 1)
    return {"audio": np.round(audio * 32767).astype(np.int16), "lengths": lengths,
            "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]), "top_hz": np.full(clips, top_hz, np.float32),
            "kind": np.zeros(clips, np.int8), "rate": RATE}


def _band_db(x: torch.Tensor, lo: float, hi: float, window: bool = False) -> torch.Tensor:
    """[B] power (dB) of rows of ``x`` in [lo, hi) Hz (``window``: Hann-windowed, for levels far below the peak)."""
    spec = torch.fft.rfft(x * torch.hann_window(x.shape[-1]) if window else x).abs() ** 2
    f = torch.fft.rfftfreq(x.shape[-1], 1 / RATE)
    return 10 * torch.log10(spec[:, (f >= lo) & (f < hi)].mean(-1) + 1e-20)


@pytest.mark.parametrize("shape", range(len(sr_pairs.SHAPES)))
def test_degradation_removes_energy_above_the_cutoff_and_keeps_below(shape):
    sampler = sr_pairs.PairSampler(sr_pairs.SRData(_data(), "cpu"), RATE, seed=shape)
    x = sampler.crops(torch.arange(4))
    fc = torch.tensor([4000.0, 8000.0, 12000.0, 14500.0])
    gain = sr_pairs.filter_response(torch.fft.rfftfreq(RATE, 1 / RATE), fc, torch.full((4,), shape),
                                    torch.rand(4, 3))
    y = torch.fft.irfft(torch.fft.rfft(x) * gain, n=RATE)
    for i, f in enumerate(fc.tolist()):
        keep = _band_db(y[i:i + 1], 0.3 * f, 0.75 * f) - _band_db(x[i:i + 1], 0.3 * f, 0.75 * f)
        assert abs(keep.item()) < 0.5
        gentle = sr_pairs.SHAPES[shape] == "butterworth"  # 24 dB/octave at least: judged an octave up
        lo = (2.0 if gentle else 1.5) * f
        if lo < 22000:
            gone = _band_db(y[i:i + 1], lo, 23000) - _band_db(x[i:i + 1], lo, 23000)
            assert gone.item() < (-25 if gentle else -50)


def test_sampler_batches_and_reported_cutoff_follow_the_filter():
    sampler = sr_pairs.PairSampler(sr_pairs.SRData(_data(top_hz=16000.0), "cpu"), RATE // 2, seed=3)
    clean, degraded, cutoff, top = sampler.batch(8)
    assert clean.shape == degraded.shape == (8, RATE // 2) and cutoff.shape == top.shape == (8,)
    assert (cutoff >= 0.9 * sr_pairs.LOW_HZ).all() and (cutoff <= 0.98 * RATE / 2).all()
    for i in range(8):  # what lies an octave above the reported cut-off is much weaker than below it
        c = cutoff[i].item()
        if 2.2 * c < 16000.0:
            assert (_band_db(degraded[i:i + 1], 2 * c, 16000) < _band_db(degraded[i:i + 1], c / 3, c / 1.5) - 25).all()


def test_stretch_scales_frequencies_and_keeps_amplitude():
    t = torch.arange(6000) / RATE
    x = 0.5 * torch.sin(2 * torch.pi * 3000.0 * t)[None]
    y = sr_pairs.stretch(x, 4800)  # 6000 samples squeezed into 4800: every frequency x 1.25
    spec = torch.fft.rfft(y[0]).abs()
    peak_hz = torch.fft.rfftfreq(4800, 1 / RATE)[spec.argmax()].item()
    assert abs(peak_hz - 3750.0) <= RATE / 4800
    assert abs(y[0, 1000:3800].abs().max().item() - 0.5) < 0.02


@pytest.mark.parametrize("speed", [0.8, 1.25])
def test_speed_augmentation_moves_the_bandwidth_with_the_pitch(monkeypatch, speed):
    monkeypatch.setattr(sr_pairs, "SPEED", (speed, speed))
    monkeypatch.setattr(sr_pairs, "SPEED_PROB", 1.0)
    monkeypatch.setattr(sr_pairs, "MIX_PROB", 0.0)
    sampler = sr_pairs.PairSampler(sr_pairs.SRData(_data(top_hz=16000.0), "cpu"), RATE // 2, seed=5)
    clean, _, _, top = sampler.batch(4)
    assert torch.allclose(top, torch.full((4,), 16000.0 * speed))
    if speed < 1:  # white noise up to 24 kHz played slower: nothing left above 0.8 x 24 kHz
        assert (_band_db(clean, 19600, 23000, True) < _band_db(clean, 2000, 15000, True) - 60).all()
    else:
        assert (_band_db(clean, 19600, 23000) > _band_db(clean, 2000, 15000) - 10).all()


def test_evaluation_sampler_is_not_augmented(monkeypatch):
    monkeypatch.setattr(sr_pairs, "SPEED_PROB", 1.0)
    monkeypatch.setattr(sr_pairs, "SPEED", (0.8, 0.8))
    sampler = sr_pairs.PairSampler(sr_pairs.SRData(_data(top_hz=16000.0), "cpu"), RATE // 2, seed=5, augment=False)
    assert torch.allclose(sampler.batch(4)[3], torch.full((4,), 16000.0))


def test_flac_packed_data_reads_back_sample_exact(tmp_path):
    import prepare_sr_data

    data = _data(clips=2, seconds=0.5)
    packed = dict(data, audio_flac=prepare_sr_data._flac_bytes(data["audio"]))
    del packed["audio"]
    np.savez_compressed(tmp_path / "d.npz", **packed)
    assert np.array_equal(sr_pairs.load_audio(dict(np.load(tmp_path / "d.npz"))), data["audio"])


@pytest.mark.parametrize("frames", [1, 7, 33])
def test_network_output_shapes_for_odd_lengths(frames):
    net = sr_net.SRNet(channels=16, dilations=(1, 2))
    gain = net.core(torch.randn(2, sr_net.BINS, frames), torch.tensor([0.3, 0.8]))
    assert gain.shape == (2, sr_net.BINS, frames)
    spec = torch.randn(2, sr_net.BINS, frames, dtype=torch.complex64)
    assert net(spec, torch.tensor([0.3, 0.8])).shape == spec.shape


def test_low_band_of_the_reconstruction_is_the_input():
    torch.manual_seed(0)
    net = sr_net.SRNet(channels=16, dilations=(1,))
    torch.nn.init.normal_(net.out.weight, std=0.02)  # a network that does change the high band
    x = torch.randn(1, RATE)
    cutoff_hz = 6000.0
    y = torch.fft.irfft(torch.fft.rfft(x) * (torch.fft.rfftfreq(RATE, 1 / RATE) < cutoff_hz), n=RATE)
    spec = train_sr.stft(y)
    out = net(spec, torch.tensor([cutoff_hz / (RATE / 2)]))
    kc = int(sr_net.cutoff_bin(torch.tensor([cutoff_hz / (RATE / 2)])))
    assert torch.equal(out[:, :kc], spec[:, :kc])
    wave = train_sr.istft(out, RATE)
    low = _band_db(wave - y, 50, cutoff_hz - 1000) - _band_db(y, 50, cutoff_hz - 1000)
    assert low.item() < -40  # only the synthesis window's leakage of the generated band
    assert _band_db(wave, cutoff_hz + 500, 20000).item() > _band_db(y, cutoff_hz + 500, 20000).item() + 20


def test_fold_indices_copy_the_top_octave_in_phase_coherent_steps():
    kc = torch.tensor([100, 257])
    src = sr_net.fold_indices(kc)
    assert torch.equal(src[0, :100], torch.arange(100)) and (src[0, 100:] < 100).all()
    width = (100 - 50) // 4 * 4
    assert src[0, 100].item() == 100 - width and ((src[:, 150] - 150) % 4 == 0).all()


def test_three_training_steps_resume_from_the_checkpoint(tmp_path, monkeypatch, capsys):
    data = tmp_path / "sr.npz"
    np.savez(data, **_data())
    args = ["--data", str(data), "--val", str(data), "--out", str(tmp_path / "run"), "--steps", "6", "--batch", "2",
            "--seconds", "0.25", "--eval-every", "3", "--device", "cpu"]

    class CutAfterThree(train_sr.TimeBudget):  # the machine's time limit, after three steps
        calls = 0

        def expired(self):
            CutAfterThree.calls += 1
            return CutAfterThree.calls > 3

    monkeypatch.setattr(train_sr, "TimeBudget", CutAfterThree)
    train_sr.main(args)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["step"] == 3 and not metrics["done"] and "lsd_high_db" in metrics["history"][-1]["held_out"]
    monkeypatch.undo()
    train_sr.main(args)
    assert "starting at step 3" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["step"] == 6 and metrics["done"] and len(metrics["history"]) == 2


def test_onnx_export_matches_pytorch(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    import export_sr

    net = sr_net.SRNet(channels=16, dilations=(1, 2)).eval()
    torch.nn.init.normal_(net.out.weight, std=0.1)
    export_sr.export(net, tmp_path / "sr.onnx")
    assert export_sr.parity(net, tmp_path / "sr.onnx")["gain_max_abs"] < 1e-4


def test_export_rebuilds_the_network_the_run_stored(tmp_path):
    import export_sr

    net = sr_net.SRNet(channels=16, dilations=(1, 4))
    torch.save({"state": net.state_dict(), "step": 3, "channels": 16, "dilations": [1, 4]}, tmp_path / "weights.pt")
    rebuilt = export_sr.network_of(tmp_path)
    rebuilt.load_state_dict(torch.load(tmp_path / "weights.pt")["state"])  # raises when the shapes differ
    assert [b.conv.dilation[0] for b in rebuilt.blocks] == [1, 4] and rebuilt.out.in_channels == 16


def test_export_refuses_a_context_longer_than_the_runtime_overlap(tmp_path):
    import export_sr

    from restora.models.sr_extender import OVERLAP_S

    net = sr_net.SRNet(channels=8, dilations=(128, 64))
    assert sr_net.receptive_frames((128, 64)) > OVERLAP_S * sr_net.RATE / sr_net.HOP
    torch.save({"state": net.state_dict(), "step": 1, "channels": 8, "dilations": [128, 64]}, tmp_path / "weights.pt")
    with pytest.raises(SystemExit, match="overlap"):
        export_sr.network_of(tmp_path)


def test_a_grown_network_starts_where_the_smaller_one_was(tmp_path):
    torch.manual_seed(0)
    small = sr_net.SRNet(channels=16, dilations=(1, 2)).eval()
    torch.nn.init.normal_(small.out.weight, std=0.05)
    torch.save({"state": small.state_dict(), "step": 5}, tmp_path / "weights.pt")
    big = sr_net.SRNet(channels=16, dilations=(1, 2, 16)).eval()
    assert train_sr.grow_from(big, tmp_path / "weights.pt")["grown_blocks"] == [2]
    logmag, cutoff = torch.randn(2, sr_net.BINS, 40) - 2.0, torch.tensor([0.3, 0.7])
    with torch.no_grad():
        assert torch.allclose(big.core(logmag, cutoff), small.core(logmag, cutoff), atol=1e-6)
    # the appended block still learns: its normalisation scale has a gradient
    big.train()
    big.core(logmag, cutoff).square().mean().backward()
    assert big.blocks[2].norm.weight.grad.abs().sum() > 0


def test_growing_refuses_weights_of_another_width(tmp_path):
    torch.save({"state": sr_net.SRNet(channels=8, dilations=(1,)).state_dict(), "step": 1}, tmp_path / "weights.pt")
    with pytest.raises((SystemExit, RuntimeError)):
        train_sr.grow_from(sr_net.SRNet(channels=16, dilations=(1, 2)), tmp_path / "weights.pt")


def test_flattening_removes_the_copys_fine_structure_and_keeps_its_level():
    torch.manual_seed(0)
    net = sr_net.SRNet(channels=16, dilations=(1,), flatten=(9,)).eval()
    cutoff = torch.tensor([0.4])
    logmag = torch.randn(1, sr_net.BINS, 20) - 3.0  # a jagged spectrum, like noise
    with torch.no_grad():
        net.flat.bias.fill_(20.0)  # amount 1: all of the fine structure removed
        gain = net.core(logmag, cutoff)
    kc = int(sr_net.cutoff_bin(cutoff))
    copy = torch.gather(logmag, 1, sr_net.fold_indices(torch.tensor([kc])).unsqueeze(-1).expand(-1, -1, 20))
    shaped = (copy + gain)[0, kc + 8:sr_net.BINS - 8]
    assert shaped.std(0).mean() < 0.35 * copy[0, kc + 8:sr_net.BINS - 8].std(0).mean()
    assert abs(shaped.mean() - copy[0, kc:].mean()) < 0.3  # log10 units: the level stays within 6 dB


@pytest.mark.parametrize("stored, widths", [(True, (9,)), ([9, 33], (9, 33))])  # True: the first runs' flag
def test_export_rebuilds_a_flattening_network(tmp_path, stored, widths):
    import export_sr

    net = sr_net.SRNet(channels=16, dilations=(1,), flatten=widths)
    torch.save({"state": net.state_dict(), "step": 3, "channels": 16, "dilations": [1], "flatten": stored},
               tmp_path / "weights.pt")
    rebuilt = export_sr.network_of(tmp_path)
    rebuilt.load_state_dict(torch.load(tmp_path / "weights.pt")["state"])
    assert rebuilt.flat_widths == widths


def test_growing_keeps_the_saved_flattening_width_and_adds_one(tmp_path):
    torch.manual_seed(0)
    small = sr_net.SRNet(channels=16, dilations=(1,), flatten=(9,)).eval()
    torch.nn.init.normal_(small.flat.weight, std=0.3)
    torch.save({"state": small.state_dict(), "step": 5}, tmp_path / "weights.pt")
    big = sr_net.SRNet(channels=16, dilations=(1, 64), flatten=(9, 33)).eval()
    train_sr.grow_from(big, tmp_path / "weights.pt")
    assert torch.equal(big.flat.weight[0], small.flat.weight[0]) and big.flat.bias[1] < -5
    logmag, cutoff = torch.randn(1, sr_net.BINS, 30) - 2.0, torch.tensor([0.4])
    with torch.no_grad():
        assert (big.core(logmag, cutoff) - small.core(logmag, cutoff)).abs().max() < 0.05
