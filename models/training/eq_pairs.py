"""Training pairs for the EQ predictor, synthesised on the device from long-term spectra.

A pair is (source spectrum, reference spectrum + random EQ response). The
reference is the source itself (known-EQ pair) or another recording of the
same kind (cross pair), optionally a power-sum of two (an ensemble), with the
compared range cut at a random lower sample rate now and then.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from eq_net import FREQ_RANGE, Q_RANGE, response_db

# The benchmark's random EQ (issue 5): shelf 80-300 Hz, peaks 300-1500 and 1500-6000 Hz (Q 0.7-2),
# high shelf 6-12 kHz, gains uniform in ±9 dB.
BENCH_FREQ = ((80.0, 300.0), (300.0, 1500.0), (1500.0, 6000.0), (6000.0, 12000.0))
BENCH_Q = ((0.707, 0.707), (0.7, 2.0), (0.7, 2.0), (0.707, 0.707))
BENCH_GAIN_DB = 9.0


def _log_uniform(lo, hi, shape, gen, device):
    u = torch.rand(shape, generator=gen, device=device)
    return torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))


def sample_eq(batch: int, gen: torch.Generator, device, broad: float = 0.5, p_unused: float = 0.1) -> torch.Tensor:
    """Random bands [B, 4, 3] (Hz, dB, Q): the benchmark distribution, or a broader one with probability ``broad``."""
    bands = torch.empty(batch, 4, 3, device=device)
    wide = torch.rand(batch, generator=gen, device=device) < broad
    for i in range(4):
        (bf_lo, bf_hi), (bq_lo, bq_hi) = BENCH_FREQ[i], BENCH_Q[i]
        (wf_lo, wf_hi), (wq_lo, wq_hi) = FREQ_RANGE[i], Q_RANGE[i]
        f_b = _log_uniform(bf_lo, bf_hi, (batch,), gen, device)
        f_w = _log_uniform(wf_lo * 1.05, wf_hi / 1.05, (batch,), gen, device)
        q_b = _log_uniform(bq_lo, bq_hi, (batch,), gen, device)
        q_w = _log_uniform(wq_lo * 1.05, wq_hi / 1.05, (batch,), gen, device)
        g = (2 * torch.rand(batch, generator=gen, device=device) - 1) * torch.where(wide, 12.0, BENCH_GAIN_DB)
        g = torch.where(torch.rand(batch, generator=gen, device=device) < p_unused, torch.zeros_like(g), g)
        bands[:, i, 0] = torch.where(wide, f_w, f_b)
        bands[:, i, 1] = g
        bands[:, i, 2] = torch.where(wide, q_w, q_b)
    return bands


def normalised_levels(db: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Torch twin of ``restora.models.eq_predictor.normalised_levels`` (kept equal by a test)."""
    mean = (db * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp_min(1)
    return torch.where(mask > 0, torch.clamp(db - mean, -60.0, 60.0) / 20.0, torch.zeros_like(db))


def features(src_db: torch.Tensor, ref_db: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, 4, G]: source, reference, difference, mask (see eq_predictor.features_from_db)."""
    s, r = normalised_levels(src_db, mask), normalised_levels(ref_db, mask)
    return torch.stack([s, r, r - s, mask], 1)


class PairSampler:
    """Draws batches of (features, true bands, mask, grid) from one split of ``features.npz``."""

    def __init__(self, data: dict, split: int, device, seed: int = 0, p_known: float = 0.4,
                 p_ensemble: float = 0.3, p_low_rate: float = 0.15, jitter_db: float = 0.0) -> None:
        keep = np.asarray(data["split"]) == split
        self.device = device
        self.grid = torch.as_tensor(np.asarray(data["grid"]), dtype=torch.float32, device=device)
        self.power = torch.as_tensor(np.asarray(data["power"])[keep], dtype=torch.float32, device=device)
        self.top = torch.as_tensor(np.asarray(data["top_hz"])[keep], dtype=torch.float32, device=device)
        self.kind = torch.as_tensor(np.asarray(data["kind"])[keep], dtype=torch.long, device=device)
        self.group = torch.as_tensor(np.asarray(data["group"])[keep], dtype=torch.long, device=device)
        self.pools = [torch.nonzero(self.kind == k).flatten() for k in range(3)]
        self.p_known, self.p_ensemble, self.p_low_rate, self.jitter_db = p_known, p_ensemble, p_low_rate, jitter_db
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)

    def __len__(self) -> int:
        return len(self.power)

    def _rand(self, n):
        return torch.rand(n, generator=self.gen, device=self.device)

    def _same_kind(self, idx: torch.Tensor) -> torch.Tensor:
        """A random item of the same kind as each of ``idx`` (drawn again once where it is of the same group)."""
        out = self._same_kind_once(idx)
        clash = self.group[out] == self.group[idx]
        return torch.where(clash, self._same_kind_once(idx), out)

    def _same_kind_once(self, idx: torch.Tensor) -> torch.Tensor:
        """A random item of the same kind as each of ``idx`` (any group)."""
        out = idx.clone()
        for k, pool in enumerate(self.pools):
            sel = self.kind[idx] == k
            if pool.numel() and sel.any():
                out[sel] = pool[torch.randint(len(pool), (int(sel.sum()),), generator=self.gen, device=self.device)]
        return out

    def _content(self, idx: torch.Tensor) -> torch.Tensor:
        """Level (dB) [B, G] of item ``idx`` (with ``p_ensemble`` power-summed with a same-kind item), jittered.

        The jitter — a random smooth curve, about ``jitter_db`` RMS — keeps the
        network from recognising training items and subtracting them exactly,
        which helps on the training set only.
        """
        other = self._same_kind_once(idx)
        gain = 10.0 ** ((self._rand(len(idx)) * 12.0 - 9.0) / 10.0)
        mix = self._rand(len(idx)) < self.p_ensemble
        power = self.power[idx] + torch.where(mix, gain, torch.zeros_like(gain))[:, None] * self.power[other]
        return 10.0 * torch.log10(power.clamp_min(1e-30)) + self._jitter(len(idx))

    def _jitter(self, n: int) -> torch.Tensor:
        k = torch.arange(1, 7, device=self.device, dtype=torch.float32)
        x = torch.linspace(0.0, 1.0, len(self.grid), device=self.device)
        amp = torch.randn(n, 6, generator=self.gen, device=self.device) * self.jitter_db / k
        phase = torch.rand(n, 6, generator=self.gen, device=self.device) * math.pi
        return (amp[..., None] * torch.cos(math.pi * k[None, :, None] * x + phase[..., None])).sum(1)

    def batch(self, size: int, broad: float = 0.5):
        """``(features [B,4,G], bands [B,4,3], mask [B,G], known [B] bool)``."""
        src = torch.randint(len(self), (size,), generator=self.gen, device=self.device)
        known = self._rand(size) < self.p_known
        ref = torch.where(known, src, self._same_kind(src))
        src_db = self._content(src)
        ref_db = torch.where(known[:, None], src_db, self._content(ref))
        bands = sample_eq(size, self.gen, self.device, broad)
        ref_db = ref_db + response_db(bands, self.grid)
        top = torch.minimum(self.top[src], self.top[ref])
        low_rate = torch.tensor([16000.0, 22050.0, 32000.0], device=self.device)
        pick = low_rate[torch.randint(3, (size,), generator=self.gen, device=self.device)] * 0.45
        top = torch.where(self._rand(size) < self.p_low_rate, torch.minimum(top, pick), top)
        mask = (self.grid[None, :] <= top[:, None]).float()
        return features(src_db, ref_db, mask), bands, mask, known
