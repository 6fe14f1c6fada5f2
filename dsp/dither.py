"""Quantising float audio to integer PCM with TPDF dither.

Rounding a signal to a coarser grid without dither leaves an error that
follows the signal (distortion, and quiet fades that break into steps).
Adding triangular (TPDF) noise of ±1 LSB before rounding makes the error
independent of the signal: a flat noise floor of LSB²/4 power, the
textbook minimum that removes both distortion and noise modulation.
"""

from __future__ import annotations

import numpy as np


class TpdfQuantiser:
    """Float samples (full scale ±1.0) to signed ``bits``-bit integers, dithered.

    ``x * 2**(bits-1)`` is rounded after adding TPDF noise, then saturated to
    ``[-2**(bits-1), 2**(bits-1) - 1]``. A sample that already lies on the
    output grid is left undithered, so audio that was never changed (16-bit in,
    16-bit out; 16-bit into 24-bit) round-trips bit-exact and digital silence
    stays silent. The noise comes from a seeded generator and one draw is made
    per sample whether used or not, so the output depends only on the input
    samples and the seed, never on how the stream is cut into blocks.
    ``dither=False`` gives plain rounding (used for 32-bit output, where
    float32 input has no resolution below the grid to preserve).
    """

    def __init__(self, bits: int, dither: bool = True, seed: int = 0) -> None:
        self.bits = bits
        self.scale = float(2 ** (bits - 1))
        self.dither = dither
        self._rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Quantise float ``[frames, channels]`` to int32 ``[frames, channels]`` values of ``bits`` bits."""
        scaled = x.astype(np.float64) * self.scale
        if self.dither:
            uniform = self._rng.random(scaled.shape + (2,))
            tpdf = uniform[..., 0] - uniform[..., 1]  # triangular on (-1, 1) LSB
            on_grid = scaled == np.rint(scaled)
            scaled = np.where(on_grid, scaled, scaled + tpdf)
        return np.clip(np.rint(scaled), -self.scale, self.scale - 1).astype(np.int32)
