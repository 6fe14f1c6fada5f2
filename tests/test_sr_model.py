"""The shipped super-resolution model (``sr-extender``): installed, checksummed, and doing its job on a known case."""

import numpy as np
import pytest

from restora.dsp.stft import stft
from restora.graph.nodes_upscale import neural_band
from restora.models import sr_extender

SR = 48000
N_FFT, HOP = 2048, 512


def _bright_tone(seconds=3.0):
    """A 220 Hz sawtooth-like tone (harmonics at 1/k up to 20 kHz) with a vibrato, plus noise 40 dB down."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * (220 * t + 3 * np.sin(2 * np.pi * 5 * t))
    x = sum(np.sin(k * phase) / k for k in range(1, 20000 // 220))
    x = x + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)[:, None]


def _lowpass(x, cutoff):
    spec = np.fft.rfft(x, axis=0)
    spec[np.fft.rfftfreq(len(x), 1 / SR) >= cutoff] = 0
    return np.fft.irfft(spec, len(x), axis=0).astype(np.float32)


def _power_db(x):
    return 10 * np.log10(np.abs(stft(x, N_FFT, HOP)[..., 0]) ** 2 + 1e-10)


def _band(lo, hi):
    f = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    return (f >= lo) & (f < hi)


@pytest.fixture(scope="module")
def model():
    return sr_extender.extender(1)


def test_shipped_model_restores_a_bright_tone_and_keeps_the_low_band(model):
    original = _bright_tone()
    degraded = _lowpass(original, 8000)
    generated = neural_band(model, degraded, SR, 8000.0)
    out = degraded + generated
    ref, deg, est = _power_db(original), _power_db(degraded), _power_db(out)
    high = _band(8500, 19000)
    lsd = {name: np.mean(np.sqrt(np.mean((ref[:, high] - p[:, high]) ** 2, axis=1))) for name, p in
           (("plain", deg), ("neural", est))}
    assert lsd["neural"] < 0.6 * lsd["plain"], lsd
    level = {name: 10 * np.log10(np.mean(10 ** (p[:, high] / 10))) for name, p in (("ref", ref), ("neural", est))}
    assert abs(level["neural"] - level["ref"]) < 6, level  # about as loud as the real band, not a blast
    low = _band(0, 7500)
    err = np.abs(stft(out, N_FFT, HOP)[:, low] - stft(degraded, N_FFT, HOP)[:, low]) ** 2
    snr = 10 * np.log10(np.sum(np.abs(stft(degraded, N_FFT, HOP)[:, low]) ** 2) / np.sum(err))
    assert snr >= 40


def test_shipped_model_adds_nothing_to_silence(model):
    assert not np.any(neural_band(model, np.zeros((SR, 1), np.float32), SR, 8000.0))
