"""De-clip node: hard clip level or soft-clipping knee found, clipped runs rebuilt, everything else exactly unchanged,
block-size invariance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from invariance import assert_block_invariant, run_node_measured
from restora.dsp.declip import peak_histogram
from restora.graph.node import ParameterError
from restora.graph.nodes_declip import DeclipNode

PRESET = Path(__file__).resolve().parents[1] / "resources" / "presets" / "de-clip.json"


def tones(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Five tones (80 Hz..2 kHz) with slow amplitude swings over a -60 dB noise floor; peak 0.9, [frames]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = 1e-3 * rng.standard_normal(len(t))
    for f in rng.uniform(80, 2000, 5):
        env = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.3, 2) * t + rng.uniform(0, 6))
        x += rng.uniform(0.3, 1.0) * env * np.sin(2 * np.pi * f * t + rng.uniform(0, 6))
    return 0.9 * x / np.max(np.abs(x))


def ar_noise(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Noise through two resonators (300 and 900 Hz, 60 Hz wide): an AR(4) process; peak 0.9, [frames]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(sr * seconds))
    for f in (300, 900):
        r = np.exp(-np.pi * 60 / sr)
        x = signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], x)
    return 0.9 * x / np.max(np.abs(x))


def hard_clip(x: np.ndarray, fraction: float) -> tuple[np.ndarray, float]:
    """``x`` clipped at ``fraction`` of its peak; returns (clipped, level)."""
    level = float(np.float32(fraction * np.max(np.abs(x))))
    return np.clip(x, -level, level), level


def soft_clip(x: np.ndarray, fraction: float) -> tuple[np.ndarray, float]:
    """``L tanh(x / L)`` with ``L`` = ``fraction`` of the peak of ``x`` (a soft, pre-gain clip); returns (clipped,
    L). Where ``|x| > L`` the output has lost 24 % or more."""
    level = fraction * float(np.max(np.abs(x)))
    return level * np.tanh(x / level), level


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Signal-to-distortion ratio (dB) of ``est`` against ``ref``."""
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - est) ** 2), 1e-30)))


def run(audio: np.ndarray, sr: int, block: int = 10000, **params) -> tuple[np.ndarray, dict]:
    """The node's main output [frames, channels] (float64) and its measurements by name."""
    audio = audio[:, None] if audio.ndim == 1 else audio
    outs, meas = run_node_measured(lambda: DeclipNode(**params), audio.astype(np.float32), sr, block)
    return outs["main"].astype(np.float64), {m[0]: m[1] for m in meas}


# (signal, rate, least overall SDR gain, least SDR gain on the clipped samples), hard clip at 30 % of the peak;
# measured overall/clipped: tones 47.7/47.6 (8 kHz), 32.0/32.0 (44.1 kHz), 12.5/12.6 (48 kHz);
# AR noise 11.4/11.4 (8 kHz), 22.4/22.4 (44.1 kHz), 22.3/22.2 (48 kHz).
HARD = [(tones, 8000, 30.0, 30.0), (tones, 44100, 20.0, 20.0), (tones, 48000, 10.0, 10.0),
        (ar_noise, 8000, 8.0, 8.0), (ar_noise, 44100, 15.0, 15.0), (ar_noise, 48000, 15.0, 15.0)]


@pytest.mark.parametrize("make,sr,gain,region_gain", HARD, ids=lambda v: getattr(v, "__name__", str(v)))
def test_hard_clipping_repaired(make, sr, gain, region_gain):
    clean = make(sr, 1.0)
    clipped, level = hard_clip(clean, 0.3)
    out, meas = run(clipped, sr)
    y = out[:, 0]
    assert meas["clip_level"] == pytest.approx(level, abs=1e-6)
    assert meas["clip_level_dbfs"] == pytest.approx(20 * np.log10(level), abs=1e-4)
    assert meas["clip_kind"] == 1 and meas["soft_knee"] is None
    rebuilt = np.abs(clipped.astype(np.float32)) >= level * 0.98       # default threshold 0.02
    assert meas["clipped_samples"] == rebuilt.sum()
    assert np.array_equal(y[~rebuilt], clipped.astype(np.float32)[~rebuilt])    # everything else exact
    assert np.all(np.abs(y[rebuilt]) >= np.abs(clipped.astype(np.float32)[rebuilt]))  # never inside the clip
    assert sdr(clean, y) >= sdr(clean, clipped) + gain
    assert sdr(clean[rebuilt], y[rebuilt]) >= sdr(clean[rebuilt], clipped[rebuilt]) + region_gain


