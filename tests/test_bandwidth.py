"""Effective-bandwidth estimate (``restora analyze``'s bandwidth_hz and the upscale cut-off)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from restora.dsp import audio_io
from restora.dsp.bandwidth import BandwidthEstimator, estimate_bandwidth
from restora.dsp.resample import resample

SR = 44100


def _noise(seconds=5.0, sr=SR, seed=4):
    return np.random.default_rng(seed).standard_normal((int(sr * seconds), 2)) * 0.1


def _pinkish(seconds=5.0, sr=SR, seed=5, exponent=1.0):
    """Noise with amplitude ~ 1/f**exponent (1: brown, -6 dB/octave; 0.5: pink), mono [frames]."""
    n = int(sr * seconds)
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spec /= np.maximum(np.fft.rfftfreq(n, 1 / sr), 20.0) ** exponent
    x = np.fft.irfft(spec, n)
    return 0.5 * x / np.abs(x).max()


def _brickwall(x, cutoff, sr=SR):
    """Elliptic 12th order: 0.1 dB ripple, -100 dB stop-band (an encoder's steep low-pass)."""
    return signal.sosfilt(signal.ellip(12, 0.1, 100, cutoff, fs=sr, output="sos"), x, axis=0)


def _butterworth(x, cutoff, order, sr=SR):
    return signal.sosfilt(signal.butter(order, cutoff, fs=sr, output="sos"), x, axis=0)


def _tone(freqs, seconds=3.0, sr=SR):
    """Sum of sines with 50 ms fades (an abrupt start would be a broadband click)."""
    t = np.arange(int(sr * seconds)) / sr
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)
    return 0.2 * fade * sum(np.sin(2 * np.pi * f * t) for f in freqs)


@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("cutoff", [3000, 4000, 8000, 11025, 16000, 20000])
def test_brickwall_lowpassed_noise_reads_the_cutoff(sr, cutoff):
    assert estimate_bandwidth(_brickwall(_noise(4.0, sr), cutoff, sr), sr) == pytest.approx(cutoff, rel=0.03)


@pytest.mark.parametrize("cutoff", [4000, 8000, 16000])
def test_gentle_butterworth_reads_between_its_3_and_40_db_points(cutoff):
    # 8th order: -3 dB at the cutoff, -40 dB at 1.78 x the cutoff.
    estimate = estimate_bandwidth(_butterworth(_noise(), cutoff, 8), SR)
    assert cutoff <= estimate <= 1.78 * cutoff


def test_gentle_butterworth_over_a_noise_floor_reads_where_content_meets_it():
    # 4th order at 4 kHz over a -60 dB white floor: the filter is 20 dB over the floor at ~16 kHz.
    x = _butterworth(_noise(), 4000, 4) + 0.1 * 10 ** (-60 / 20) * _noise(seed=9)
    assert 4000 < estimate_bandwidth(x, SR) < 17000


@pytest.mark.parametrize("freqs,expected", [([440], 440), ([1000], 1000), ([5000], 5000),
                                            ([15000], 15000), ([100, 1000, 7000], 7000)])
def test_tones_read_their_highest_frequency(freqs, expected):
    assert expected <= estimate_bandwidth(_tone(freqs), SR) <= 1.12 * expected


@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("low_rate", [8000, 16000, 22050])
def test_resampled_material_reads_the_low_rate_nyquist(sr, low_rate):
    x = resample(resample(_noise(4.0, sr).astype(np.float32), sr, low_rate), low_rate, sr)
    assert 0.9 * low_rate / 2 <= estimate_bandwidth(x, sr) <= low_rate / 2


def test_mp3_style_cutoff_of_music_like_spectrum():
    spec_cut = np.fft.rfft(_pinkish())
    spec_cut[np.fft.rfftfreq(SR * 5, 1 / SR) > 16000] = 0
    x = np.fft.irfft(spec_cut, SR * 5)
    assert estimate_bandwidth(x, SR) == pytest.approx(16000, rel=0.02)


def test_real_mp3_encode_reads_the_encoders_lowpass(tmp_path):
    # LAME at mid VBR quality low-passes near 16.5 kHz; full-band input must then
    # read that low-pass, not the file's Nyquist.
    path = tmp_path / "x.mp3"
    x = _noise(4.0)[:, :1].astype(np.float32)
    with audio_io.AudioWriter(path, SR, 1, quality=0.5) as w:
        w.write(x)
    decoded, rate = audio_io.read_all(path)
    assert estimate_bandwidth(x, SR) == SR / 2
    assert 14000 < estimate_bandwidth(decoded, rate) < 19000


def test_full_band_noise_reads_nyquist_and_tolerates_quiet_passages():
    assert estimate_bandwidth(_noise(), SR) == SR / 2
    assert estimate_bandwidth(_noise(sr=48000), 48000) == 24000
    # Sloping spectra with no empty region are full band too (the lowest bins are content, not a floor).
    assert estimate_bandwidth(_pinkish(exponent=0.5), SR) == SR / 2
    assert estimate_bandwidth(_pinkish(exponent=1.0), SR) == SR / 2
    # Loud band-limited music, then a long quiet full-band hiss (a fade-out, room tone): still the codec's edge.
    cut = _brickwall(_noise(), 16000)
    quiet = 1e-3 * _noise(10.0, seed=7)
    assert estimate_bandwidth(np.concatenate([cut, quiet]), SR) == pytest.approx(16000, rel=0.03)
    # Dither under a quiet band-limited passage is no content either.
    dither = np.random.default_rng(8).triangular(-1, 0, 1, cut.shape) / 32768
    assert estimate_bandwidth(0.01 * cut + dither, SR) == pytest.approx(16000, rel=0.03)


def test_silence_and_streaming():
    assert estimate_bandwidth(np.zeros((SR, 2)), SR) is None
    x = _brickwall(_noise(3.0), 8000)
    est = BandwidthEstimator(SR)
    start = 0
    for size in (1, 7, 4799, 333, 2048) * 40:
        est.process(x[start:start + size])
        start += size
    est.process(x[start:])
    assert est.finish() == estimate_bandwidth(x, SR)
