"""Spleeter separation runtime and the ``separate`` node, with fake models (no model files needed).

Audio is float32 ``[frames, channels]``; the fake models take ``mag`` float32
``[B, 2, T, 1024]`` and return ``(vocals_spec, accomp_spec)`` of that shape, as
the real ONNX model does.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from restora.graph.nodes_separate import SeparateNode
from restora.models.spleeter import HOP, SAMPLE_RATE, separate
from tests.invariance import assert_block_invariant, run_node_in_blocks

SR = SAMPLE_RATE


def constant_model(share: float = 0.3):
    """A fake model whose vocals get the same mask everywhere: ``share``² / (share² + (1-share)²)."""
    def run(mag):
        return mag * share, mag * (1.0 - share)
    mask = share ** 2 / (share ** 2 + (1.0 - share) ** 2)
    return run, mask


def context_model(mag):
    """A fake model that, like a U-Net, looks at neighbouring frames (±3) and sees zeros past a segment's edges.

    Vocals mask = sigmoid of the time-smoothed log magnitude minus a per-bin
    threshold; so a segment edge changes the masks of the frames next to it.
    """
    logmag = np.log(mag + 1e-3)
    kernel = np.ones(7) / 7
    smooth = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), 2, logmag)
    bins = np.arange(mag.shape[-1])
    mask = 1.0 / (1.0 + np.exp(-(smooth - 1.0 + 0.002 * bins)))
    return (mask * mag).astype(np.float32), ((1.0 - mask) * mag).astype(np.float32)


def music(seconds: float, sr: int = SR, seed: int = 0, channels: int = 2, noise: float = 0.03) -> np.ndarray:
    """Tones with a changing level plus white noise of RMS ``noise``: float32 [frames, channels]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    tone = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((220, 330, 440, 1250, 5100), 1))
    level = 0.5 + 0.4 * np.sin(2 * np.pi * 0.3 * t)
    hiss = rng.standard_normal((len(t), channels)) * noise
    pan = np.linspace(0.6, 1.0, channels)
    return (0.2 * (level * tone)[:, None] * pan + hiss).astype(np.float32)


def db(err: np.ndarray, ref: np.ndarray) -> float:
    """Energy of ``err`` relative to ``ref`` in dB."""
    return 10 * np.log10(np.sum(np.square(err, dtype=np.float64)) / np.sum(np.square(ref, dtype=np.float64)))


