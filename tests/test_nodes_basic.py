"""Gain, high-pass, parametric EQ and limiter nodes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from invariance import assert_block_invariant, run_node_in_blocks
from restora.dsp.loudness import true_peak_dbtp
from restora.graph.node import ParameterError
from restora.graph.nodes_basic import GainNode, HighPassNode, LimiterNode, ParametricEqNode

SR = 22050


@pytest.fixture(scope="module")
def program():
    """65 s of stereo band-limited noise with a slow level swing, float32 [frames, 2]."""
    rng = np.random.default_rng(7)
    n = SR * 65
    x = signal.sosfilt(signal.butter(4, [40, 9000], "bandpass", fs=SR, output="sos"),
                       rng.standard_normal((n, 2)), axis=0)
    swing = 0.1 + 0.4 * (1 + np.sin(2 * np.pi * 0.05 * np.arange(n) / SR))
    return (x * swing[:, None]).astype(np.float32)


def _tone(freq, sr=SR, seconds=2.0, amplitude=0.25):
    t = np.arange(int(sr * seconds)) / sr
    return np.repeat((amplitude * np.sin(2 * np.pi * freq * t))[:, None], 2, axis=1).astype(np.float32)


def _level_db(y, skip):
    """RMS level (dB re the same-amplitude input) after a settling time of ``skip`` frames."""
    return 20 * np.log10(np.sqrt(np.mean(y[skip:] ** 2)) / (0.25 / np.sqrt(2)))


NODES = {
    "gain": lambda: GainNode(gain_db=-6.5),
    "highpass": lambda: HighPassNode(cutoff_hz=120, order=4),
    "eq": lambda: ParametricEqNode(band1_gain_db=4, band2_gain_db=-8, band2_q=3,
                                   band3_type="highshelf", band3_gain_db=3, band4_type="off"),
    "limiter": lambda: LimiterNode(ceiling_db=-3.0, release_ms=50),
}


@pytest.mark.parametrize("name", sorted(NODES))
def test_block_invariance(name, program):
    assert_block_invariant(NODES[name], program, SR, block_frames=(4799,))


def test_block_invariance_single_frames():
    x = _tone(1000, seconds=0.3) * 5
    for factory in NODES.values():
        assert_block_invariant(factory, x, SR, block_sizes_s=(), block_frames=(1, 3, 4799))


def test_gain_is_exact():
    x = _tone(440)
    y = run_node_in_blocks(lambda: GainNode(gain_db=-6.0), x, SR, 1000)["main"]
    np.testing.assert_allclose(y, x * np.float32(10 ** (-6 / 20)), rtol=1e-6)


def test_highpass_attenuation():
    # 2nd-order Butterworth at 100 Hz: |H(50 Hz)| = 1 / sqrt(1 + 2^4) = -12.30 dB.
    y = run_node_in_blocks(lambda: HighPassNode(cutoff_hz=100, order=2), _tone(50), SR, 4799)["main"]
    assert _level_db(y, SR // 2) == pytest.approx(-10 * np.log10(17), abs=0.1)
    y = run_node_in_blocks(lambda: HighPassNode(cutoff_hz=100, order=2), _tone(1000), SR, 4799)["main"]
    assert _level_db(y, SR // 2) == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("gain_db,q", [(6.0, 1.0), (-9.0, 4.0), (12.0, 0.5)])
def test_eq_peak_gain_at_centre(gain_db, q):
    def factory():
        return ParametricEqNode(band2_freq_hz=1000, band2_gain_db=gain_db, band2_q=q)

    y = run_node_in_blocks(factory, _tone(1000), SR, 4799)["main"]
    assert _level_db(y, SR // 2) == pytest.approx(gain_db, abs=0.2)


def test_eq_shelves():
    def factory():
        return ParametricEqNode(band1_freq_hz=200, band1_gain_db=6, band4_freq_hz=4000, band4_gain_db=-6)

    low = run_node_in_blocks(factory, _tone(40), SR, 4799)["main"]
    high = run_node_in_blocks(factory, _tone(10000), SR, 4799)["main"]
    assert _level_db(low, SR // 2) == pytest.approx(6.0, abs=0.3)
    assert _level_db(high, SR // 2) == pytest.approx(-6.0, abs=0.3)


def test_eq_flat_by_default():
    x = _tone(3000)
    np.testing.assert_array_equal(run_node_in_blocks(ParametricEqNode, x, SR, 777)["main"], x)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_limiter_ceiling_length_and_alignment(sr):
    rng = np.random.default_rng(3)
    n = sr * 4
    x = signal.sosfilt(signal.butter(6, 16000, fs=sr, output="sos"), rng.standard_normal((n, 2)), axis=0)
    x = (0.4 * x).astype(np.float32)
    x[sr: sr + 40] *= 6  # a loud transient
    y = run_node_in_blocks(lambda: LimiterNode(ceiling_db=-1.0), x, sr, 4799)["main"]
    assert y.shape == x.shape
    assert true_peak_dbtp(y, sr) <= -1.0 + 1e-3
    # Independent check: 16x band-limited interpolation away from the edges.
    h = signal.firwin(16 * 64 + 1, 1 / 16, window=("kaiser", 10)) * 16
    up = signal.upfirdn(h, y, 16, axis=0)[len(h) // 2:][: n * 16]
    assert 20 * np.log10(np.abs(up[1000:-1000]).max()) <= -1.0 + 0.1
    # Alignment: where no limiting is needed the output is the input, unshifted.
    quiet = x * np.float32(0.05)
    out = run_node_in_blocks(lambda: LimiterNode(ceiling_db=-1.0), quiet, sr, 4799)["main"]
    np.testing.assert_array_equal(out, quiet)


def test_limiter_reduces_gain_only_around_peaks():
    x = _tone(1000, amplitude=0.5, seconds=3.0)
    x[SR: SR + 100] *= 4  # +12 dB burst
    y = run_node_in_blocks(lambda: LimiterNode(ceiling_db=-1.0, release_ms=20), x, SR, 1000)["main"]
    gain = np.abs(y).max(axis=1) / np.maximum(np.abs(x).max(axis=1), 1e-9)
    assert np.all(gain[: SR - 300][np.abs(x[: SR - 300, 0]) > 0.1] > 0.999)  # untouched before
    assert np.abs(y[SR: SR + 100]).max() <= 10 ** (-1 / 20) + 1e-3
    tail = slice(SR + 100 + SR // 2, None)  # recovered half a second later
    np.testing.assert_allclose(y[tail], x[tail], atol=1e-3)


@pytest.mark.parametrize("cls,params", [
    (GainNode, {"gain_db": 30}), (GainNode, {"gain_db": -61}), (GainNode, {"gain_db": "loud"}),
    (HighPassNode, {"cutoff_hz": 5}), (HighPassNode, {"order": 9}),
    (ParametricEqNode, {"band1_type": "notch"}), (ParametricEqNode, {"band13_freq_hz": 100}),
    (ParametricEqNode, {"band2_q": 0}), (LimiterNode, {"ceiling_db": 1}),
    (LimiterNode, {"release_ms": 0}),
])
def test_out_of_range_params_raise(cls, params):
    with pytest.raises(ParameterError):
        cls(**params)
