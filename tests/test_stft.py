"""Spectral and rate building blocks: streaming STFT, resampler (bandwidth: test_bandwidth.py)."""

from __future__ import annotations

import numpy as np
import pytest

from restora.dsp.resample import StreamResampler, resample
from restora.dsp.stft import SpectralProcessor, StreamingISTFT, StreamingSTFT, istft, stft

COMBOS = [(512, 128, "hann"), (512, 256, "sqrt-hann"), (1024, 256, "vorbis"),
          (400, 160, "hamming"), (256, 100, np.hanning(256)), (64, 64, "boxcar")]
BLOCKS = (1, 7, 4799, 333, 2048)


def _in_blocks(fn, x, sizes=BLOCKS):
    out, start, k = [], 0, 0
    while start < len(x):
        size = sizes[k % len(sizes)]
        out.append(fn(x[start:start + size]))
        start, k = start + size, k + 1
    return out


@pytest.fixture
def noise():
    return np.random.default_rng(1).standard_normal((10007, 2))


@pytest.mark.parametrize("n_fft,hop,window", COMBOS)
def test_stft_reconstructs_exactly(noise, n_fft, hop, window):
    spec = stft(noise, n_fft, hop, window)
    assert spec.dtype == np.complex64 and spec.shape[1:] == (n_fft // 2 + 1, 2)
    np.testing.assert_allclose(istft(spec, n_fft, hop, window, len(noise)), noise, atol=1e-6)


@pytest.mark.parametrize("n_fft,hop,window", COMBOS)
def test_streaming_equals_whole_signal(noise, n_fft, hop, window):
    whole = stft(noise, n_fft, hop, window)
    analysis = StreamingSTFT(n_fft, hop, window)
    parts = _in_blocks(analysis.process, noise) + [analysis.finish()]
    np.testing.assert_array_equal(np.concatenate(parts), whole)

    proc = SpectralProcessor(n_fft, hop, window)
    out = np.concatenate(_in_blocks(proc.process, noise) + [proc.finish()])
    assert out.shape == noise.shape
    np.testing.assert_allclose(out, noise, atol=1e-6)


def test_mono_shapes_and_latency():
    x = np.random.default_rng(2).standard_normal(3000)
    spec = stft(x, 512, 128)
    assert spec.ndim == 2 and spec.shape[1] == 257
    proc = SpectralProcessor(512, 128)
    first = proc.process(x[:, None])
    assert len(first) == 3000 // 128 * 128 - (512 - 128)  # latency n_fft - hop + partial hop


def test_not_nola_rejected():
    with pytest.raises(ValueError):
        StreamingISTFT(8, 8, np.array([1, 1, 0, 0, 0, 0, 0, 0.0]))


# -- resampler ------------------------------------------------------------
RATES = [(44100, 48000), (48000, 44100), (48000, 16000), (22050, 48000), (16000, 16000)]


@pytest.mark.parametrize("rate_in,rate_out", RATES)
@pytest.mark.parametrize("frames", [1001, 4799, 48000])
def test_resampler_length_exact(rate_in, rate_out, frames):
    x = np.random.default_rng(3).standard_normal((frames, 2)).astype(np.float32)
    rs = StreamResampler(rate_in, rate_out, 2)
    y = np.concatenate(_in_blocks(rs.process, x, (1, 7, 480, 4799)) + [rs.finish()])
    assert len(y) == round(frames * rate_out / rate_in)
    np.testing.assert_allclose(y, resample(x, rate_in, rate_out), atol=1e-5)


@pytest.mark.parametrize("rate_in,rate_out", RATES)
def test_resampler_keeps_time_alignment(rate_in, rate_out):
    x = np.zeros((rate_in, 2), np.float32)
    at = int(0.4 * rate_in) + 3
    x[at] = 1.0
    y = resample(x, rate_in, rate_out, "VHQ")
    # The impulse's centre of energy around its peak, in output samples.
    peak = int(np.argmax(np.abs(y[:, 0])))
    seg = np.arange(peak - 20, peak + 21)
    centre = np.sum(seg * y[seg, 0] ** 2) / np.sum(y[seg, 0] ** 2)
    assert abs(centre - at * rate_out / rate_in) < 1.0


def test_resampler_rejects_bad_quality():
    with pytest.raises(ValueError):
        StreamResampler(44100, 48000, 1, quality="best")
