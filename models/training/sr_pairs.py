"""Super-resolution examples built on the device: full-band 48 kHz crops and band-limited copies of them.

A training example: a random crop of a stored clip (16-bit at 48 kHz), its peak
set to -30..0 dBFS, low-passed with a zero-phase filter applied on the whole
crop's FFT, at a cut-off drawn log-uniformly from 3.5 kHz to 20 kHz (never
above 92 % of the clip's own bandwidth ``top_hz``: corpus sfx at 32 kHz end
at 16 kHz, 44.1 kHz material at 22 kHz). Filter shapes (equally likely):

- brickwall: a raised-cosine edge 0.2 % of the cut-off wide;
- Butterworth-like: ``|H|^2 = 1 / (1 + (f / fc)^(2n))``, n 4..12;
- codec band limit (MP3/AAC/Opus encoders): an edge 1-4 % wide and the last
  sixth of an octave thinned by 0-12 dB (encoders starve the top bands);
- resampling: a steep edge 2-5 % wide ending at the cut-off and a stop-band
  floor at -100..-60 dB (resampler images, a decimator's leakage).

Augmentation (the clips are few — tens of minutes — while the GPU draws
thousands of hours of crops per run, so without it the network learns the
clips, not the task): per batch, with probability ``SPEED_PROB``, every crop is
played faster or slower by a factor drawn log-uniformly from ``SPEED``
(band-limited FFT resampling of a longer or shorter window: a new pitch and
tempo, and ``top_hz`` moves with it); per example, with probability
``MIX_PROB``, a second clip is added 0-12 dB under the first (the bandwidth of
the sum is the larger of the two); with probability ``TILT_PROB`` the clean
crop gets a spectral tilt of -3..+3 dB per octave around 1 kHz (at most
±12 dB), so the network must read how bright a recording is from its low
band rather than remember it.

Half the examples get a noise floor at -110..-80 dBFS after the filter
(dither, converter noise). The cut-off handed to the network is what
:func:`restora.dsp.bandwidth.estimate_bandwidth` would read, approximated
without measuring: the filter's -10 dB point (its steps 6-7 use the -10 dB
point), times a jitter per shape measured against the estimate (``JITTER``:
about ±3 % for steep edges, 0.9-1.7 for Butterworths, which read higher, where
their slope meets the noise floor).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch

RATE = 48000
LOW_HZ, HIGH_HZ = 3500.0, 20000.0
SHAPES = ("brickwall", "butterworth", "codec", "resample")
# Reported cut-off / the filter's -10 dB point, per shape (low, high; log-uniform): estimate_bandwidth on
# degraded corpus val clips read 0.975-1.005 (p10-p90) of it for brickwall and resampler edges, 0.90-1.07
# for codec edges, 0.88-1.79 (median 1.20) for Butterworths, where it finds where the slope meets the floor.
JITTER = (torch.tensor([0.97, 0.9, 0.92, 0.97]), torch.tensor([1.03, 1.7, 1.07, 1.03]))
SPEED, SPEED_PROB = (0.8, 1.25), 0.5
MIX_PROB, MIX_DB = 0.3, 12.0
TILT_PROB, TILT_DB_PER_OCTAVE, TILT_MAX_DB = 0.5, 3.0, 12.0
EDGE = 2048  # samples cut from each end of a resampled window (the FFT's wrap-around lives there)


def load_audio(npz: dict) -> np.ndarray:
    """int16 [samples] of a data file's arrays: ``audio``, or ``audio_flac`` (FLAC bytes; needs soundfile)."""
    if "audio_flac" in npz:
        import soundfile as sf  # only FLAC-packed data needs it (the GPU machine gets it as a carried wheel)

        return sf.read(io.BytesIO(np.asarray(npz["audio_flac"]).tobytes()), dtype="int16")[0]
    return np.asarray(npz["audio"])


def merged(files: list[dict]) -> dict:
    """The arrays of several data files as one (clips appended in order; offsets moved; samples decoded)."""
    audio = [load_audio(f) for f in files]
    starts = np.cumsum([0] + [len(a) for a in audio[:-1]])
    return {"audio": np.concatenate(audio), "rate": files[0]["rate"],
            "offsets": np.concatenate([np.asarray(f["offsets"]) + s for f, s in zip(files, starts)]),
            **{key: np.concatenate([np.asarray(f[key]) for f in files]) for key in ("lengths", "top_hz", "kind")}}