def test_pre_gain_clipping_with_ripple_is_detected():
    # Clipped at 0.5, then 0.8 gain and a -74 dB noise: a plateau at 0.4, below full scale and not flat.
    sr = 44100
    clean = 0.8 * tones(sr, 1.0)
    clipped = 0.8 * np.clip(clean / 0.8, -0.5, 0.5) + 2e-4 * np.random.default_rng(0).standard_normal(sr)
    out, meas = run(clipped, sr)
    assert meas["clip_level"] == pytest.approx(0.4, abs=0.002)
    assert meas["clipped_samples"] > 1000
    assert sdr(clean, out[:, 0]) >= sdr(clean, clipped) + 30    # measured 39 dB


@pytest.mark.parametrize("sr,gain", [(8000, 6.0), (44100, 1.0)])
def test_soft_clipping_with_given_level(sr, gain):
    # tanh saturation at 30 % of the peak does not pile up at one level: the level is given and the
    # threshold widened. Measured gains: 9.6 dB (8 kHz), 1.9 dB (44.1 kHz).
    clean = tones(sr, 1.0)
    knee = 0.3 * np.max(np.abs(clean))
    clipped = knee * np.tanh(clean / knee)
    out, meas = run(clipped, sr, clip_level=knee, threshold=0.3)
    assert sdr(clean, out[:, 0]) >= sdr(clean, clipped) + gain
    untouched = np.abs(clipped.astype(np.float32)) < np.float32(knee * 0.7)
    assert np.array_equal(out[untouched, 0], clipped.astype(np.float32)[untouched])


# (signal, rate, tanh level as a fraction of the peak, least SDR gain on the affected samples (|clean| > L), least
# overall gain); measured affected/overall: tones 8 kHz 30 % 17.8/16.7, tones 44.1 kHz 30 % 5.4/5.2, AR noise 8 kHz
# 30 % 3.9/3.7; the milder 50 %: tones 44.1 kHz 1.3/1.0, AR noise 8 kHz 5.6/4.9.
SOFT = [(tones, 8000, 0.3, 15.0, 14.0), (tones, 44100, 0.3, 4.0, 4.0), (ar_noise, 8000, 0.3, 3.0, 3.0),
        (tones, 44100, 0.5, 1.0, 0.7), (ar_noise, 8000, 0.5, 4.5, 4.0)]


@pytest.mark.parametrize("make,sr,fraction,region_gain,gain", SOFT, ids=lambda v: getattr(v, "__name__", str(v)))
def test_soft_clipping_detected_and_repaired(make, sr, fraction, region_gain, gain):
    clean = make(sr, 1.0)
    clipped, level = soft_clip(clean, fraction)
    x = clipped.astype(np.float32)
    out, meas = run(clipped, sr)
    y = out[:, 0]
    assert meas["clip_kind"] == 2
    half = 0.5 * min(x.max(), -x.min())                 # the knee: half the peak of each polarity
    assert meas["soft_knee"] == pytest.approx(half, rel=1e-6)
    assert meas["clip_level"] == pytest.approx(2 * half, rel=1e-6)
    untouched = np.abs(x) < half
    assert np.array_equal(y[untouched], x[untouched])
    assert np.all(np.abs(y) >= np.abs(x)) and np.all(np.sign(y) == np.sign(x))
    assert meas["clipped_samples"] > 0.2 * sr
    affected = np.abs(clean) > level
    assert sdr(clean[affected], y[affected]) >= sdr(clean[affected], clipped[affected]) + region_gain
    assert sdr(clean, y) >= sdr(clean, clipped) + gain


def test_peak_histogram_counts_a_stream_in_pieces():
    # Two samples carried over from the piece before make the counts exactly those of the whole signal.
    x, _ = soft_clip(tones(8000, 1.0), 0.3)
    whole = peak_histogram(x)
    cuts = [0, 1, 2, 777, 778, 4000, len(x)]
    pieces = sum(peak_histogram(x[max(a - 2, 0):b]) for a, b in zip(cuts[:-1], cuts[1:]))
    assert np.array_equal(pieces, whole) and whole.sum() > 1000


