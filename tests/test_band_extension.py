"""Spectral-translation bandwidth extension (the DSP baseline of issue 7)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from restora.dsp.band_extension import HOP, N_FFT, FoldingExtender, extend_band
from restora.dsp.stft import SpectralProcessor, stft

SR = 44100


def _pinkish(seconds=4.0, channels=1, seed=0):
    """Noise falling 3 dB/octave, [frames, channels] at SR, peak 0.5."""
    n = int(SR * seconds)
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal((n, channels)), axis=0)
    spec /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0))[:, None]
    x = np.fft.irfft(spec, n, axis=0)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def _brickwall(x, cutoff):
    return signal.sosfilt(signal.ellip(12, 0.1, 100, cutoff, fs=SR, output="sos"), x, axis=0).astype(np.float32)


def _band_db(x, lo, hi):
    """Mean power in dB of the STFT bins in [lo, hi) Hz."""
    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    spec = stft(x, N_FFT, HOP)
    return 10 * np.log10(np.mean(np.abs(spec[:, (freqs >= lo) & (freqs < hi)]) ** 2) + 1e-30)


def _low_band_snr(x, y, cutoff):
    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    low = freqs < cutoff
    ref, out = stft(x, N_FFT, HOP)[:, low], stft(y, N_FFT, HOP)[:, low]
    return 10 * np.log10(np.sum(np.abs(ref) ** 2) / np.sum(np.abs(out - ref) ** 2))


@pytest.mark.parametrize("cutoff", [4000, 8000, 11025, 16000])
def test_band_below_the_cutoff_is_kept(cutoff):
    x = _brickwall(_pinkish(channels=2), cutoff)
    y = extend_band(x, SR, cutoff)
    assert y.shape == x.shape and y.dtype == np.float32
    assert _low_band_snr(x, y, cutoff) >= 40.0


@pytest.mark.parametrize("cutoff", [4000, 8000])
def test_empty_band_is_filled_near_the_original_level(cutoff):
    original = _pinkish()
    degraded = _brickwall(original, cutoff)
    restored = extend_band(degraded, SR)  # cut-off measured
    lo, hi = cutoff * 1.05, cutoff * 2
    assert _band_db(degraded, lo, hi) < _band_db(original, lo, hi) - 40
    assert abs(_band_db(restored, lo, hi) - _band_db(original, lo, hi)) < 6.0


def test_full_band_and_silent_inputs_pass_through_unchanged():
    x = _pinkish(2.0, channels=2)
    np.testing.assert_array_equal(extend_band(x, SR), x)
    silent = np.zeros((SR, 2), np.float32)
    np.testing.assert_array_equal(extend_band(silent, SR), silent)


def test_channels_are_independent_and_mono_keeps_its_shape():
    x = _brickwall(_pinkish(2.0), 6000)
    stereo = np.concatenate([x, np.zeros_like(x)], axis=1)
    y = extend_band(stereo, SR, 6000)
    assert np.all(y[:, 1] == 0)
    mono = extend_band(x[:, 0], SR, 6000)
    assert mono.shape == (len(x),)
    np.testing.assert_allclose(mono, y[:, 0], atol=1e-6)


def test_generated_band_follows_the_input_in_time():
    # Band-limited noise for 1 s, then silence: nothing may be generated in the silence.
    x = _brickwall(_pinkish(1.0), 5000)
    x = np.concatenate([x, np.zeros((SR, 1), np.float32)])
    y = extend_band(x, SR, 5000)
    assert _band_db(y[: SR], 6000, 12000) > _band_db(x[: SR], 6000, 12000) + 30
    assert np.max(np.abs(y[SR + N_FFT:])) == 0.0


def test_streaming_extender_matches_whole_signal():
    x = _brickwall(_pinkish(2.0, channels=2), 8000)
    slope = -9.0
    proc = SpectralProcessor(N_FFT, HOP, fn=FoldingExtender(SR, 8000, slope))
    blocks = [proc.process(x[i:i + 3000]) for i in range(0, len(x), 3000)] + [proc.finish()]
    streamed = np.concatenate(blocks)
    whole = SpectralProcessor(N_FFT, HOP, fn=FoldingExtender(SR, 8000, slope))
    np.testing.assert_allclose(streamed, np.concatenate([whole.process(x), whole.finish()]), atol=1e-6)
    assert _band_db(streamed, 9000, 16000) > _band_db(x, 9000, 16000) + 30


def test_too_low_cutoff_is_rejected():
    with pytest.raises(ValueError):
        FoldingExtender(SR, 30.0, -6.0)

