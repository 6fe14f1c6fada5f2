"""BS.1770-4 meter, true peak, and the loudness nodes (meter, two-pass normaliser)."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from invariance import assert_block_invariant, run_node_in_blocks
from restora.dsp.loudness import (LoudnessMeter, integrated_loudness, k_weighting_sos,
                                  true_peak_dbtp)
from restora.graph.node import ParameterError
from restora.graph.nodes_loudness import LoudnessMeterNode, LoudnessNormalizeNode


def _sine(freq, seconds, sr, amplitude=1.0, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    return np.repeat((amplitude * np.sin(2 * np.pi * freq * t))[:, None], channels, axis=1)


def _program(sr, seconds=12.0, seed=0):
    """Music-like stereo test material: band-limited noise with a varying level."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    x = signal.sosfilt(signal.butter(4, [60, min(12000, 0.4 * sr)], "bandpass", fs=sr, output="sos"),
                       rng.standard_normal((n, 2)), axis=0)
    envelope = 0.05 + 0.25 * (1 + np.sin(2 * np.pi * 0.3 * np.arange(n) / sr)) ** 2
    return (x * envelope[:, None]).astype(np.float32)


def test_k_weighting_matches_bs1770_at_48k():
    sos = k_weighting_sos(48000)
    np.testing.assert_allclose(sos[0], [1.53512485958697, -2.69169618940638, 1.19839281085285,
                                        1.0, -1.69065929318241, 0.73248077421585], atol=1e-9)
    np.testing.assert_allclose(sos[1], [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
                               atol=1e-9)


def test_k_weighting_at_44k1_agrees_with_pyloudnorm_shelf():
    shelf = pyloudnorm.Meter(44100)._filters["high_shelf"]
    np.testing.assert_allclose(k_weighting_sos(44100)[0], np.concatenate([shelf.b, shelf.a]), atol=2e-4)


def test_reference_sine_levels():
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS.
    assert integrated_loudness(_sine(997, 5, 48000), 48000) == pytest.approx(-3.01, abs=0.01)
    # EBU Tech 3341: a 1 kHz sine at -23 dBFS in both channels reads -23.0 LUFS.
    stereo = _sine(1000, 5, 48000, 10 ** (-23 / 20), channels=2)
    assert integrated_loudness(stereo, 48000) == pytest.approx(-23.0, abs=0.05)


@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("seed", [0, 1])
def test_integrated_agrees_with_pyloudnorm(sr, seed):
    x = _program(sr, seed=seed)
    expected = pyloudnorm.Meter(sr).integrated_loudness(x.astype(np.float64))
    assert integrated_loudness(x, sr) == pytest.approx(expected, abs=0.1)


def test_gating_and_silence():
    sr = 48000
    assert integrated_loudness(np.zeros((sr * 3, 2)), sr) is None
    assert integrated_loudness(np.zeros((sr // 10, 2)) + 0.1, sr) is None  # < 400 ms
    # Adding a long silence barely changes the gated loudness (only the
    # three blocks that straddle the end of the tone count).
    tone = _sine(1000, 20, sr, 0.5)
    padded = np.concatenate([tone, np.zeros((sr * 10, 1))])
    assert integrated_loudness(padded, sr) == pytest.approx(integrated_loudness(tone, sr), abs=0.05)


def test_true_peak_of_intersample_signal():
    sr = 48000
    n = np.arange(sr)
    # fs/4 sine with a 45 degree phase: samples at +-1, waveform peaks at sqrt(2).
    x = np.sqrt(2) * np.sin(np.pi / 2 * n + np.pi / 4) * signal.windows.tukey(sr, 0.2)
    assert np.abs(x).max() <= 1.0 + 1e-9
    assert true_peak_dbtp(x[:, None], sr) == pytest.approx(3.01, abs=0.5)
    assert true_peak_dbtp(x[:, None], sr) == pytest.approx(3.01, abs=0.05)


def test_meter_is_block_invariant():
    sr = 44100
    x = _program(sr, seconds=9)

    def measure(sizes):
        meter = LoudnessMeter(sr, 2)
        start, k = 0, 0
        while start < len(x):
            meter.process(x[start:start + sizes[k % len(sizes)]])
            start, k = start + sizes[k % len(sizes)], k + 1
        return meter.result()

    whole = measure([len(x)])
    for sizes in ([4799], [1, 7, 44100], [sr * 7]):
        r = measure(sizes)
        for field in ("integrated_lufs", "loudness_range_lu", "true_peak_dbtp",
                      "momentary_max_lufs", "short_term_max_lufs"):
            assert getattr(r, field) == pytest.approx(getattr(whole, field), abs=1e-6), field
    assert whole.loudness_range_lu > 1.0


# -- nodes ------------------------------------------------------------------

def test_meter_node_passes_audio_and_measures():
    sr = 22050
    x = _program(sr, seconds=65)
    outs = assert_block_invariant(LoudnessMeterNode, x, sr)
    np.testing.assert_array_equal(outs["main"], x)
    node = LoudnessMeterNode()
    node.start(sr, 2)
    node.process(x)
    node.finish()
    values = {m.name: m.value for m in node.measurements if m.start_s is None}
    assert values["integrated_lufs"] == pytest.approx(integrated_loudness(x, sr), abs=1e-9)
    assert values["true_peak_dbtp"] >= values["sample_peak_dbfs"]
    per_second = [m for m in node.measurements if m.name == "short_term_lufs"]
    assert len(per_second) == 63 and per_second[0].end_s == pytest.approx(3.0)


def _check_normalized(y, sr, target=-16.0, ceiling=-1.0):
    assert integrated_loudness(y, sr) == pytest.approx(target, abs=0.2)
    assert true_peak_dbtp(y, sr) <= ceiling + 0.1


@pytest.mark.parametrize("scale", [2.5, 0.02])  # a loud (clipping-level) and a quiet input
def test_normalize_reaches_target_and_ceiling(scale):
    sr = 48000
    x = (_program(sr, seconds=10) * scale).astype(np.float32)
    x[sr * 3: sr * 3 + 30] *= 8  # transients the limiter must catch
    y = run_node_in_blocks(LoudnessNormalizeNode, x, sr, 4799)["main"]
    assert y.shape == x.shape
    _check_normalized(y, sr)


def test_normalize_custom_target_and_block_invariance():
    sr = 22050
    x = _program(sr, seconds=65) * 0.3

    def factory():
        return LoudnessNormalizeNode(target_lufs=-23, true_peak_db=-2)

    y = assert_block_invariant(factory, x, sr)["main"]
    _check_normalized(y, sr, -23.0, -2.0)


def test_normalize_silence_is_unity():
    sr = 16000
    x = np.zeros((sr * 2, 1), np.float32)
    x[100] = 1e-6
    y = run_node_in_blocks(LoudnessNormalizeNode, x, sr, 1000)["main"]
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("params", [{"target_lufs": -50}, {"target_lufs": 0},
                                    {"true_peak_db": 1.0}, {"loudness": -16}])
def test_normalize_rejects_bad_params(params):
    with pytest.raises(ParameterError):
        LoudnessNormalizeNode(**params)


def test_normalize_compensates_what_the_limiter_takes():
    # Speech-like material: Laplacian samples under a 4 Hz syllable envelope,
    # peak-to-loudness ~20 dB. Reaching -16 LUFS under -1 dBTP makes the
    # limiter pull several dB off the peaks, which a single gain leaves quiet.
    sr = 48000
    rng = np.random.default_rng(3)
    t = np.arange(sr * 20) / sr
    envelope = np.sin(2 * np.pi * 2 * t) ** 2
    x = (0.03 * rng.laplace(size=(len(t), 1)) * envelope[:, None]).astype(np.float32)
    x /= np.abs(x).max() / 0.9
    node = LoudnessNormalizeNode()
    y = run_node_in_blocks(lambda: node, x, sr, 48000)["main"]
    values = {m.name: m.value for m in node.measurements}
    assert values["simulation_passes"] >= 1
    assert integrated_loudness(y, sr) == pytest.approx(-16.0, abs=0.1)
    assert true_peak_dbtp(y, sr) <= -1.0 + 0.1