class SRData:
    """The arrays of ``sr.npz`` (``audio`` int16 or ``audio_flac``, ``offsets``, ``lengths``, ``top_hz``) on
    ``device``."""

    def __init__(self, npz: dict, device) -> None:
        self.device = device
        self.audio = torch.as_tensor(load_audio(npz), device=device)
        self.offsets = torch.as_tensor(np.asarray(npz["offsets"], np.int64), device=device)
        self.lengths = torch.as_tensor(np.asarray(npz["lengths"], np.int64), device=device)
        self.top_hz = torch.as_tensor(np.asarray(npz["top_hz"], np.float32), device=device)


class PairSampler:
    """Batches of ``(clean [B, N], degraded [B, N], cutoff_hz [B], top_hz [B])`` at 48 kHz."""

    def __init__(self, data: SRData, segment: int, seed: int = 0, augment: bool = True) -> None:
        self.d, self.segment, self.augment = data, segment, augment
        self.gen = torch.Generator(device=data.device)
        self.gen.manual_seed(seed)

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, generator=self.gen, device=self.d.device)

    def crops(self, clips: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """[B, size] float audio of ``clips`` [B] (size: ``segment``): a random window, zero-padded when a clip is
        shorter."""
        size = size or self.segment
        length = self.d.lengths[clips]
        start = (self._rand(len(clips)) * (length - size).clamp_min(0)).long()
        pos = torch.arange(size, device=self.d.device)[None]
        idx = (self.d.offsets[clips, None] + start[:, None] + pos).clamp_max(len(self.d.audio) - 1)
        x = self.d.audio[idx].float() / 32768.0
        return torch.where(pos < length[:, None], x, torch.zeros((), device=self.d.device))

    def _clips(self, size: int) -> torch.Tensor:
        return (self._rand(size) * len(self.d.lengths)).long().clamp_max(len(self.d.lengths) - 1)

    def batch(self, size: int):
        """``(clean, degraded, cutoff_hz, top_hz)`` of ``size`` random examples (class docstring)."""
        clips = self._clips(size)
        speed = 1.0
        if self.augment and self._rand(1).item() < SPEED_PROB:
            speed = SPEED[0] * (SPEED[1] / SPEED[0]) ** self._rand(1).item()
        x, top = self.played(clips, speed), self.d.top_hz[clips]
        if self.augment:
            x, top = self.mix(x, top, speed)
            x = self.tilt(x)
        peak_db = -30.0 * self._rand(size)
        x = x * (10.0 ** (peak_db / 20.0) / x.abs().amax(-1).clamp_min(1e-4))[:, None]
        top = (top * speed).clamp_max(0.98 * RATE / 2)
        y, cutoff = self.degrade(x, top)
        return x, y, cutoff, top

    def played(self, clips: torch.Tensor, speed: float) -> torch.Tensor:
        """[B, segment] crops of ``clips`` played ``speed`` times faster (every frequency times ``speed``)."""
        if speed == 1.0:
            return self.crops(clips)
        n_out = self.segment + 2 * EDGE
        return stretch(self.crops(clips, round(n_out * speed)), n_out)[:, EDGE:EDGE + self.segment]

    def mix(self, x: torch.Tensor, top: torch.Tensor, speed: float) -> tuple[torch.Tensor, torch.Tensor]:
        """With probability ``MIX_PROB`` per row, a second clip 0-``MIX_DB`` dB down is added to ``x`` [B, N]."""
        other = self._clips(len(x))
        on = self._rand(len(x)) < MIX_PROB
        gain = 10.0 ** (-MIX_DB * self._rand(len(x)) / 20.0) * on
        return x + gain[:, None] * self.played(other, speed), torch.where(on, torch.maximum(top, self.d.top_hz[other]),
                                                                          top)

    def tilt(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, N] with a spectral tilt (dB per octave around 1 kHz) on a random ``TILT_PROB`` of its rows."""
        freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / RATE).to(x.device).clamp_min(20.0)
        slope = TILT_DB_PER_OCTAVE * (2.0 * self._rand(len(x)) - 1.0) * (self._rand(len(x)) < TILT_PROB)
        db = (slope[:, None] * torch.log2(freqs[None] / 1000.0)).clamp(-TILT_MAX_DB, TILT_MAX_DB)
        return torch.fft.irfft(torch.fft.rfft(x) * 10.0 ** (db / 20.0), n=x.shape[-1])

    def degrade(self, x: torch.Tensor, top_hz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-pass each row of ``x`` [B, N]; returns ``(degraded [B, N], cut-off the net is told [B] Hz)``."""
        n = x.shape[-1]
        freqs = torch.fft.rfftfreq(n, 1.0 / RATE).to(x.device)
        high = torch.minimum(torch.full_like(top_hz, HIGH_HZ), 0.92 * top_hz).clamp_min(LOW_HZ * 1.1)
        fc = LOW_HZ * (high / LOW_HZ) ** self._rand(len(x))
        shape = (self._rand(len(x)) * len(SHAPES)).long().clamp_max(len(SHAPES) - 1)
        gain = filter_response(freqs, fc, shape, self._rand(len(x), 3))
        y = torch.fft.irfft(torch.fft.rfft(x) * gain, n=n)
        noisy = self._rand(len(x)) < 0.5
        floor = 10.0 ** ((-110.0 + 30.0 * self._rand(len(x))) / 20.0) * noisy
        y = y + floor[:, None] * torch.randn(x.shape, generator=self.gen, device=x.device)
        lo, hi = JITTER[0].to(x.device)[shape], JITTER[1].to(x.device)[shape]
        jitter = lo * (hi / lo) ** self._rand(len(x))
        return y, (minus10_point(freqs, gain) * jitter).clamp(LOW_HZ * 0.9, 0.98 * RATE / 2)


def stretch(x: torch.Tensor, n_out: int) -> torch.Tensor:
    """Band-limited resampling of each row of ``x`` [B, n_in] to ``n_out`` samples by truncating or zero-padding
    its spectrum: played at the same rate, every frequency is scaled by n_in / n_out; amplitudes kept."""
    spec = torch.fft.rfft(x)
    bins = n_out // 2 + 1
    spec = spec[:, :bins] if spec.shape[1] >= bins else torch.nn.functional.pad(spec, (0, bins - spec.shape[1]))
    return torch.fft.irfft(spec, n=n_out) * (n_out / x.shape[-1])


def filter_response(freqs: torch.Tensor, fc: torch.Tensor, shape: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Magnitude responses [B, F] on ``freqs`` [F] Hz: cut-off ``fc`` [B] Hz, ``shape`` [B] (index into
    ``SHAPES``), ``u`` [B, 3] uniform numbers choosing each shape's free parameters."""
    f, fc = freqs[None], fc[:, None]
    a, b, c = u[:, 0:1], u[:, 1:2], u[:, 2:3]
    width = fc * torch.where(shape[:, None] == 0, torch.full_like(a, 0.002),
                             torch.where(shape[:, None] == 2, 0.01 + 0.03 * a, 0.02 + 0.03 * a))
    edge = torch.cos(0.5 * math.pi * ((f - (fc - width)) / width).clamp(0.0, 1.0)) ** 2
    order = torch.round(4.0 + 8.0 * a)
    butter = (1.0 + (f / fc) ** (2.0 * order)).rsqrt()
    thin_db = -12.0 * b * ((f >= fc * 2.0 ** (-1 / 6)) & (f < fc))
    codec = edge * 10.0 ** (thin_db / 20.0)
    resampler = edge.clamp_min(10.0 ** ((-100.0 + 40.0 * c) / 20.0))
    s = shape[:, None]
    return torch.where(s == 0, edge, torch.where(s == 1, butter, torch.where(s == 2, codec, resampler)))


def minus10_point(freqs: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """[B] Hz: the highest frequency where the response ``gain`` [B, F] is at least -10 dB."""
    above = gain >= 10.0 ** (-10.0 / 20.0)
    last = (above * torch.arange(gain.shape[-1], device=gain.device)[None]).amax(-1)
    return freqs[last]
