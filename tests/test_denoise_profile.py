"""The de-noise-profile node: learned/loaded noise profiles and spectral subtraction."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from restora.dsp.noise_profile import ProfileError, learn_profile, load_profile, save_profile
from restora.errors import UsageError
from restora.graph.node import ParameterError
from restora.graph.nodes_denoise_profile import NoiseProfileNode
from tests.invariance import run_node_in_blocks

LEAD_S = 1.0  # noise-only lead-in the profile is learned from


def speech_like(sr: int, seconds: float = 3.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(clean, pink noise) float64 [n]: a 150 Hz harmonic tone with vibrato and a syllable-rate envelope,
    silent for the first LEAD_S s, and pink noise of equal power over the rest (0 dB SNR)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    phase = 2 * np.pi * np.cumsum(150 * (1 + 0.03 * np.sin(2 * np.pi * 4 * t))) / sr
    clean = sum(np.sin(k * phase) / k for k in range(1, 21) if 150 * k < 0.45 * sr)
    clean = clean * (0.3 + 0.7 * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2)
    clean[: int(LEAD_S * sr)] = 0
    # Paul Kellet's -3 dB/octave filter: pink noise from white.
    pink = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                   [1, -2.494956002, 2.017265875, -0.522189400], rng.standard_normal(n))
    pink *= np.sqrt(np.mean(clean[int(LEAD_S * sr):] ** 2) / np.mean(pink ** 2))
    return clean, pink


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((ref - est) ** 2)))


def run(audio: np.ndarray, sr: int, block: int = 4096, **params) -> np.ndarray:
    return run_node_in_blocks(lambda: NoiseProfileNode(**params), audio, sr, block)["main"]


@pytest.mark.parametrize("sr", [16000, 44100, 48000])
def test_sdr_improves_at_0db_snr(sr):
    clean, noise = speech_like(sr)
    x = (clean + noise)[:, None].astype(np.float32)
    y = run(x, sr, learn_end_s=LEAD_S)
    assert y.shape == x.shape
    body = slice(int(LEAD_S * sr), None)
    before, after = sdr(clean[body], x[body, 0]), sdr(clean[body], y[body, 0])
    assert abs(before) < 0.5
    assert after - before >= 6.0, (before, after)  # measured 7.0 (16 kHz), 8.1 (44.1 kHz), 8.0 (48 kHz) dB
    # In the noise-only lead-in the noise drops by at least 15 dB (the floor is 20 dB; measured 17.5-18.5 dB).
    lead = slice(int(0.2 * sr), int(LEAD_S * sr))
    assert 10 * np.log10(np.mean(x[lead] ** 2) / np.mean(y[lead] ** 2)) >= 15.0


def test_clean_input_with_silent_profile_is_untouched(tmp_path):
    sr = 48000
    clean, _ = speech_like(sr)
    silence = learn_profile(np.zeros((sr, 1), np.float32), sr)
    path = tmp_path / "silence.json"
    save_profile(silence, path)
    x = clean[:, None].astype(np.float32)
    y = run(x, sr, profile=str(path))
    assert np.max(np.abs(y - x)) < 1e-4  # the STFT round trip only


def test_save_load_round_trip_gives_identical_output(tmp_path):
    sr = 16000
    clean, noise = speech_like(sr, 2.0)
    x = np.stack([clean + noise, clean + 0.5 * noise], axis=1).astype(np.float32)
    path = tmp_path / "noise.json"
    learned = run(x, sr, learn_end_s=LEAD_S, save_profile=str(path))
    profile = load_profile(path, sr)
    assert profile.n_fft == 512 and profile.hop == 128 and profile.power.shape == (257,)
    loaded = run(x, sr, profile=str(path))
    np.testing.assert_array_equal(learned, loaded)


def test_bad_profile_files(tmp_path):
    with pytest.raises(ProfileError, match="does not exist"):
        NoiseProfileNode(profile=str(tmp_path / "missing.json")).start(48000, 1)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match="not readable JSON"):
        load_profile(bad)
    good = tmp_path / "good.json"
    save_profile(learn_profile(np.ones((2048, 1), np.float32), 48000), good)
    data = json.loads(good.read_text())
    with pytest.raises(ProfileError, match="learned at 48000 Hz"):
        load_profile(good, 16000)
    data["power"] = data["power"][:-3]
    bad.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="corrupt"):
        load_profile(bad)
    bad.write_text(json.dumps({"something": 1}))
    with pytest.raises(ProfileError, match="not a Restora noise profile"):
        load_profile(bad)
    assert issubclass(ProfileError, UsageError)


@pytest.mark.parametrize("channels", [1, 2])
def test_block_size_invariance(channels):
    sr = 16000
    clean, noise = speech_like(sr, 2.0)
    x = np.repeat((clean + noise)[:, None], channels, axis=1).astype(np.float32)
    if channels == 2:
        x[:, 1] *= 0.5
    reference = run(x, sr, block=len(x), learn_end_s=LEAD_S)
    for block in (1000, [1, 333, 7919]):
        # Equal up to float rounding of batched FFTs (a few ulp).
        np.testing.assert_allclose(run(x, sr, block=block, learn_end_s=LEAD_S), reference, rtol=0, atol=1e-6)


def test_silence_and_learning_range_inside_stream():
    sr = 16000
    x = np.zeros((2 * sr, 2), np.float32)
    y = run(x, sr, learn_start_s=0.5, learn_end_s=1.5)
    assert y.shape == x.shape and not np.any(y)


def test_input_shorter_than_learning_range():
    sr = 16000
    noise = np.random.default_rng(0).standard_normal((int(0.5 * sr), 1)).astype(np.float32) * 0.1
    y = run(noise, sr, learn_end_s=2.0)  # 0.5 s of the 2 s range: used, with a warning
    assert y.shape == noise.shape and np.mean(y ** 2) < 0.3 * np.mean(noise ** 2)
    with pytest.raises(UsageError, match="input ends at 0.050 s"):
        run(noise[: sr // 20], sr, learn_end_s=2.0)
    with pytest.raises(UsageError, match="input ends"):
        run(noise, sr, learn_start_s=1.0, learn_end_s=2.0)


def test_absurd_parameters():
    for params in ({"learn_start_s": 2.0, "learn_end_s": 1.0}, {"learn_start_s": 0.0, "learn_end_s": 90.0},
                   {"learn_end_s": 500.0}, {"reduction_db": -3}, {"oversubtraction": 100},
                   {"smoothing": 1.0}, {"reduction_db": float("nan")}, {"nonsense": 1}):
        with pytest.raises(ParameterError):
            NoiseProfileNode(**params)
    NoiseProfileNode(learn_start_s=2.0, learn_end_s=1.0, profile="x.json")  # a profile makes the range moot


def test_cli_learn_noise(tmp_path):
    from restora.cli.main import main

    sr = 16000
    clean, noise = speech_like(sr, 2.0)
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, (clean + noise).astype(np.float32), sr, subtype="FLOAT")
    assert main(["process", str(src), "-o", str(out), "--preset", "de-noise-profile",
                 "--learn-noise", "0-1", "--report", str(tmp_path / "r.json")]) == 0
    y, rate = sf.read(out, dtype="float32")
    assert rate == sr and len(y) == len(clean)
    assert sdr(clean[sr:], y[sr:]) - sdr(clean[sr:], (clean + noise)[sr:]) >= 5.0  # measured 6.7 dB
    assert main(["process", str(src), "-o", str(tmp_path / "o2.wav"), "--preset", "de-noise-profile",
                 "--learn-noise", "zero-one"]) == 2
    assert main(["process", str(src), "-o", str(tmp_path / "o3.wav"), "--preset", "denoise-light",
                 "--learn-noise", "0-1"]) == 2


def test_empty_stream_with_a_profile(tmp_path):
    path = tmp_path / "p.json"
    save_profile(learn_profile(np.ones((512, 1), np.float32), 16000), path)
    assert run(np.zeros((0, 2), np.float32), 16000, profile=str(path)).shape == (0, 2)


def test_a_preview_segment_learns_from_the_file_range_not_its_own_start(tmp_path):
    """The GUI previews from the playhead: fix_learning_ranges gives the node the profile of the file's range."""
    from restora.graph.file_job import process_array
    from restora.graph.nodes_denoise_profile import fix_learning_ranges
    from restora.graph.preset import preset_from_dict

    sr = 16000
    clean, noise = speech_like(sr, seconds=4.0)
    x = (clean + noise).astype(np.float32)[:, None]
    preset = preset_from_dict({"restora_preset": 1, "name": "dn", "nodes": [
        {"id": "dn", "type": "de-noise-profile", "input": "input", "params": {"learn_end_s": 1.0}}],
        "outputs": {"main": "dn"}}, "test")
    fixed = fix_learning_ranges(preset, lambda a, b: x[a:b], sr, tmp_path)
    path = fixed.node("dn").params["profile"]
    np.testing.assert_array_equal(load_profile(path).power, learn_profile(x[:sr], sr).power)
    full = process_array(preset, x, sr)[0]["main"]
    start, settle = int(1.5 * sr), int(0.5 * sr)
    segment = x[start:]
    with_fix = process_array(fixed, segment, sr)[0]["main"]
    without = process_array(preset, segment, sr)[0]["main"]  # learns from 1.5-2.5 s, where there is speech
    err_fixed = np.abs(with_fix[settle:] - full[start + settle:]).max()
    err_unfixed = np.abs(without[settle:] - full[start + settle:]).max()
    assert err_fixed < 0.05 * err_unfixed, (err_fixed, err_unfixed)
    bypassed = preset.with_overrides(["dn.bypass=true"])
    assert fix_learning_ranges(bypassed, lambda a, b: x[a:b], sr, tmp_path) is bypassed
