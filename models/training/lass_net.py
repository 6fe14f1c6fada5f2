"""Query-conditioned mask network for language-queried extraction (torch only).

Input: mixture ``wave`` [B, L] at 16 kHz and the query's sentence embedding
``query`` [B, 384] (all-MiniLM-L6-v2, L2-normalised). A 2-D convolutional
U-Net over the log-magnitude STFT (n_fft 512, hop 128, Hann), FiLM-conditioned
by the query in every block, predicts a magnitude mask in [0, 1] for the
target; the target is the masked mixture spectrum, inverted with the mixture's
phase. ``forward`` returns the target waveform [B, L]; the residual is
mixture − target.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

N_FFT, HOP, EMB = 512, 128, 384


class FiLMBlock(nn.Module):
    """Two 3×3 convolutions with GroupNorm and GELU, then a per-channel scale and shift from the query."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, padding=1), nn.Conv2d(cout, cout, 3, padding=1)
        self.norm1, self.norm2 = nn.GroupNorm(4, cout), nn.GroupNorm(4, cout)
        self.film = nn.Linear(EMB, 2 * cout)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(self.conv1(x)))
        x = self.norm2(self.conv2(x))
        gamma, beta = self.film(q).chunk(2, dim=-1)
        return F.gelu(x * (1 + gamma[..., None, None]) + beta[..., None, None])


class LassNet(nn.Module):
    """U-Net of ``len(channels)`` levels (each halves frequency and time)."""

    def __init__(self, channels=(24, 48, 96, 160)) -> None:
        super().__init__()
        self.enc = nn.ModuleList()
        cin = 1
        for c in channels:
            self.enc.append(FiLMBlock(cin, c))
            cin = c
        self.mid = FiLMBlock(channels[-1], channels[-1])
        self.dec = nn.ModuleList(FiLMBlock(2 * c, c_out) for c, c_out in
                                 zip(channels[::-1], list(channels[::-1][1:]) + [channels[0]]))
        self.head = nn.Conv2d(channels[0], 1, 1)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def spec(self, wave: torch.Tensor) -> torch.Tensor:
        return torch.stft(wave, N_FFT, HOP, window=self.window, center=True, return_complex=True)

    def mask(self, logmag: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """``logmag`` [B, F, T] → mask [B, F, T] in [0, 1] (F and T padded to multiples of 2^levels for the core)."""
        multiple = 2 ** len(self.enc)
        f, t = logmag.shape[-2:]
        x = F.pad(logmag, (0, (-t) % multiple, 0, (-f) % multiple))
        return self.core(x, query)[:, :f, :t]

    def core(self, logmag: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """The exported graph: ``logmag`` [B, F, T] with F and T multiples of 2^levels → mask [B, F, T]."""
        x = logmag[:, None]
        skips = []
        for block in self.enc:
            x = block(x, query)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.mid(x, query)
        for block, skip in zip(self.dec, reversed(skips)):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(torch.cat([x, skip], 1), query)
        return torch.sigmoid(self.head(x))[:, 0]

    def forward(self, wave: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        spec = self.spec(wave)
        logmag = torch.log(spec.abs() + 1e-5)
        m = self.mask(logmag, query)
        return torch.istft(spec * m, N_FFT, HOP, window=self.window, center=True, length=wave.shape[-1])


def si_sdr(est: torch.Tensor, ref: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR (dB) per item of [B, L] signals (means removed)."""
    est, ref = est - est.mean(-1, keepdim=True), ref - ref.mean(-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    proj = scale * ref
    return 10 * torch.log10(proj.pow(2).sum(-1) / ((est - proj).pow(2).sum(-1) + eps) + eps)
