"""Trained EQ predictor (ONNX): long-term spectra of source and reference → four parametric bands.

The network ``eq-predictor`` (trained by ``models/training/train_eq.py``) reads
``features`` [batch, 4, G] float32 — for each grid point of :data:`GRID_HZ`
(G = 120, 1/12 octave from 20 Hz): the source's and the reference's smoothed
level (dB, mean over the valid range removed, /20), their difference, and a
validity mask (1 up to min(20 kHz, 0.45 × the lower rate)) — and returns
``bands`` [batch, 4, 3]: (frequency Hz, gain dB, Q) of a low shelf, two peaks
and a high shelf, in that order.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from restora.dsp.eq_match import MAX_Q, MIN_Q, Band, Spectrum, analysis_top_hz, smoothed_db

log = logging.getLogger(__name__)

MODEL_ID = "eq-predictor"
GRID_HZ = 20.0 * 2.0 ** (np.arange(120) / 12.0)  # 20 Hz .. 19.4 kHz
BAND_TYPES = ("lowshelf", "peak", "peak", "highshelf")
SMOOTHING = 6.0  # 1/6-octave averaging window around each grid point


def normalised_levels(db: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Levels ``db`` [..., G] with the mean over ``mask`` removed, zero outside it, divided by 20."""
    mean = (db * mask).sum(-1, keepdims=True) / np.maximum(mask.sum(-1, keepdims=True), 1)
    return np.where(mask > 0, np.clip(db - mean, -60.0, 60.0) / 20.0, 0.0)


def features_from_db(src_db: np.ndarray, ref_db: np.ndarray, top_hz: float) -> np.ndarray:
    """The network input [1, 4, G] from grid levels (dB) [G] of source and reference."""
    mask = (GRID_HZ <= top_hz).astype(np.float64)
    s, r = normalised_levels(src_db, mask), normalised_levels(ref_db, mask)
    return np.stack([s, r, r - s, mask])[None].astype(np.float32)


def features(source: Spectrum, reference: Spectrum) -> np.ndarray:
    """The network input [1, 4, G] for a source/reference pair of long-term spectra."""
    top = analysis_top_hz(source.sample_rate, reference.sample_rate)
    return features_from_db(smoothed_db(source, GRID_HZ, SMOOTHING), smoothed_db(reference, GRID_HZ, SMOOTHING), top)


@lru_cache(maxsize=1)
def _session():
    from restora.models.fetch import ensure_installed
    from restora.models.session import make_session

    return make_session(ensure_installed(MODEL_ID) / "eq_predictor.onnx", threads=1, providers="cpu")[0]


def predict(source: Spectrum, reference: Spectrum) -> list[Band]:
    """The network's four bands (low shelf, peak, peak, high shelf) for this pair.

    Frequencies are clipped below min(20 kHz, 0.45 × source rate) so that the
    eq node can realise them at the source's rate.
    """
    out = _session().run(None, {"features": features(source, reference)})[0][0]
    top = analysis_top_hz(source.sample_rate, reference.sample_rate)
    return [Band(t, float(np.clip(f, 20.0, top)), float(g), float(np.clip(q, MIN_Q, MAX_Q)))
            for t, (f, g, q) in zip(BAND_TYPES, out)]
