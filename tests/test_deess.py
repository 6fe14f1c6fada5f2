"""De-ess node: burst reduction, untouched voice, exact split, streaming contract, parameters.

Figures asserted (measured values in brackets):
- 6-8 kHz noise bursts 3 dB above a 150 Hz harmonic "voice": burst-band energy during bursts reduced by
  >= 9 dB with the default 12 dB maximum [11.6 dB at 44.1/48 kHz, 9.8 dB at 16 kHz where the band ends at 7.2 kHz];
- voice-only segments (from 150 ms after each burst): waveform SNR >= 60 dB [~100 dB: float32 rounding];
- max_reduction_db = 6: burst band down 4.5-6.2 dB [5.95 dB];
- main + sibilance == input to float32 rounding (<= 1e-6); clean voice: main == input to 1e-6, sibilance silent;
- blocks of 1, 1000, 44100 frames give the same outputs (<= 1e-6).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from invariance import assert_block_invariant_measured, run_node_measured
from restora.graph.node import ParameterError
from restora.graph.nodes_deess import DeessNode

PRESET = Path(__file__).resolve().parents[1] / "resources" / "presets" / "de-ess.json"
BURSTS_S = (0.5, 1.5, 2.5)
BURST_LEN_S = 0.25


def _level_db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-30)


def _voice(sr, seconds=3.0):
    """A 150 Hz harmonic tone (harmonics up to 1.5 kHz, falling 6 dB/octave), [frames] float64.

    It fades in over 10 ms: a waveform starting at full level is a broadband click, which is de-essed.
    """
    t = np.arange(int(sr * seconds)) / sr
    return np.minimum(t / 0.01, 1.0) * sum(0.3 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 11))


def _burst_band(sr):
    return signal.butter(6, [6000, min(8000, 0.45 * sr)], "bandpass", fs=sr, output="sos")


def _sibilant_voice(sr, seconds=3.0, channels=2):
    """(audio [frames, channels] float32, burst mask [frames]): the voice with 6-8 kHz noise bursts."""
    n = int(sr * seconds)
    mask = np.zeros(n, bool)
    for start in BURSTS_S:
        mask[int(start * sr): int((start + BURST_LEN_S) * sr)] = True
    burst = signal.sosfilt(_burst_band(sr), np.random.default_rng(2).standard_normal(n)) * mask
    burst *= 0.3 / np.sqrt(np.mean(burst[mask] ** 2))
    chans = [_voice(sr, seconds) + burst * (1.0 - 0.2 * c) for c in range(channels)]
    return np.stack(chans, axis=1).astype(np.float32), mask


def _run(audio, sr, block=4096, **params):
    outs, meas = run_node_measured(lambda: DeessNode(**params), audio, sr, block)
    return outs, {m[0]: m[1] for m in meas}


def _voice_only(mask, sr):
    """Frames away from every burst by at least 150 ms (the release has ended)."""
    spread = np.convolve(mask.astype(float), np.ones(int(0.15 * sr)), "full")[: len(mask)] > 0
    return ~spread


@pytest.mark.parametrize("sr,min_reduction", [(16000, 9.0), (44100, 11.0), (48000, 11.0)])
def test_bursts_reduced_voice_kept(sr, min_reduction):
    x, mask = _sibilant_voice(sr)
    outs, meas = _run(x, sr)
    y = outs["main"]
    band = _burst_band(sr)
    for c in range(2):
        before = signal.sosfilt(band, x[:, c].astype(np.float64))[mask]
        after = signal.sosfilt(band, y[:, c].astype(np.float64))[mask]
        assert _level_db(before) - _level_db(after) >= min_reduction
    keep = _voice_only(mask, sr)
    snr = _level_db(x[keep]) - _level_db(y[keep].astype(np.float64) - x[keep])
    assert snr >= 60.0
    assert meas["max_reduction_db"] == pytest.approx(12.0, abs=0.1)
    np.testing.assert_allclose(outs["main"] + outs["sibilance"], x, atol=1e-6)


def test_max_reduction_bounds_the_cut():
    sr = 44100
    x, mask = _sibilant_voice(sr)
    outs, meas = _run(x, sr, max_reduction_db=6.0)
    band = _burst_band(sr)
    drop = _level_db(signal.sosfilt(band, x[:, 0])[mask]) - _level_db(signal.sosfilt(band, outs["main"][:, 0])[mask])
    assert 4.5 <= drop <= 6.2 and meas["max_reduction_db"] <= 6.0 + 1e-9


def test_sibilance_port_is_the_removed_band():
    sr = 48000
    x, mask = _sibilant_voice(sr)
    outs, _ = _run(x, sr)
    sib = outs["sibilance"][:, 0].astype(np.float64)
    # What was removed lies in the sibilant band and during the bursts (plus their release).
    assert _level_db(sib[mask]) > -25.0
    keep = _voice_only(mask, sr)
    assert _level_db(sib[keep]) <= _level_db(x[keep]) - 50.0
    spectrum = np.abs(np.fft.rfft(sib)) ** 2
    freqs = np.fft.rfftfreq(len(sib), 1 / sr)
    assert spectrum[(freqs > 4000) & (freqs < 10000)].sum() >= 0.99 * spectrum.sum()


@pytest.mark.parametrize("sr", [16000, 44100, 48000])
def test_clean_voice_untouched(sr):
    x = np.repeat(_voice(sr)[:, None], 2, axis=1).astype(np.float32)
    outs, meas = _run(x, sr)
    np.testing.assert_allclose(outs["main"], x, atol=1e-6)
    assert not np.any(outs["sibilance"]) and meas["max_reduction_db"] == 0.0


def test_block_size_invariance():
    sr = 44100
    x, _ = _sibilant_voice(sr, seconds=0.7)  # the first burst starts at 0.5 s
    assert_block_invariant_measured(DeessNode, x, sr, block_sizes_s=(), atol=1e-6, block_frames=(1, 1000, 44100))


def test_mono():
    sr = 44100
    x, mask = _sibilant_voice(sr, channels=1)
    outs, _ = _run(x, sr)
    band = _burst_band(sr)
    drop = _level_db(signal.sosfilt(band, x[:, 0])[mask]) - _level_db(signal.sosfilt(band, outs["main"][:, 0])[mask])
    assert drop >= 11.0 and outs["main"].shape == x.shape


def test_band_clamped_below_nyquist():
    # At 8 kHz a 4-10 kHz band is clamped to 3.6 kHz and nothing is left: the node passes through.
    x = np.random.default_rng(3).standard_normal((8000, 2)).astype(np.float32) * 0.3
    outs, _ = _run(x, 8000)
    np.testing.assert_array_equal(outs["main"], x)
    assert not np.any(outs["sibilance"])
    outs, _ = _run(x, 8000, low_hz=2000, high_hz=20000)  # clamped to 2-3.6 kHz: still works
    np.testing.assert_allclose(outs["main"] + outs["sibilance"], x, atol=1e-6)
    assert np.any(outs["sibilance"])


def test_silence_and_short_input():
    sr = 44100
    outs, meas = _run(np.zeros((sr, 2), np.float32), sr)
    assert meas["max_reduction_db"] == 0.0
    assert outs["main"].shape == (sr, 2) and not np.any(outs["main"]) and not np.any(outs["sibilance"])
    for frames in (0, 1, 10, 100):
        x = np.random.default_rng(frames).standard_normal((frames, 2)).astype(np.float32) * 0.1
        outs, _ = _run(x, sr, block=7)
        assert outs["main"].shape == x.shape and outs["sibilance"].shape == x.shape
        np.testing.assert_allclose(outs["main"] + outs["sibilance"], x, atol=1e-6)


@pytest.mark.parametrize("params", [
    {"low_hz": 100}, {"high_hz": 50000}, {"low_hz": 8000, "high_hz": 6000}, {"threshold_db": 10},
    {"max_reduction_db": -3}, {"max_reduction_db": 100}, {"attack_ms": 0}, {"release_ms": 1e6},
    {"threshold_db": float("inf")}, {"low_hz": "high"}, {"bogus": 1},
])
def test_absurd_parameters_rejected(params):
    with pytest.raises(ParameterError):
        DeessNode(**params)


def test_preset_runs_through_the_graph():
    from restora.graph.file_job import process_array
    from restora.graph.preset import preset_from_dict

    preset = preset_from_dict(json.loads(PRESET.read_text()), str(PRESET))
    sr = 48000
    x, mask = _sibilant_voice(sr)
    outputs, _ = process_array(preset, x, sr)
    assert outputs["main"].shape == x.shape
    band = _burst_band(sr)
    drop = _level_db(signal.sosfilt(band, x[:, 0])[mask]) - _level_db(signal.sosfilt(band, outputs["main"][:, 0])[mask])
    assert drop >= 6.0
