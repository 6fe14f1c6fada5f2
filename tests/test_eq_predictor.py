"""The shipped EQ predictor (ONNX) and match_bands: valid bands, recovery of a known EQ, methods."""

import numpy as np
import pytest

from restora.dsp import eq_match as em
from restora.errors import UsageError
from restora.models import eq_predictor as ep
from test_eq_match import harmonic, pinkish, random_eq, through_eq


def _pair(sr=44100, seed=3, make=pinkish, channels=1):
    x = make(sr, 4.0, channels=channels, seed=seed)
    params = random_eq(seed)
    return em.spectrum_of_array(x, sr), em.spectrum_of_array(through_eq(x, sr, params), sr), params


def _true_bands(params):
    return [em.Band(params[f"band{i}_type"], params[f"band{i}_freq_hz"], params[f"band{i}_gain_db"],
                    params.get(f"band{i}_q", 0.707)) for i in range(1, 5)]


def test_features_are_normalised_and_masked():
    src, ref, _ = _pair(sr=16000)
    f = ep.features(src, ref)
    assert f.shape == (1, 4, len(ep.GRID_HZ)) and f.dtype == np.float32
    mask = f[0, 3]
    assert mask[ep.GRID_HZ <= 7200].all() and not mask[ep.GRID_HZ > 7200].any()
    for row in f[0, :2]:  # levels: zero mean over the valid range, zero outside it
        assert abs(row[mask > 0].mean()) < 1e-5 and not row[mask == 0].any()


@pytest.mark.parametrize("sr,channels", [(8000, 1), (22050, 2), (44100, 1), (96000, 2)])
def test_network_bands_are_valid_at_any_rate(sr, channels):
    src, ref, _ = _pair(sr=sr, channels=channels)
    bands = ep.predict(src, ref)
    assert [b.type for b in bands] == list(ep.BAND_TYPES)
    for b in bands:
        assert 20.0 <= b.freq_hz <= em.analysis_top_hz(sr) and np.isfinite(b.gain_db) and 0.3 <= b.q <= 5.0


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_network_recovers_a_known_eq(seed):
    """A trained network, not random weights: its curve is close to the applied EQ (flat would be far)."""
    src, ref, params = _pair(seed=seed, make=harmonic if seed % 2 else pinkish)
    f = 20.0 * 2.0 ** (np.arange(0, 118) / 12.0)

    def curve_error(bands):
        d = em.response_db(bands, f, 44100) - em.response_db(_true_bands(params), f, 44100)
        return np.sqrt(np.mean((d - d.mean()) ** 2))

    flat = curve_error([])
    assert flat > 1.5
    assert curve_error(ep.predict(src, ref)) < 0.35 * flat


@pytest.mark.parametrize("method", em.METHODS)
@pytest.mark.parametrize("n", [1, 4, 6, 12])
def test_match_bands_methods(method, n):
    src, ref, _ = _pair(seed=7)
    bands = em.match_bands(src, ref, n, method)
    assert len(bands) == (min(n, 4) if method == "network" else n)
    before, after = em.match_error_db(src, ref), em.match_error_db(src, ref, bands)
    assert after < before
    if method == "hybrid" and n >= 6:
        assert after <= 1.0  # the target on known-EQ pairs


def test_unknown_method_is_a_usage_error():
    src, ref, _ = _pair()
    with pytest.raises(UsageError, match="method"):
        em.match_bands(src, ref, 6, "magic")


def test_card_checksum_matches_the_shipped_file():
    from importlib import resources

    from restora.models import registry, store

    card = registry.card(ep.MODEL_ID)
    path = resources.files("restora.models") / card.source.members[0].path
    assert store.sha256_of(path) == card.source.members[0].sha256
    assert path.stat().st_size < 8 * 1024 * 1024
