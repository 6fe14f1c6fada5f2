"""Super-resolution network (issue 7): per-bin log-gains for the band above a cut-off, on a 48 kHz STFT.

Design: the spectral-folding baseline (:mod:`restora.dsp.band_extension`, step 1)
supplies excitation and phase above the cut-off — bin ``k >= kc`` copies bin
``kc - W + (k - kc) % W`` of the top octave, ``W`` a multiple of
``N_FFT / HOP`` so the copies stay phase-coherent from frame to frame — and
the network only predicts how loud each copied bin should be: a gain
``g`` [log10 of magnitude, i.e. dB / 20] per bin and frame. The network sees
the log-magnitude of the band below the cut-off (bins above are masked to
zero, so it cannot rely on whatever a codec left there) and the normalised
cut-off through FiLM in every block. Frames are the sequence axis (Conv1d
with the 513 bins as channels): cheap on a CPU (about 1.4 M multiply-adds
per 5.3 ms frame), and the context is causal except for one frame of
look-ahead in the first layer.

With ``flatten`` widths, a head also says, per frame, how much of the
copy's own bin-to-bin fine structure to smooth away (:func:`fine_structure`);
the gains include that, so the ONNX graph's output keeps its meaning.

Why gains over a folded copy rather than a generated spectrum: the copy keeps
the fine structure (harmonics, noise texture, transients) and a usable phase
for free, so a small network only has to learn envelopes, which is what the
folding baseline gets wrong (its fixed slope rule).

Output spectrum (:func:`extend`): every bin below ``kc`` is the input's;
from ``kc`` a raised-cosine crossover over ``CROSSOVER`` bins hands over to
the shaped copy.

Rates and shapes: 48 kHz, ``N_FFT`` 1024, ``HOP`` 256 (periodic Hann),
``BINS`` = 513; ``logmag`` [B, BINS, T] = log10(|X| + 1e-5); ``cutoff`` [B]
as a fraction of Nyquist (cut-off Hz / 24000).
"""

from __future__ import annotations

import math

import torch
from torch import nn

RATE = 48000
N_FFT = 1024
HOP = 256
BINS = N_FFT // 2 + 1
CROSSOVER = 4  # bins (188 Hz) over which the input hands over to the generated band
EPS = 1e-5
DILATIONS = (1, 2, 4, 8, 1, 2)  # one residual block each
GAIN_LIMITS = (-6.0, 2.0)  # log10 magnitude: -120 .. +40 dB relative to the folded copy
FLAT_WIDTHS = (9,)  # bins of the local mean the flattening head subtracts, one amount each (9 bins: 211 Hz)