@pytest.mark.parametrize("name", ["tones", "ar_noise", "sine", "harmonics", "noise", "quiet"])
@pytest.mark.parametrize("sr", [8000, 48000])
def test_clean_input_untouched(name, sr):
    t = np.arange(sr) / sr
    audio = {"tones": lambda: tones(sr, 1.0, seed=5), "ar_noise": lambda: ar_noise(sr, 1.0, seed=5),
             "sine": lambda: np.sin(2 * np.pi * 440 * t) * 0.999,        # the most peaked natural histogram
             # a steady periodic waveform (8 harmonics of 110 Hz, amplitudes 1/k): its maxima lie at a few levels
             "harmonics": lambda: 0.3 * sum(np.sin(2 * np.pi * 110 * k * t + k * k) / k for k in range(1, 9)),
             "noise": lambda: 0.2 * np.random.default_rng(5).standard_normal(sr),
             "quiet": lambda: 1e-4 * tones(sr, 1.0)}[name]()
    out, meas = run(audio, sr)
    assert np.array_equal(out[:, 0], audio.astype(np.float32))
    assert meas["clipped_samples"] == 0 and meas["clip_level"] is None
    assert meas["clip_kind"] == 0 and meas["soft_knee"] is None


@pytest.mark.parametrize("clip", [hard_clip, soft_clip])
def test_block_size_invariance_stereo(clip):
    sr = 44100
    left, _ = clip(tones(sr, 0.6), 0.4)
    right, _ = hard_clip(ar_noise(sr, 0.6), 0.5)
    audio = np.stack([left, right], axis=1).astype(np.float32)
    assert_block_invariant(DeclipNode, audio, sr, block_sizes_s=(), atol=0.0, block_frames=(1, 1000, 44100, 4799))
    _, meas = run(audio, sr)
    assert meas["clip_kind"] == (1 if clip is hard_clip else 3)


def test_stereo_channels_have_their_own_levels():
    sr = 48000
    clean = np.stack([tones(sr, 1.0), ar_noise(sr, 1.0)], axis=1)
    left, level = hard_clip(clean[:, 0], 0.5)
    audio = np.stack([left, clean[:, 1]], axis=1)
    out, meas = run(audio, sr)
    assert np.array_equal(out[:, 1], clean[:, 1].astype(np.float32))
    assert meas["clip_level"] == pytest.approx(level, abs=1e-6)
    assert sdr(clean[:, 0], out[:, 0]) >= sdr(clean[:, 0], left) + 10


def test_silence_and_short_input():
    sr = 44100
    out, meas = run(np.zeros((sr, 2)), sr)
    assert out.shape == (sr, 2) and not out.any() and meas["clipped_samples"] == 0 and meas["clip_level"] is None
    for frames in (1, 10, 300):
        x, _ = hard_clip(np.sin(np.arange(frames) * 0.3)[:, None], 0.5)
        out, _ = run(x, sr, block=7)
        assert out.shape == x.shape and np.isfinite(out).all()
    out, meas = run(np.zeros((0, 1)), sr)
    assert out.shape == (0, 1) and meas["clipped_samples"] == 0


@pytest.mark.parametrize("params", [{"clip_level": -0.5}, {"clip_level": 100}, {"threshold": 0.9},
                                    {"threshold": -0.01}, {"max_run_ms": 0}, {"max_run_ms": 1e4},
                                    {"clip_level": float("inf")}, {"level": 0.5}])
def test_absurd_parameters_rejected(params):
    with pytest.raises(ParameterError):
        DeclipNode(**params)


def test_preset_runs_in_the_graph():
    from restora.graph.file_job import process_array
    from restora.graph.preset import preset_from_dict

    preset = preset_from_dict(json.loads(PRESET.read_text()), str(PRESET))
    sr = 44100
    clean = tones(sr, 1.0)
    clipped, level = hard_clip(clean, 0.5)
    outputs, measurements = process_array(preset, np.stack([clipped, clipped], axis=1), sr)
    main = outputs["main"]
    assert main.shape == (sr, 2)
    assert sdr(clean, main[:, 0]) >= sdr(clean, clipped) + 10
    found = {m.name: m.value for ms in measurements.values() for m in ms}
    assert found["clip_level"] == pytest.approx(level, abs=1e-6)
