"""Weights for cutting a stream into overlapping chunks and joining them back without seams."""

from __future__ import annotations

import numpy as np


def crossfade_weights(length: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """Weights [length] of one chunk: 1, with sin² ramps over the ``overlap`` items shared with a neighbour.

    No ramp at the stream's start (``first``) or end (``last``). Neighbouring
    chunks offset by ``length - overlap`` have ramps that sum to exactly 1
    (sin² + cos²); the floor of 1e-6 keeps a normalising division finite.
    """
    n = np.arange(length)
    w = np.ones(length)
    if not first and overlap > 0:
        w = np.minimum(w, np.sin(0.5 * np.pi * (n + 0.5) / overlap) ** 2)
    if not last and overlap > 0:
        w = np.minimum(w, np.sin(0.5 * np.pi * (length - n - 0.5) / overlap) ** 2)
    return np.maximum(w, 1e-6)