def sdr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Signal-to-distortion ratio in dB (plain, no allowed distortion filter)."""
    return -db(estimate - truth, truth)


# -- the separator -------------------------------------------------------------
def test_stems_sum_to_the_mix_exactly_and_keep_length():
    x = music(9.3)
    vocals, accomp = separate(x, context_model)
    assert vocals.shape == accomp.shape == x.shape
    assert np.max(np.abs(vocals + accomp - x)) < 1e-6
    assert db(vocals - x * 0, x) > -20, "the fake model gives the vocals a real share"


def test_impulse_stays_at_its_sample_in_both_stems():
    run, mask = constant_model(0.3)
    x = np.zeros((70000, 2), np.float32)
    x[31234, 0] = 1.0
    x[52001, 1] = -0.5
    vocals, accomp = separate(x, run)
    assert vocals.shape == x.shape
    np.testing.assert_allclose(vocals, mask * x, atol=1e-5)
    np.testing.assert_allclose(accomp, (1 - mask) * x, atol=1e-5)
    assert np.argmax(np.abs(vocals[:, 0])) == 31234 and np.argmax(np.abs(accomp[:, 1])) == 52001


def test_segment_boundaries_are_inaudible():
    """Overlapping, cross-faded segments match one long segment to < -60 dB; disjoint ones do not."""
    x = music(40.0, seed=1)
    frames = len(x) // HOP + 8
    whole = 64 * -(-frames // 64)
    reference, _ = separate(x, context_model, segment_frames=whole, segment_hop=whole)
    vocals, _ = separate(x, context_model)  # T=512, hop 256: 7 segments
    assert db(vocals - reference, x) < -60
    # Upstream's disjoint segments: the same fake model's edge effects are audible.
    disjoint, _ = separate(x, context_model, segment_frames=512, segment_hop=512)
    assert db(disjoint - reference, x) > -60


def test_mono_input_gives_mono_stems():
    x = music(4.0, channels=1)
    vocals, accomp = separate(x, context_model)
    assert vocals.shape == accomp.shape == x.shape
    assert np.max(np.abs(vocals + accomp - x)) < 1e-6
    run, mask = constant_model(0.3)
    vocals, _ = separate(x, run)
    np.testing.assert_allclose(vocals, mask * x, atol=1e-5)


@pytest.mark.parametrize("masks", ["ratio", "wiener"])
@pytest.mark.parametrize("frames", [0, 1, 10, 3000])
def test_very_short_input(masks, frames):
    x = music(1.0)[:frames]
    vocals, accomp = separate(x, context_model, masks=masks)
    assert vocals.shape == accomp.shape == x.shape
    assert np.all(np.isfinite(vocals)) and np.all(np.isfinite(accomp))
    assert np.max(np.abs(vocals + accomp - x), initial=0) < 1e-6


@pytest.mark.parametrize("masks", ["ratio", "wiener"])
def test_silence_gives_silent_stems(masks):
    x = np.zeros((100000, 2), np.float32)
    vocals, accomp = separate(x, context_model, masks=masks)
    assert np.all(np.isfinite(vocals)) and np.all(np.isfinite(accomp))
    assert np.max(np.abs(vocals)) == 0 and np.max(np.abs(accomp)) == 0


def disjoint_sources(seconds: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Two stereo sources with disjoint spectra and different panning.

    "Vocals": harmonics of 200 Hz below 2 kHz, panned left; "accompaniment":
    noise band-limited to 3–8 kHz, panned right. Both float32 [frames, 2].
    """
    rng = np.random.default_rng(3)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    tones = sum(np.sin(2 * np.pi * 200 * k * t + k) / k for k in range(1, 10))
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    spec[(freqs < 3000) | (freqs > 8000)] = 0
    noise = np.fft.irfft(spec, n)
    noise *= np.std(tones) / np.std(noise)
    voc = 0.1 * tones[:, None] * np.array([1.0, 0.4])
    acc = 0.1 * noise[:, None] * np.array([0.3, 1.0])
    return voc.astype(np.float32), acc.astype(np.float32)


def blurry_model(mag):
    """A fake model that knows which bins are whose (cut at 2.5 kHz) but only gives 65 % / 35 % magnitudes."""
    cut = int(2500 / (SR / 4096))
    share = np.where(np.arange(mag.shape[-1]) < cut, 0.65, 0.35).astype(np.float32)
    return mag * share, mag * (1 - share)


def test_wiener_gets_closer_to_the_truth_than_ratio_masks():
    voc, acc = disjoint_sources()
    mix = voc + acc
    scores = {}
    for masks in ("ratio", "wiener"):
        vocals, accomp = separate(mix, blurry_model, masks=masks)
        assert np.max(np.abs(vocals + accomp - mix)) < 1e-6
        scores[masks] = (sdr(vocals, voc), sdr(accomp, acc))
    assert scores["ratio"][0] > 3, scores  # the blurry masks already separate somewhat
    assert scores["wiener"][0] > scores["ratio"][0] + 3, scores
    assert scores["wiener"][1] > scores["ratio"][1] + 3, scores


# -- the node ------------------------------------------------------------------
def node_factory(run=context_model, **params):
    return lambda: SeparateNode(run=run, **params)


def test_node_is_block_size_invariant():
    x = music(14.0, seed=2)
    out = assert_block_invariant(node_factory(), x, SR, block_sizes_s=(1, 7), atol=1e-5,
                                 block_frames=(4799,))
    np.testing.assert_array_equal(out["main"], out["vocals"])
    assert np.max(np.abs(out["vocals"] + out["accompaniment"] - x)) < 1e-6


