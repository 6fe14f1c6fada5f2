"""EQ matching (analytic baseline): known-EQ pairs, valid bands, CLI behaviour."""

import json

import numpy as np
import pytest
import soundfile as sf

from restora.cli.main import main
from restora.dsp import eq_match as em
from restora.graph.nodes_basic import BAND_TYPES, ParametricEqNode
from restora.graph.preset import load_preset


def pinkish(sr, seconds, channels=1, seed=0):
    """Noise with a 1/f power spectrum, float [frames, channels], RMS 0.1."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    spec = np.fft.rfft(rng.standard_normal((n, channels)), axis=0)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    spec[1:] /= np.sqrt(f[1:, None])
    spec[0] = 0
    x = np.fft.irfft(spec, n, axis=0)
    return 0.1 * x / x.std()


def harmonic(sr, seconds, channels=1, seed=0):
    """A 55 Hz tone with 1/k harmonics up to Nyquist plus noise 40 dB down (so no band is empty)."""
    t = np.arange(int(sr * seconds)) / sr
    ks = np.arange(1, int(0.5 * sr / 55))
    x = sum(np.sin(2 * np.pi * 55 * k * t + k) / k for k in ks)
    x = 0.1 * x / x.std()
    return x[:, None].repeat(channels, 1) + 0.01 * pinkish(sr, seconds, channels, seed)


def random_eq(seed):
    """The issue's known EQ: low shelf, two peaks, high shelf, gains within ±9 dB."""
    rng = np.random.default_rng(seed)
    g = lambda: rng.uniform(-9, 9)  # noqa: E731
    return dict(band1_type="lowshelf", band1_freq_hz=rng.uniform(80, 300), band1_gain_db=g(),
                band2_type="peak", band2_freq_hz=rng.uniform(300, 1500), band2_gain_db=g(),
                band2_q=rng.uniform(0.7, 2), band3_type="peak", band3_freq_hz=rng.uniform(1500, 6000),
                band3_gain_db=g(), band3_q=rng.uniform(0.7, 2),
                band4_type="highshelf", band4_freq_hz=rng.uniform(6000, 12000), band4_gain_db=g())


def through_eq(x, sr, params):
    node = ParametricEqNode(**params)
    node.start(sr, x.shape[1])
    return node.process(x.astype(np.float32))["main"].astype(np.float64)


@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("make", [pinkish, harmonic])
@pytest.mark.parametrize("seed", [1, 2])
def test_known_eq_pairs_are_matched(sr, make, seed):
    x = make(sr, 4.0, seed=seed)
    src, ref = em.spectrum_of_array(x, sr), em.spectrum_of_array(through_eq(x, sr, random_eq(seed)), sr)
    bands = em.fit_bands(src, ref, 6)
    before, after = em.match_error_db(src, ref), em.match_error_db(src, ref, bands)
    assert after <= 1.0
    assert after < 0.5 * before


@pytest.mark.parametrize("sr,channels", [(16000, 1), (16000, 2), (96000, 1), (96000, 2), (44100, 2)])
def test_band_parameters_always_valid(sr, channels):
    # Different content and a different EQ: no exact solution exists.
    src = em.spectrum_of_array(pinkish(sr, 2.0, channels, seed=sr), sr)
    y = through_eq(harmonic(sr, 2.0, channels, seed=3), sr, random_eq(sr + channels))
    ref = em.spectrum_of_array(y, sr)
    for n in (1, 2, 6, 12):
        bands = em.fit_bands(src, ref, n)
        assert len(bands) == n
        for b in bands:
            assert b.type in BAND_TYPES and b.type != "off"
            assert 20.0 <= b.freq_hz <= min(20000.0, 0.45 * sr)
            assert np.isfinite(b.gain_db) and abs(b.gain_db) <= 18.0
            assert 0.3 <= b.q <= 6.0


def test_array_errors_are_clear():
    with pytest.raises(em.UsageError, match="silent"):
        em.spectrum_of_array(np.zeros((48000, 2)), 48000, "reference")
    with pytest.raises(em.UsageError, match="too short"):
        em.spectrum_of_array(pinkish(48000, 0.2), 48000, "reference")
    bad = pinkish(48000, 2.0)
    bad[100] = np.nan
    with pytest.raises(em.UsageError, match="NaN"):
        em.spectrum_of_array(bad, 48000)


@pytest.fixture
def pair(tmp_path):
    """Source (stereo pink noise) and reference (its known-EQ version) at 48 kHz."""
    sr = 48000
    x = pinkish(sr, 3.0, 2, seed=5)
    src, ref = tmp_path / "src.wav", tmp_path / "ref.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    sf.write(ref, through_eq(x, sr, random_eq(5)), sr, subtype="FLOAT")
    return src, ref


