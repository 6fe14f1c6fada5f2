"""Measures of the super-resolution benchmark (benchmarks/upscale_quality.py) on synthetic signals."""

import math

import numpy as np
import pytest
from test_extract_benchmark_helpers import load

SR = 44100


@pytest.fixture(scope="module")
def bench():
    return load("upscale_quality")


def _noise(seconds=2.0, channels=2):
    return (0.1 * np.random.default_rng(0).standard_normal((int(SR * seconds), channels))).astype(np.float32)


def test_lsd_is_zero_for_equal_signals_and_the_level_difference_for_scaled_ones(bench):
    x = _noise()
    ref = bench.power_db(x)
    assert bench.lsd(ref, ref, SR, 0, SR / 2) == 0.0
    assert bench.lsd(ref, bench.power_db(x * 10 ** (-6 / 20)), SR, 0, SR / 2) == pytest.approx(6.0, abs=0.01)


def test_lsd_of_an_empty_band_counts_down_to_the_floor(bench):
    x = _noise()
    degraded = bench.degrade(x, SR, 8000)
    assert degraded.shape == x.shape
    ref, est = bench.power_db(x), bench.power_db(degraded)
    assert bench.lsd(ref, est, SR, 0, 3500) < 0.5
    # White noise at 0.1 rms: -45 dB mean power per bin, -48 dB mean log; the empty band sits at the -100 dB floor.
    assert bench.lsd(ref, est, SR, 5000, SR / 2) == pytest.approx(52, abs=2)


def test_low_band_snr_sees_only_changes_below_the_cutoff(bench):
    x = bench.degrade(_noise(), SR, 16000)
    assert math.isinf(bench.low_band_snr(x, x, SR, 7500))
    hiss = 0.1 * bench.degrade(_noise()[::-1].copy(), SR, 16000)  # 20 dB under x, same band
    assert bench.low_band_snr(x, x + hiss, SR, 7500) == pytest.approx(20, abs=0.5)


def test_round_robin_interleaves_groups(bench):
    rows = [{"group": g, "i": i} for g, n in (("a", 3), ("b", 1), ("c", 2)) for i in range(n)]
    assert [(r["group"], r["i"]) for r in bench._round_robin(rows)] == \
        [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("c", 1), ("a", 2)]


def test_methods_keep_the_registry_contract(bench):
    x = bench.degrade(_noise(), SR, 16000)
    for name, fn in bench.METHODS.items():
        out = fn(x, SR, 7600)
        assert out.shape == x.shape, name
    bench.register("ours", lambda audio, sr, cutoff: audio)
    assert "ours" in bench.METHODS