@pytest.mark.parametrize("sr", [48000, 22050])
def test_node_at_other_sample_rates(sr):
    run, mask = constant_model(0.3)
    # No white noise: what a 48 kHz file holds above 22.05 kHz cannot reach the 44.1 kHz model.
    x = music(6.0, sr=sr, noise=0.0)
    x[int(2.5 * sr)] += 0.8  # a click: must stay at its sample
    out = run_node_in_blocks(node_factory(run), x, sr, 4096)
    for name in SeparateNode.OUTPUTS:
        assert out[name].shape == x.shape, name
    assert np.max(np.abs(out["vocals"] + out["accompaniment"] - x)) < 1e-6
    assert np.argmax(np.abs(out["vocals"][:, 0])) == int(2.5 * sr)
    # A constant mask through the 44.1 kHz round trip: vocals = mask × input (away from the band edge).
    inner = slice(sr // 10, -sr // 10)
    assert db(out["vocals"][inner] - mask * x[inner], x[inner]) < -40


def test_node_mono_and_three_channels():
    run, mask = constant_model(0.3)
    for channels in (1, 3):
        x = music(3.0, channels=channels)
        out = run_node_in_blocks(node_factory(run, masks="wiener"), x, SR, 10000)
        assert out["vocals"].shape == x.shape
        assert np.max(np.abs(out["vocals"] + out["accompaniment"] - x)) < 1e-6
        assert np.all(np.isfinite(out["vocals"]))


def test_node_parameters_are_checked():
    from restora.graph.node import ParameterError
    from restora.graph.registry import node_class
    assert node_class("separate") is SeparateNode
    with pytest.raises(ParameterError):
        SeparateNode(masks="hard")
    with pytest.raises(ParameterError):
        SeparateNode(model="4stems")
    SeparateNode()  # no model file is touched before start()


# -- the real model (optional) ---------------------------------------------------
def _installed(model_id: str) -> bool:
    try:
        from restora.models.fetch import status
        return status(model_id) == "installed"
    except Exception:  # unknown card or store problems: treat as not installed
        return False


@pytest.mark.skipif(not _installed("spleeter-2stems"), reason="spleeter-2stems is not installed")
def test_real_model_separates_30_s():
    x = music(30.0, seed=4)
    start = time.perf_counter()
    out = run_node_in_blocks(lambda: SeparateNode(threads=4), x, SR, 4096)
    rtf = (time.perf_counter() - start) / 30.0
    print(f"separate node, spleeter-2stems, 30 s stereo: RTF {rtf:.3f}")
    assert out["vocals"].shape == x.shape
    assert np.all(np.isfinite(out["vocals"]))
    assert np.max(np.abs(out["vocals"] + out["accompaniment"] - x)) < 1e-6


@pytest.mark.skipif(not _installed("deepfilternet3"), reason="deepfilternet3 is not installed")
def test_dialogue_mode_matches_the_dialogue_isolate_preset():
    from restora.graph.file_job import process_array
    from restora.graph.preset import load_preset

    rng = np.random.default_rng(9)
    t = np.arange(int(2.5 * 48000)) / 48000
    x = (0.3 * np.sin(2 * np.pi * 200 * t)[:, None] + 0.05 * rng.standard_normal((len(t), 2))).astype(np.float32)
    out = run_node_in_blocks(lambda: SeparateNode(model="dialogue"), x, 48000, 4096)
    reference = process_array(load_preset("dialogue-isolate"), x, 48000)[0]
    np.testing.assert_allclose(out["vocals"], reference["speech"], atol=1e-5)
    np.testing.assert_allclose(out["accompaniment"], reference["background"], atol=1e-5)
    np.testing.assert_allclose(out["vocals"] + out["accompaniment"], x, atol=1e-6)
