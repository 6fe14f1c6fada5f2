"""The EQ predictor network and a differentiable RBJ biquad magnitude response (torch only).

Input ``features`` [B, 4, G] (see ``restora.models.eq_predictor``); output
``bands`` [B, 4, 3] = (frequency Hz, gain dB, Q) for low shelf, peak, peak,
high shelf. Each parameter is a sigmoid mapped onto its range (log ranges for
frequency and Q), so every output is a valid band by construction.
"""

from __future__ import annotations

import math

import torch
from torch import nn

GRID_POINTS = 120
TYPES = ("lowshelf", "peak", "peak", "highshelf")
# Output ranges, wider than the benchmark's random EQ so real-world settings fit too.
FREQ_RANGE = ((30.0, 800.0), (100.0, 4000.0), (600.0, 14000.0), (2000.0, 18000.0))
Q_RANGE = ((0.4, 1.5), (0.3, 5.0), (0.3, 5.0), (0.4, 1.5))
GAIN_MAX_DB = 15.0
DESIGN_RATE = 48000.0


def _log_range(rng) -> tuple[torch.Tensor, torch.Tensor]:
    lo = torch.tensor([math.log(a) for a, _ in rng])
    hi = torch.tensor([math.log(b) for _, b in rng])
    return lo, hi


class EqNet(nn.Module):
    """MLP over the flattened features; ~0.6 M parameters (2.5 MB as float32)."""

    def __init__(self, hidden: int = 512, grid: int = GRID_POINTS, dropout: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(4 * grid, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden // 2), nn.GELU(), nn.Linear(hidden // 2, 12))
        f_lo, f_hi = _log_range(FREQ_RANGE)
        q_lo, q_hi = _log_range(Q_RANGE)
        for name, t in (("f_lo", f_lo), ("f_hi", f_hi), ("q_lo", q_lo), ("q_hi", q_hi)):
            self.register_buffer(name, t)

    def normalised(self, features: torch.Tensor) -> torch.Tensor:
        """Raw outputs squashed to [0, 1]: [B, 4, 3] (freq, gain, Q)."""
        return torch.sigmoid(self.body(features.flatten(1)).view(-1, 4, 3))

    def decode(self, u: torch.Tensor) -> torch.Tensor:
        """[0, 1] parameters [B, 4, 3] → physical (Hz, dB, Q)."""
        freq = torch.exp(self.f_lo + u[..., 0] * (self.f_hi - self.f_lo))
        gain = (2.0 * u[..., 1] - 1.0) * GAIN_MAX_DB
        q = torch.exp(self.q_lo + u[..., 2] * (self.q_hi - self.q_lo))
        return torch.stack([freq, gain, q], dim=-1)

    def encode(self, bands: torch.Tensor) -> torch.Tensor:
        """Physical bands [B, 4, 3] → [0, 1] (inverse of :meth:`decode`)."""
        uf = (torch.log(bands[..., 0]) - self.f_lo) / (self.f_hi - self.f_lo)
        ug = (bands[..., 1] / GAIN_MAX_DB + 1.0) / 2.0
        uq = (torch.log(bands[..., 2]) - self.q_lo) / (self.q_hi - self.q_lo)
        return torch.stack([uf, ug, uq], dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.decode(self.normalised(features))


def response_db(bands: torch.Tensor, freqs: torch.Tensor, rate: float = DESIGN_RATE) -> torch.Tensor:
    """Summed magnitude response (dB) [B, F] of bands [B, 4, 3] typed as :data:`TYPES`, at ``freqs`` [F] Hz.

    Same RBJ cookbook formulas as the eq node (graph/nodes_basic.rbj_biquad).
    """
    f, g, q = bands[..., 0:1], bands[..., 1:2], bands[..., 2:3]  # [B, 4, 1]
    a = 10.0 ** (g / 40.0)
    w0 = 2.0 * math.pi * f / rate
    cos, alpha = torch.cos(w0), torch.sin(w0) / (2.0 * q)
    b, d = [], []
    for i, kind in enumerate(TYPES):
        ai, ci, al = a[:, i], cos[:, i], alpha[:, i]
        if kind == "peak":
            b.append(torch.cat([1 + al * ai, -2 * ci, 1 - al * ai], -1))
            d.append(torch.cat([1 + al / ai, -2 * ci, 1 - al / ai], -1))
        else:
            s = 1.0 if kind == "lowshelf" else -1.0
            root = 2.0 * torch.sqrt(ai) * al
            b.append(torch.cat([ai * ((ai + 1) - s * (ai - 1) * ci + root), s * 2 * ai * ((ai - 1) - s * (ai + 1) * ci),
                                ai * ((ai + 1) - s * (ai - 1) * ci - root)], -1))
            d.append(torch.cat([(ai + 1) + s * (ai - 1) * ci + root, -s * 2 * ((ai - 1) + s * (ai + 1) * ci),
                                (ai + 1) + s * (ai - 1) * ci - root], -1))
    b, d = torch.stack(b, 1), torch.stack(d, 1)  # [B, 4, 3]
    w = 2.0 * math.pi * freqs / rate
    cos1, sin1, cos2, sin2 = torch.cos(w), torch.sin(w), torch.cos(2 * w), torch.sin(2 * w)

    def mag2(c):  # |c0 + c1 z^-1 + c2 z^-2|² on the unit circle, [B, 4, F]
        re = c[..., 0:1] + c[..., 1:2] * cos1 + c[..., 2:3] * cos2
        im = c[..., 1:2] * sin1 + c[..., 2:3] * sin2
        return re ** 2 + im ** 2

    return (10.0 * torch.log10(mag2(b).clamp_min(1e-20) / mag2(d).clamp_min(1e-20))).sum(1)