def run_json(capsys, *argv):
    assert main(["eq-match", *map(str, argv), "--json", "-q"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_schema_and_amount(pair, capsys):
    src, ref = pair
    full = run_json(capsys, src, "--reference", ref)
    assert set(full) >= {"bands", "match_error_db"}
    assert len(full["bands"]) == 6 and full["match_error_db"] <= 1.0
    for b in full["bands"]:
        assert set(b) == {"type", "freq_hz", "gain_db", "q"}
        assert b["type"] in ("peak", "low_shelf", "high_shelf", "highpass", "lowpass")
        assert all(isinstance(b[k], float) for k in ("freq_hz", "gain_db", "q"))
    half = run_json(capsys, src, "--reference", ref, "--amount", "50", "--bands", "3")
    third = run_json(capsys, src, "--reference", ref, "--bands", "3")
    for h, f in zip(half["bands"], third["bands"]):
        assert h["freq_hz"] == f["freq_hz"] and h["gain_db"] == pytest.approx(f["gain_db"] / 2, abs=0.01)


@pytest.mark.parametrize("ref_audio", [np.zeros((48000, 1)), 0.1 * np.ones((9600, 1))])
def test_bad_reference_is_one_line_usage_error(pair, tmp_path, capsys, ref_audio):
    bad = tmp_path / "bad.wav"
    sf.write(bad, ref_audio, 48000)
    assert main(["eq-match", str(pair[0]), "--reference", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reference" in err[0] and ("silent" in err[0] or "too short" in err[0])


def test_out_of_range_options(pair, capsys):
    assert main(["eq-match", str(pair[0]), "--reference", str(pair[1]), "--bands", "13"]) == 2
    assert main(["eq-match", str(pair[0]), "--reference", str(pair[1]), "--amount", "101"]) == 2


def test_output_and_preset_agree(pair, tmp_path, capsys):
    from restora.graph.file_job import process_file

    src, ref = pair
    out, preset_file = tmp_path / "out.wav", tmp_path / "match.json"
    run_json(capsys, src, "--reference", ref, "-o", out, "--save-preset", preset_file)
    y, sr = sf.read(out, always_2d=True)
    x, _ = sf.read(src, always_2d=True)
    assert sr == 48000 and y.shape == x.shape
    # The written file really matches the reference's tone (not only the analytic estimate).
    assert em.match_error_db(em.spectrum_of_file(out), em.spectrum_of_file(ref)) <= 1.0
    preset = load_preset(preset_file)
    again = tmp_path / "again.wav"
    process_file(preset, src, again)
    np.testing.assert_array_equal(sf.read(again, always_2d=True)[0], y)
    assert main(["process", str(src), "-o", str(tmp_path / "p.wav"), "--preset", str(preset_file), "-q"]) == 0


@pytest.mark.parametrize("kind,freq", [("highpass", 120.0), ("lowpass", 5000.0)])
def test_a_steep_edge_is_matched_with_a_pass_filter(kind, freq):
    """A reference cut by a 12 dB/oct filter gets a pass band at its corner, not a huge shelf."""
    sr = 44100
    x = pinkish(sr, 4.0, seed=4)
    params = dict(band1_type=kind, band1_freq_hz=freq, band1_q=0.707,
                  band2_type="peak", band2_freq_hz=1000.0, band2_gain_db=4.0, band2_q=1.0)
    src, ref = em.spectrum_of_array(x, sr), em.spectrum_of_array(through_eq(x, sr, params), sr)
    bands = em.fit_bands(src, ref, 6)
    passes = [b for b in bands if b.type == kind]
    assert len(passes) == 1 and abs(np.log2(passes[0].freq_hz / freq)) < 0.25 and passes[0].gain_db == 0.0
    assert em.match_error_db(src, ref, bands) <= 1.0


def test_pass_bands_survive_the_json_and_the_preset(tmp_path):
    sr = 44100
    x = pinkish(sr, 3.0, seed=5)
    sf.write(tmp_path / "src.wav", x, sr)
    sf.write(tmp_path / "ref.wav", through_eq(x, sr, dict(band1_type="highpass", band1_freq_hz=150.0)), sr)
    preset = tmp_path / "eq.json"
    code = main(["eq-match", str(tmp_path / "src.wav"), "--reference", str(tmp_path / "ref.wav"),
                 "--method", "fit", "--save-preset", str(preset)])
    assert code == 0
    params = load_preset(preset).nodes[0].params
    assert "highpass" in [params[f"band{i}_type"] for i in range(1, 13)]
