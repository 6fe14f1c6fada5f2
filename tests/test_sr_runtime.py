"""Neural band-extension runtime (restora.models.sr_extender): parity with sr_net's PyTorch forward, low band, chunks."""

import sys
from pathlib import Path

import numpy as np
import pytest

from restora.errors import ModelError
from restora.models import sr_extender

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "training"))

import export_sr  # noqa: E402
import sr_net  # noqa: E402

RATE = sr_extender.RATE


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small SRNet with random weights (the output layer and the flattening head too, so the gains are not all
    zero and the copy's fine structure is partly removed), exported."""
    torch.manual_seed(0)
    net = sr_net.SRNet(channels=16, dilations=(1, 2), flatten=(9,)).eval()
    with torch.no_grad():
        net.out.weight.normal_(0.0, 0.05)
        net.out.bias.normal_(-0.3, 0.2)  # copy about as loud as the input
        net.flat.weight.normal_(0.0, 0.3)
        net.flat.bias.fill_(0.0)  # removes about half of the fine structure
    path = tmp_path_factory.mktemp("sr") / "sr.onnx"
    export_sr.export(net, path)
    return net, path


def _band_limited(seconds, channels=1, cutoff_hz=6000.0, seed=0):
    """White noise brick-wall low-passed at ``cutoff_hz``, [frames, channels] float32 at 48 kHz."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(seconds * RATE), channels))
    spec = np.fft.rfft(x, axis=0)
    spec[np.fft.rfftfreq(len(x), 1 / RATE) > cutoff_hz] = 0
    return (0.1 * np.fft.irfft(spec, len(x), axis=0)).astype(np.float32)


def _torch_forward(net, audio, cutoff_hz):
    """sr_net's forward around torch.stft / torch.istft in float64, [frames, channels]."""
    net64 = net.double()
    window = torch.hann_window(sr_net.N_FFT, dtype=torch.float64)
    x = torch.as_tensor(audio.T.astype(np.float64))
    spec = torch.stft(x, sr_net.N_FFT, sr_net.HOP, window=window, return_complex=True)
    with torch.no_grad():
        out = net64(spec, torch.full((x.shape[0],), cutoff_hz / (RATE / 2), dtype=torch.float64))
    wave = torch.istft(out, sr_net.N_FFT, sr_net.HOP, window=window, length=x.shape[1])
    net.float()
    return wave.numpy().T


def _low_band(x, cutoff_hz):
    spec = np.fft.rfft(x, axis=0)
    spec[np.fft.rfftfreq(len(x), 1 / RATE) >= cutoff_hz] = 0
    return np.fft.irfft(spec, len(x), axis=0)


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("frames, channels, cutoff_hz", [(RATE, 1, 6000.0), (RATE + 1237, 2, 11025.0),
                                                         (9001, 2, 3700.0)])
def test_matches_the_pytorch_forward(tiny, frames, channels, cutoff_hz):
    net, path = tiny
    audio = _band_limited(frames / RATE, channels, cutoff_hz)[:frames]
    ours = sr_extender.SRExtender(path, threads=1).extend(audio, cutoff_hz)
    want = _torch_forward(net, audio, cutoff_hz)
    assert ours.shape == audio.shape and ours.dtype == np.float32
    assert _rel(ours, want) < 1e-4
    generated = want - audio
    assert np.sqrt((generated ** 2).mean()) > 1e-3  # the random gains made a real high band


def test_the_low_band_is_the_input(tiny):
    cutoff_hz = 8000.0
    audio = _band_limited(2.0, 2, cutoff_hz, seed=3)
    out = sr_extender.SRExtender(tiny[1], threads=1).extend(audio, cutoff_hz)
    # below the crossover (which starts at the cut-off bin, 46.9 Hz wide bins) the bins are the input's
    low_in, low_out = _low_band(audio, cutoff_hz - 100.0), _low_band(out, cutoff_hz - 100.0)
    snr = 10 * np.log10((low_in ** 2).sum() / ((low_out - low_in) ** 2).sum())
    assert snr >= 40.0


def test_chunk_boundaries_are_invisible(tiny):
    cutoff_hz = 6000.0
    audio = _band_limited(7.3, 2, cutoff_hz, seed=5)
    one = sr_extender.SRExtender(tiny[1], threads=1, chunk_s=60.0).extend(audio, cutoff_hz)
    chunked = sr_extender.SRExtender(tiny[1], threads=1, chunk_s=2.0, overlap_s=0.5).extend(audio, cutoff_hz)
    generated, error = one - audio, chunked - one
    # the network normalises each frame on its own and looks 36 frames back; the 0.5 s overlap holds that
    # context, so chunks agree with one pass to rounding and the edge frames' cross-fade (min ~79 dB here)
    blocks = [slice(s, s + RATE // 4) for s in range(0, len(audio), RATE // 4)]
    snr = [10 * np.log10((generated[b] ** 2).sum() / (error[b] ** 2).sum()) for b in blocks]
    assert min(snr) >= 60.0
    assert _rel(chunked, one) < 1e-3


def test_mono_one_dimensional_and_empty(tiny):
    ex = sr_extender.SRExtender(tiny[1], threads=1)
    audio = _band_limited(0.5, 1)[:, 0]
    out = ex.extend(audio, 6000.0)
    assert out.shape == audio.shape
    assert np.abs(out - ex.extend(audio[:, None], 6000.0)[:, 0]).max() == 0
    assert ex.extend(np.zeros(0, np.float32), 6000.0).shape == (0,)


@pytest.mark.parametrize("cutoff", [0.01, 0.2, 0.37, 0.5, 0.75, 0.99])
def test_fold_index_matches_training(cutoff):
    c = torch.tensor([cutoff])
    kc = sr_net.cutoff_bin(c)
    assert int(kc) == sr_extender.cutoff_bin(cutoff)
    assert np.array_equal(sr_net.fold_indices(kc)[0].numpy(), sr_extender.fold_index(int(kc)))
    assert np.allclose(sr_net.crossover(kc)[0].numpy(), sr_extender.crossover(int(kc)), atol=1e-6)


def test_a_missing_model_is_a_clear_model_error(monkeypatch):
    def missing(model_id):
        raise ModelError(f"unknown model '{model_id}'")

    monkeypatch.setattr("restora.models.fetch.ensure_installed", missing)
    sr_extender.extender.cache_clear()
    with pytest.raises(ModelError, match="sr-extender.*not available"):
        sr_extender.extender(1)
    sr_extender.extender.cache_clear()
