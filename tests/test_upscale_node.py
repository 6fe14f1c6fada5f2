"""The ``upscale`` graph node (issue 7): pass-through, restored band, low band kept, invariance, rates."""

import numpy as np
import pytest
from invariance import assert_block_invariant_measured, run_node_measured
from scipy import signal

from restora.dsp.band_extension import HOP, N_FFT, extend_band
from restora.dsp.resample import resample
from restora.dsp.stft import stft
from restora.errors import UsageError
from restora.graph import nodes_upscale
from restora.graph.file_job import process_array
from restora.graph.node import ParameterError
from restora.graph.nodes_upscale import UpscaleNode
from restora.graph.preset import load_preset, preset_from_dict
from restora.graph.registry import node_class, node_types

SR = 48000


def _noise(seconds, channels=1, rate=SR, seed=0):
    """White noise [frames, channels] at ``rate``, RMS 0.1."""
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((int(seconds * rate), channels))).astype(np.float32)


def _lowpass(x, cutoff, rate=SR):
    """A steep elliptic low-pass (like a codec's) at ``cutoff`` Hz."""
    sos = signal.ellip(12, 0.1, 100, cutoff, fs=rate, output="sos")
    return signal.sosfilt(sos, x, axis=0).astype(np.float32)


def _band_power_db(x, lo, hi, rate=SR):
    freqs = np.arange(N_FFT // 2 + 1) * rate / N_FFT
    spec = stft(x, N_FFT, HOP)
    return 10 * np.log10(np.mean(np.abs(spec[:, (freqs >= lo) & (freqs < hi)]) ** 2) + 1e-30)


def _low_band_snr(x, y, cutoff, rate=SR):
    """SNR in dB of ``y`` against ``x`` over the STFT bins below ``cutoff`` Hz."""
    low = np.arange(N_FFT // 2 + 1) * rate / N_FFT < cutoff
    ref, out = stft(x, N_FFT, HOP)[:, low], stft(y, N_FFT, HOP)[:, low]
    return 10 * np.log10(np.sum(np.abs(ref) ** 2) / np.sum(np.abs(out - ref) ** 2))


def _measured(meas):
    return {m[0]: m[1] for m in meas}


def _preset(**params):
    return preset_from_dict({"restora_preset": 1, "name": "t", "nodes": [
        {"id": "up", "type": "upscale", "params": params}],
        "outputs": {"main": "up", "generated": "up.generated"}}, "test")


def test_registered_with_its_params_and_builtin_preset():
    assert "upscale" in node_types()
    cls = node_class("upscale")
    assert cls.OUTPUTS == ("main", "generated")
    assert [p.name for p in cls.PARAMS] == ["target_rate", "cutoff", "method", "threads"]
    assert "fold" in nodes_upscale.METHODS
    assert load_preset("upscale").nodes[0].type == "upscale"


def test_full_band_input_passes_through_unchanged():
    x = _noise(2.0, channels=2)
    outs, meas = run_node_measured(lambda: UpscaleNode(method="fold"), x, SR, 4096)
    np.testing.assert_array_equal(outs["main"], x)
    assert not outs["generated"].any()
    assert _measured(meas)["extended"] == 0.0


def test_full_band_44k_input_is_only_resampled_to_48k():
    x = _noise(2.0, channels=2, rate=44100)
    outs, meas = process_array(_preset(), x, 44100)
    np.testing.assert_allclose(outs["main"], resample(x, 44100, SR, "VHQ"), atol=1e-6)
    assert not outs["generated"].any() and meas["up"][1].value == 0.0


@pytest.mark.parametrize("cutoff", [4000, 11025])
def test_band_limited_noise_gets_a_high_band_and_keeps_the_low_band(cutoff):
    x = _lowpass(_noise(3.0, channels=2), cutoff)
    outs, meas = run_node_measured(lambda: UpscaleNode(method="fold"), x, SR, 10000)
    y = outs["main"]
    assert y.shape == x.shape and y.dtype == np.float32
    lo, hi = cutoff * 1.1, min(cutoff * 2, SR / 2 * 0.9)
    assert _band_power_db(y, lo, hi) > _band_power_db(x, lo, hi) + 30
    assert _low_band_snr(x, y, cutoff) >= 40.0
    np.testing.assert_allclose(y - x, outs["generated"], atol=1e-6)
    assert abs(_measured(meas)["cutoff_hz"] - cutoff) < 0.05 * cutoff  # the detected cut-off is reported


def test_matches_extend_band_on_a_stream_shorter_than_the_analysis_window():
    x = _lowpass(_noise(2.0), 6000)
    outs, _ = run_node_measured(lambda: UpscaleNode(method="fold"), x, SR, 3000)
    np.testing.assert_allclose(outs["main"], extend_band(x, SR), atol=1e-6)
    given, meas = run_node_measured(lambda: UpscaleNode(method="fold", cutoff="7000"), x, SR, 3000)
    np.testing.assert_allclose(given["main"], extend_band(x, SR, 7000.0), atol=1e-6)
    assert _measured(meas)["cutoff_hz"] == 7000.0


def test_block_size_invariant_within_and_across_the_analysis_window(monkeypatch):
    x = _lowpass(_noise(3.0, channels=2, seed=1), 5000)
    assert_block_invariant_measured(lambda: UpscaleNode(method="fold"), x, SR, block_sizes_s=(0.5, 1.3), atol=1e-5)
    # A window shorter than the stream: the cut-off is fixed after 1 s, the rest streams.
    monkeypatch.setattr(nodes_upscale, "ANALYSIS_S", 1.0)
    outs, meas = assert_block_invariant_measured(lambda: UpscaleNode(method="fold"), x, SR, block_sizes_s=(0.3, 2.2),
                                                 atol=1e-5, block_frames=(4799, 48000))
    assert _measured(meas)["extended"] == 1.0
    np.testing.assert_allclose(outs["main"] - x, outs["generated"], atol=1e-6)


def test_output_is_aligned_with_the_input():
    # A band-limited click train: the restored band sits at the clicks, not shifted by the latency.
    x = np.zeros((SR * 2, 1), np.float32)
    x[SR // 4::SR // 4] = 0.5
    x = _lowpass(x, 6000)
    outs, _ = run_node_measured(lambda: UpscaleNode(method="fold", cutoff="6000"), x, SR, 1000)
    high = signal.sosfiltfilt(signal.butter(8, 9000, "high", fs=SR, output="sos"), outs["generated"][:, 0])
    peaks = np.argsort(np.abs(high))[-3:]
    assert np.all(np.min(np.abs(peaks[:, None] - np.arange(SR // 4, SR * 2, SR // 4)[None]), axis=1) < 200)


def test_stereo_channels_are_independent():
    x = _lowpass(_noise(2.0), 6000)
    stereo = np.concatenate([x, np.zeros_like(x)], axis=1)
    outs, _ = run_node_measured(lambda: UpscaleNode(method="fold", cutoff="6000"), stereo, SR, 7000)
    assert not outs["main"][:, 1].any()
    mono, _ = run_node_measured(lambda: UpscaleNode(method="fold", cutoff="6000"), x, SR, 7000)
    np.testing.assert_allclose(outs["main"][:, :1], mono["main"], atol=1e-6)


def test_8k_input_comes_out_at_48k_with_a_restored_band():
    x = _noise(3.0, rate=8000)
    outs, meas = process_array(_preset(), x, 8000)
    assert outs["main"].shape == (len(x) * 6, 1)
    got = {m.name: m.value for m in meas["up"]}
    assert got["output_rate"] == 48000 and got["extended"] == 1.0 and 3500 < got["cutoff_hz"] < 4000
    assert _band_power_db(outs["generated"], 4500, 7000) > _band_power_db(resample(x, 8000, SR), 4500, 7000) + 30


def test_target_rate_never_lowers_the_rate_and_bypass_keeps_it():
    preset = _preset(target_rate=32000)
    assert preset.working_rate(22050) == 32000 and preset.working_rate(44100) == 44100
    preset.nodes[0].bypass = True
    assert preset.working_rate(22050) == 22050


def test_silence_passes_through_with_no_cutoff():
    x = np.zeros((SR, 2), np.float32)
    outs, meas = run_node_measured(lambda: UpscaleNode(method="fold"), x, SR, 5000)
    assert not outs["main"].any() and _measured(meas)["cutoff_hz"] is None


def test_bad_parameters_are_refused():
    for bad in ("abc", "-100", "0", "nan"):
        with pytest.raises(ParameterError):
            UpscaleNode(method="fold", cutoff=bad)
    with pytest.raises(ParameterError):
        UpscaleNode(method="magic")
    with pytest.raises(UsageError, match="Nyquist"):
        UpscaleNode(method="fold", cutoff="30000").start(SR, 1)
    with pytest.raises(UsageError, match="too little band"):
        UpscaleNode(method="fold", cutoff="200").start(SR, 1)
    with pytest.raises(UsageError, match="cutoff"):
        _preset(cutoff="loud")


def test_fix_auto_cutoffs_measures_the_file_start_once(monkeypatch):
    """A later segment (the GUI's preview) gets the cut-off a run from the start measures, not its own."""
    from restora.graph import nodes_upscale

    monkeypatch.setattr(nodes_upscale, "ANALYSIS_S", 0.5)
    x = np.concatenate([_lowpass(_noise(0.5), 4000), _lowpass(_noise(1.5, seed=1), 9000)])
    preset = _preset(method="fold")
    fixed = nodes_upscale.fix_auto_cutoffs(preset, lambda n: x[:n], SR)
    given = float(fixed.node("up").params["cutoff"])
    assert given == pytest.approx(nodes_upscale.measure_cutoff(x, SR)) and 3500 < given < 4500
    _, start_meas = run_node_measured(lambda: UpscaleNode(method="fold"), x, SR, 4000)
    assert _measured(start_meas)["cutoff_hz"] == pytest.approx(given, abs=0.1)
    _, late_auto = run_node_measured(lambda: UpscaleNode(method="fold"), x[SR:], SR, 4000)
    assert _measured(late_auto)["cutoff_hz"] > 8000  # what a segment measures on its own
    _, late_fixed = run_node_measured(lambda: UpscaleNode(**fixed.node("up").params), x[SR:], SR, 4000)
    assert _measured(late_fixed)["cutoff_hz"] == pytest.approx(given, abs=0.1)
    assert preset.node("up").params["cutoff"] == "auto"  # the preset itself is not changed


def test_fix_auto_cutoffs_leaves_given_chained_and_full_band_nodes_alone():
    from restora.graph import nodes_upscale

    x = _lowpass(_noise(1.0), 6000)
    given = _preset(cutoff="5000")
    assert nodes_upscale.fix_auto_cutoffs(given, lambda n: x[:n], SR).node("up").params["cutoff"] == "5000"
    full = _noise(1.0)
    assert nodes_upscale.fix_auto_cutoffs(_preset(), lambda n: full[:n], SR).node("up").params["cutoff"] == "auto"
    chained = preset_from_dict({"restora_preset": 1, "name": "t", "nodes": [
        {"id": "g", "type": "gain", "params": {"gain_db": -3}},
        {"id": "up", "type": "upscale", "input": "g", "params": {}}], "outputs": {"main": "up"}}, "test")
    assert nodes_upscale.fix_auto_cutoffs(chained, lambda n: x[:n], SR).node("up").params["cutoff"] == "auto"
