"""Mixtures for language-queried extraction, built on the device from mu-law clips.

A training example: a target clip (cropped or padded to the segment), a query =
a random training caption of one of the target's concepts, and one or two
background clips that do not carry that concept, each with a random smooth EQ
(±6 dB), 20 % of the time a low-pass at 2.5–8 kHz (band-limited recordings) and,
30 % of the time, a room response; the target at −5..+5 dB against the
backgrounds, the mixture's peak at −20..0 dBFS. With ``query_jitter`` the query
embedding is moved off the caption (half the time towards another caption of
the same concept, half the time by a random direction; cosine to the caption
about 0.7–1), so that paraphrases a user types land inside what was learnt.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from lass_captions import unpack_embeddings

MU = 255.0


def decode_mu_law(codes: torch.Tensor) -> torch.Tensor:
    y = codes.float() / 127.5 - 1.0
    return torch.sign(y) * ((1.0 + MU) ** y.abs() - 1.0) / MU


class LassData:
    """The arrays of ``lass.npz`` on ``device``."""

    def __init__(self, npz: dict, device) -> None:
        self.device = device
        self.audio = torch.as_tensor(np.asarray(npz["audio"]), device=device)
        self.offsets = torch.as_tensor(np.asarray(npz["offsets"]), device=device)
        self.lengths = torch.as_tensor(np.asarray(npz["lengths"]), device=device)
        self.concepts = json.loads(str(npz["concepts"]))
        pairs = np.asarray(npz["clip_concept"])
        has = torch.zeros(len(self.lengths), len(self.concepts), dtype=torch.bool)
        has[pairs[:, 0], pairs[:, 1]] = True
        self.has = has.to(device)
        self.pairs = torch.as_tensor(pairs, dtype=torch.long, device=device)
        self.cap_emb = torch.as_tensor(unpack_embeddings(npz), device=device)
        owner = np.asarray(npz["caption_concept"])
        self.cap_start = torch.as_tensor(np.searchsorted(owner, np.arange(len(self.concepts))), device=device)
        self.cap_count = torch.as_tensor(np.bincount(owner, minlength=len(self.concepts)), device=device)


class MixtureSampler:
    def __init__(self, data: LassData, segment: int, seed: int = 0, rirs: np.ndarray | None = None,
                 query_jitter: bool = False) -> None:
        self.d, self.segment, self.query_jitter = data, segment, query_jitter
        self.rirs = None if rirs is None else torch.as_tensor(np.asarray(rirs), dtype=torch.float32,
                                                              device=data.device)
        self.gen = torch.Generator(device=data.device)
        self.gen.manual_seed(seed)

    def _rand(self, *shape):
        return torch.rand(*shape, generator=self.gen, device=self.d.device)

    def _randint(self, high, shape):
        return (self._rand(*shape) * high).long().clamp_max(high - 1) if torch.is_tensor(high) else \
            torch.randint(int(high), shape, generator=self.gen, device=self.d.device)

    def crops(self, clips: torch.Tensor) -> torch.Tensor:
        """[B, segment] audio of ``clips``: a random window, or the clip at a random offset in silence."""
        n, seg = len(clips), self.segment
        length = self.d.lengths[clips]
        start = (self._rand(n) * (length - seg).clamp_min(0)).long()
        shift = (self._rand(n) * (seg - length).clamp_min(0)).long()
        pos = torch.arange(seg, device=self.d.device)[None] - shift[:, None]
        valid = (pos >= 0) & (pos < length[:, None])
        idx = self.d.offsets[clips][:, None] + start[:, None] + pos.clamp_min(0)
        idx = idx.clamp_max(len(self.d.audio) - 1)
        return torch.where(valid, decode_mu_law(self.d.audio[idx]), torch.zeros((), device=self.d.device))

    def random_eq(self, x: torch.Tensor, db: float = 6.0) -> torch.Tensor:
        """Each row through a random smooth EQ (a few cosines over log frequency, about ±``db``)."""
        spec = torch.fft.rfft(x)
        f = torch.linspace(0, 1, spec.shape[-1], device=x.device)
        logf = torch.log2(1 + 255 * f) / 8.0
        k = torch.arange(1, 5, device=x.device, dtype=torch.float32)
        amp = (self._rand(len(x), 4) * 2 - 1) * db / k
        phase = self._rand(len(x), 4) * math.pi
        curve = (amp[..., None] * torch.cos(math.pi * k[None, :, None] * logf + phase[..., None])).sum(1)
        lowpass = torch.where(self._rand(len(x)) < 0.2, self._rand(len(x)) * (5.5 / 8) + 2.5 / 8,
                              torch.full((len(x),), 2.0, device=x.device))  # cutoff / 8 kHz; 2 = none
        roll = torch.sigmoid((lowpass[:, None] - f[None]) * 60.0)  # about 12 dB per 200 Hz above the cutoff
        return torch.fft.irfft(spec * 10 ** (curve / 20) * roll, n=x.shape[-1])

    def batch(self, size: int):
        """``(mixture [B, L], target [B, L], query [B, 384], concept [B])``."""
        pick = self._randint(len(self.d.pairs), (size,))
        target_clip, concept = self.d.pairs[pick, 0], self.d.pairs[pick, 1]
        query = self.query(concept)
        target = self.random_eq(self.crops(target_clip))
        target = self.reverb(target)
        background = torch.zeros_like(target)
        layers = 1 + (self._rand(size) < 0.5).long()
        for layer in range(2):
            bg, ok = self._background(concept)
            ok = ok & (layer < layers)
            background = background + ok[:, None] * self._level(self.reverb(self.random_eq(self.crops(bg))))
        snr = self._rand(size) * 10 - 5
        target = self._level(target) * 10 ** (snr / 20)[:, None]
        mixture = target + background
        gain = 10 ** ((self._rand(size) * 20 - 20) / 20) / mixture.abs().amax(-1).clamp_min(1e-4)  # peak -20..0 dBFS
        return mixture * gain[:, None], target * gain[:, None], query, concept

    def _caption(self, concept: torch.Tensor) -> torch.Tensor:
        caption = self.d.cap_start[concept] + self._randint(self.d.cap_count[concept], (len(concept),))
        return self.d.cap_emb[caption]

    def query(self, concept: torch.Tensor) -> torch.Tensor:
        """[B, 384] unit query embeddings: a random caption of each concept, jittered if ``query_jitter``."""
        q = self._caption(concept)
        if not self.query_jitter:
            return q
        n = len(concept)
        other = self._caption(concept)
        blend = torch.where(self._rand(n) < 0.5, self._rand(n) * 0.5, torch.zeros((), device=q.device))
        q = (1 - blend[:, None]) * q + blend[:, None] * other
        noise = torch.randn(q.shape, generator=self.gen, device=q.device)
        radius = torch.where(self._rand(n) < 0.5, self._rand(n), torch.zeros((), device=q.device))
        q = q / q.norm(dim=-1, keepdim=True) + radius[:, None] * noise / noise.norm(dim=-1, keepdim=True)
        return q / q.norm(dim=-1, keepdim=True)

    def _background(self, concept: torch.Tensor, tries: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """A clip per row that does not carry ``concept`` (first of ``tries`` draws), and whether one was found."""
        cand = self._randint(len(self.d.lengths), (len(concept), tries))
        free = ~self.d.has[cand, concept[:, None]]
        first = free.float().argmax(-1)
        return cand.gather(1, first[:, None])[:, 0], free.any(-1)

    def reverb(self, x: torch.Tensor, p: float = 0.3) -> torch.Tensor:
        """With probability ``p`` per row, ``x`` convolved with a random room response (same length)."""
        if self.rirs is None:
            return x
        n = x.shape[-1] + self.rirs.shape[-1]
        rir = self.rirs[self._randint(len(self.rirs), (len(x),))]
        wet = torch.fft.irfft(torch.fft.rfft(x, n) * torch.fft.rfft(rir, n), n)[..., :x.shape[-1]]
        return torch.where((self._rand(len(x)) < p)[:, None], wet, x)

    @staticmethod
    def _level(x: torch.Tensor) -> torch.Tensor:
        return x / x.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-5)