def cutoff_bin(cutoff: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """First bin at or above the cut-off: ``cutoff`` [B] (fraction of Nyquist) → [B] long."""
    return torch.ceil(cutoff * (bins - 1) - 1e-4).long().clamp(1, bins - 1)


def low_mask(cutoff: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """[B, bins] float: 1 for bins below the cut-off bin, else 0 (ONNX-friendly: arange + compare)."""
    k = torch.arange(bins, device=cutoff.device, dtype=cutoff.dtype)
    return (k[None] < torch.ceil(cutoff[:, None] * (bins - 1) - 1e-4)).to(cutoff.dtype)


def fold_indices(kc: torch.Tensor, bins: int = BINS, step: int = N_FFT // HOP) -> torch.Tensor:
    """[B, bins] source bin per bin: itself below ``kc`` [B], the top octave translated up above it."""
    k = torch.arange(bins, device=kc.device)[None]
    kc = kc[:, None]
    width = ((kc - kc // 2) // step * step).clamp_min(step)
    src = kc - width + (k - kc).clamp_min(0) % width
    return torch.where(k < kc, k, src.clamp_min(0))


def crossover(kc: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """[B, bins] weight of the generated band: 0 below ``kc``, raised cosine up to 1 over ``CROSSOVER`` bins."""
    k = torch.arange(bins, device=kc.device)[None].float()
    t = ((k - kc[:, None].float() + 1.0) / CROSSOVER).clamp(0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(math.pi * t)


def fine_structure(logmag: torch.Tensor, cutoff: torch.Tensor, width: int) -> torch.Tensor:
    """[B, F, T]: the folded copy's log-magnitude minus its mean over ``width`` (odd) neighbouring bins.

    Why: a log-spectral distance (the benchmark's measure, and our loss) taken
    per bin punishes the copy's own random peaks and dips wherever the true
    band is noise-like, whose bins are as random but elsewhere; subtracting
    this term (times the head's 0..1 amount) keeps the copy's envelope and
    phase with a smoother magnitude.
    """
    src = fold_indices(cutoff_bin(cutoff, logmag.shape[1]), logmag.shape[1])
    copy = torch.gather(logmag, 1, src.unsqueeze(-1).expand(-1, -1, logmag.shape[2]))
    local = nn.functional.avg_pool2d(copy.unsqueeze(1), (width, 1), stride=1, padding=(width // 2, 0),
                                     count_include_pad=False).squeeze(1)
    return copy - local


class FrameNorm(nn.Module):
    """Normalisation over the channels of each frame separately ([B, C, T]), with a per-channel scale and shift.

    Unlike GroupNorm it never averages across frames, so a frame's output does
    not depend on how long the chunk around it is: chunked processing equals
    one pass wherever the chunk holds the frame's receptive field.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight[:, None] + self.bias[:, None]


class Block(nn.Module):
    """Dilated causal Conv1d over frames, per-frame normalisation, GELU, FiLM from the cut-off; residual."""

    def __init__(self, channels: int, dilation: int, cond: int) -> None:
        super().__init__()
        self.pad = 2 * dilation
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation)
        self.norm = FrameNorm(channels)
        self.film = nn.Linear(cond, 2 * channels)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.conv(nn.functional.pad(x, (self.pad, 0))))
        scale, shift = self.film(c).unsqueeze(-1).chunk(2, dim=1)
        return x + nn.functional.gelu(h * (1.0 + scale) + shift)


class SRNet(nn.Module):
    """``core(logmag [B, F, T], cutoff [B]) → gain [B, F, T]`` (log10 magnitude over the folded copy).

    ``flatten``: widths (bins) of a head predicting, per frame and width, how
    much of the copy's fine structure at that width (:func:`fine_structure`)
    to remove (0..1); empty: no head.
    """

    def __init__(self, bins: int = BINS, channels: int = 192, dilations=DILATIONS, flatten=()) -> None:
        super().__init__()
        self.bins = bins
        self.cond = nn.Sequential(nn.Linear(2, 64), nn.GELU(), nn.Linear(64, 64))
        self.inp = nn.Conv1d(bins + 1, channels, 3)  # padded (1, 1): one frame of look-ahead
        self.blocks = nn.ModuleList(Block(channels, d, 64) for d in dilations)
        self.out = nn.Conv1d(channels, bins, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.flat_widths = tuple(int(w) for w in flatten)
        self.flat = nn.Conv1d(channels, len(self.flat_widths), 1) if self.flat_widths else None
        if self.flat is not None:
            nn.init.zeros_(self.flat.weight)
            nn.init.constant_(self.flat.bias, -3.0)  # starts close to the plain copy (amount 0.05)

    def core(self, logmag: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
        mask = low_mask(cutoff, self.bins).unsqueeze(-1)  # [B, F, 1]
        # Level-free input: each frame relative to its mean log-magnitude below the cut-off.
        level = (logmag * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1.0)
        x = torch.cat([(logmag - level) * mask, level / 4.0], dim=1)
        c = self.cond(torch.stack([cutoff, cutoff * cutoff], dim=-1))
        h = nn.functional.gelu(self.inp(nn.functional.pad(x, (1, 1))))
        for block in self.blocks:
            h = block(h, c)
        gain = self.out(h)
        if self.flat is not None:
            amounts = torch.sigmoid(self.flat(h))  # [B, widths, T]
            for i, width in enumerate(self.flat_widths):
                gain = gain - amounts[:, i:i + 1] * fine_structure(logmag, cutoff, width)
        return gain.clamp(*GAIN_LIMITS)

    def forward(self, spec: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
        """Extended spectrum of ``spec`` [B, F, T] complex, cut-off [B] (fraction of Nyquist)."""
        return extend(spec, cutoff, self.core(torch.log10(spec.abs() + EPS), cutoff))


def extend(spec: torch.Tensor, cutoff: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """``spec`` [B, F, T] below the cut-off, the folded copy times ``10 ** gain`` [B, F, T] above it."""
    kc = cutoff_bin(cutoff, spec.shape[1])
    src = fold_indices(kc, spec.shape[1]).unsqueeze(-1).expand(-1, -1, spec.shape[2])
    copy = torch.gather(spec, 1, src) * torch.pow(10.0, gain)
    w = crossover(kc, spec.shape[1]).unsqueeze(-1)
    return spec * (1.0 - w) + copy * w


def start_as_identity(block: Block) -> None:
    """Make a residual block pass its input through unchanged (its normalisation's scale and shift at zero, no
    FiLM), so a block appended to a trained network starts where that network was and learns from there."""
    for p in (block.norm.weight, block.norm.bias, block.film.weight, block.film.bias):
        nn.init.zeros_(p)


def receptive_frames(dilations=DILATIONS) -> int:
    """STFT frames of context one output frame sees (input layer: 3 frames; each block: 2 * dilation more)."""
    return 3 + sum(2 * d for d in dilations)


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
