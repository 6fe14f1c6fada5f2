"""Log-mel features in numpy, numerically equivalent to librosa's defaults.

Reproduces ``librosa.feature.melspectrogram(y, sr, n_fft, hop_length, n_mels)``
(periodic Hann window of ``n_fft`` samples, ``center=True`` with reflect padding of
``n_fft // 2`` — the librosa < 0.10 default that DNSMOS was trained with; newer
librosa pads with zeros, which changes only the first and last frame —,
power 2, Slaney mel scale with Slaney area normalisation, fmin 0, fmax sr/2) and
``librosa.power_to_db(S, ref=np.max)`` (amin 1e-10, top_db 80), so that
the DNSMOS P.808 model gets the features it was trained on without librosa.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_F_SP = 200.0 / 3          # Slaney scale: linear 66.7 Hz per mel below 1 kHz ...
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0  # ... logarithmic above, 27 mels per factor 6.4


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel value of frequencies ``f`` (Hz)."""
    f = np.asarray(f, np.float64)
    lin = f / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log, lin)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Frequencies in Hz of Slaney mel values ``m``."""
    m = np.asarray(m, np.float64)
    lin = m * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log, lin)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular Slaney-normalised filters, float64 ``[n_mels, n_fft // 2 + 1]``."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    width = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / width[:-1, None]
    falling = ramps[2:] / width[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Slaney normalisation: each filter has unit area in Hz, so energy per band is comparable.
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    weights.setflags(write=False)
    return weights


def mel_power(y: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    """Mel power spectrogram ``[n_mels, frames]`` of mono ``y`` (centred frames, reflect pad)."""
    y = np.asarray(y, np.float64)
    pad = n_fft // 2
    y = np.pad(y, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return mel_filterbank(sample_rate, n_fft, n_mels) @ power.T


def power_to_db_ref_max(s: np.ndarray, amin: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    """``10 log10(S / max(S))`` floored at ``amin`` and at ``top_db`` below the peak."""
    db = 10.0 * np.log10(np.maximum(amin, s)) - 10.0 * np.log10(max(amin, float(np.max(s))))
    return np.maximum(db, db.max() - top_db)
