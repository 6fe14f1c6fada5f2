"""Train the super-resolution network; resumable across runs, bounded in wall-clock time.

    python models/training/train_sr.py --data .train/sr/sr_shard0.npz --val .train/sr/sr_val.npz \
        --out .train/sr_runs/run1 --minutes 8.5
A second run with the same ``--out`` resumes (same ``--steps``: the LR schedule spans all runs); it
may take another shard.

Loss (both only over the band the network fills, from the cut-off up to the
clean clip's own bandwidth ``top_hz``; the band below is copied and needs none):
an L1 distance of log-power spectra in dB (the log-spectral distance's L1
form) on the network's STFT, plus a multi-resolution term: the same L1 on
STFTs of the resynthesised waveform at 512 and 2048 points, which judges what
overlap-add actually makes of the generated bins (phase and frame-to-frame
consistency) at other time/frequency resolutions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (TimeBudget, adamw_one_cycle, held_out_figures, pick_device, run_arguments,  # noqa: E402
                    run_training, seed_all)
from sr_net import DILATIONS, EPS, FLAT_WIDTHS, HOP, N_FFT, RATE, SRNet, extend, start_as_identity  # noqa: E402
from sr_pairs import PairSampler, SRData, merged  # noqa: E402

MR_SIZES = (512, 2048)
MR_WEIGHT = 0.5


def stft(x: torch.Tensor, n_fft: int = N_FFT) -> torch.Tensor:
    """[B, N] → [B, n_fft/2+1, frames] complex (periodic Hann, hop n_fft/4, centred)."""
    window = torch.hann_window(n_fft, device=x.device)
    return torch.stft(x, n_fft, n_fft // 4, window=window, return_complex=True)


def istft(spec: torch.Tensor, length: int, n_fft: int = N_FFT) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=spec.device)
    return torch.istft(spec, n_fft, n_fft // 4, window=window, length=length)


def band_mask(bins: int, low_hz: torch.Tensor, high_hz: torch.Tensor) -> torch.Tensor:
    """[B, bins, 1] float: 1 for bins (of a 48 kHz spectrum) in [low_hz, high_hz), per row [B] Hz."""
    f = torch.arange(bins, device=low_hz.device)[None] * (RATE / 2 / (bins - 1))
    return ((f >= low_hz[:, None]) & (f < high_hz[:, None])).float().unsqueeze(-1)


FLOOR_DB = -90.0  # relative to the reference's loudest bin: what lies lower is inaudible, not worth learning


def db_difference(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Power difference in dB, elementwise, of complex spectra [B, F, T].

    A floor ``FLOOR_DB`` under the loudest bin of each row of ``ref`` is added to both powers (added,
    not clamped, so gradients never vanish). The benchmark floors at a fixed -100 dB on material
    peaking at -1 dBFS; training levels vary by 30 dB, so here the floor follows the level.
    """
    p_ref = ref.abs() ** 2
    floor = p_ref.amax((1, 2), keepdim=True).clamp_min(1e-20) * 10.0 ** (FLOOR_DB / 10.0)
    return 10.0 * torch.log10(est.abs() ** 2 + floor) - 10.0 * torch.log10(p_ref + floor)


def band_db_l1(est: torch.Tensor, ref: torch.Tensor, low_hz: torch.Tensor, high_hz: torch.Tensor) -> torch.Tensor:
    """Mean |dB difference| of power over bins in [low_hz, high_hz) (per row [B] Hz) and all frames: [B]."""
    band = band_mask(est.shape[1], low_hz, high_hz)
    diff = db_difference(est, ref).abs()
    return (diff * band).sum((1, 2)) / (band.sum((1, 2)) * est.shape[2]).clamp_min(1.0)


def lsd_db(est: torch.Tensor, ref: torch.Tensor, low_hz: torch.Tensor, high_hz: torch.Tensor) -> torch.Tensor:
    """Log-spectral distance [B] dB over the band: per frame the RMS dB difference, averaged over frames."""
    band = band_mask(est.shape[1], low_hz, high_hz)
    d2 = db_difference(est, ref) ** 2
    per_frame = ((d2 * band).sum(1) / band.sum(1).clamp_min(1.0) + 1e-6).sqrt()  # 1e-6: finite gradient at 0
    return per_frame.mean(-1)


def losses(net: SRNet, clean, degraded, cutoff_hz, top_hz, autocast: bool, form: str = "l1"):
    """``(loss, {parts})`` for one batch; all signals [B, N] at 48 kHz, cut-offs [B] Hz.

    ``form``: ``l1`` (:func:`band_db_l1`) or ``lsd`` (:func:`lsd_db`, the benchmark's per-frame RMS form).
    """
    distance = band_db_l1 if form == "l1" else lsd_db
    ref, spec = stft(clean), stft(degraded)
    logmag = torch.log10(spec.abs() + EPS)
    cutoff = cutoff_hz / (RATE / 2)
    with torch.autocast(clean.device.type, dtype=torch.bfloat16, enabled=autocast):
        gain = net.core(logmag, cutoff).float()
    out = extend(spec, cutoff, gain)
    main = distance(out, ref, cutoff_hz, top_hz).mean()
    wave = istft(out, clean.shape[-1])
    mr = sum(distance(stft(wave, n), stft(clean, n), cutoff_hz, top_hz).mean() for n in MR_SIZES) / len(MR_SIZES)
    return (main + MR_WEIGHT * mr) / 10.0, {f"{form}_db": main.detach(), f"mr_{form}_db": mr.detach()}


@torch.no_grad()
def evaluate(net: SRNet, sampler: PairSampler, batches: int = 4, size: int = 16) -> dict:
    """Held-out high-band LSD (dB) of the network and of the plain folded copy (gain 0), fixed examples."""
    net.eval()
    sampler.gen.manual_seed(4321)
    ours, fold = [], []
    for _ in range(batches):
        clean, degraded, cutoff_hz, top_hz = sampler.batch(size)
        ref, spec = stft(clean), stft(degraded)
        cutoff = cutoff_hz / (RATE / 2)
        ours.append(lsd_db(net(spec, cutoff), ref, cutoff_hz, top_hz))
        fold.append(lsd_db(extend(spec, cutoff, torch.zeros(spec.shape, device=spec.device)), ref, cutoff_hz,
                           top_hz))
    net.train()
    return {"lsd_high_db": torch.cat(ours).mean().item(), "lsd_high_fold_db": torch.cat(fold).mean().item()}


def grow_from(net: SRNet, init: Path) -> dict:
    """Start ``net`` from a smaller trained network's ``weights.pt``: same width, the saved blocks first.

    Blocks the saved network lacks (appended dilations) start as identities
    and a flattening head the saved one lacks starts near zero, so step 0
    reproduces the saved network. Returns the history entry for ``weights.pt``.
    """
    saved = torch.load(init, map_location="cpu", weights_only=False)
    state = dict(saved["state"])
    old_flat = {k: state.pop(k) for k in ("flat.weight", "flat.bias") if k in state}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if old_flat and net.flat is not None:  # the saved head's widths come first; further widths start near off
        with torch.no_grad():
            n = old_flat["flat.bias"].shape[0]
            net.flat.weight[:n], net.flat.bias[:n] = old_flat["flat.weight"], old_flat["flat.bias"]
            net.flat.bias[n:] = -6.0
        missing = [k for k in missing if not k.startswith("flat.")]
    grown = sorted({int(k.split(".")[1]) for k in missing if k.startswith("blocks.")})
    if unexpected or any(not k.startswith(("blocks.", "flat.")) for k in missing):
        raise SystemExit(f"{init} does not fit this network: missing {missing}, unexpected {unexpected}")
    for i in grown:
        start_as_identity(net.blocks[i])
    return {"init": str(init), "init_step": saved.get("step"), "grown_blocks": grown}


def main(argv=None) -> None:
    ap = run_arguments(__doc__.splitlines()[0], steps=20000, batch=32, eval_every=500, seed=7)
    ap.add_argument("--val", type=Path, help="sr_val.npz: held-out clips (corpus val split)")
    ap.add_argument("--seconds", type=float, default=1.0, help="training segment length")
    ap.add_argument("--more-data", type=Path, nargs="*", default=[], help="further data files, used with --data")
    ap.add_argument("--channels", type=int, default=192, help="network width (stored with the weights)")
    ap.add_argument("--dilations", default=",".join(map(str, DILATIONS)),
                    help="comma list, one residual block per entry (stored with the weights)")
    ap.add_argument("--flatten", nargs="?", const=",".join(map(str, FLAT_WIDTHS)), default="",
                    help="add the fine-structure flattening head; optional comma list of widths in bins (stored)")
    ap.add_argument("--loss", choices=("l1", "lsd"), default="l1", help="distance form (losses)")
    ap.add_argument("--grow", type=Path, help="weights.pt of a smaller network to start from (grow_from)")
    args = ap.parse_args(argv)
    budget, device = TimeBudget(args.minutes * 60.0), pick_device(args.device)
    seed_all(args.seed)
    data = SRData(merged([dict(np.load(f)) for f in [args.data, *args.more_data]]), device)
    segment = int(args.seconds * RATE) // HOP * HOP
    train = PairSampler(data, segment, seed=args.seed)
    probe = PairSampler(data, segment, seed=args.seed + 1, augment=False)
    held_out = PairSampler(SRData(dict(np.load(args.val)), device), segment, augment=False) if args.val else None
    dilations = tuple(int(d) for d in args.dilations.split(","))
    flatten = tuple(int(w) for w in args.flatten.split(",") if w)
    net = SRNet(channels=args.channels, dilations=dilations, flatten=flatten)
    grown = grow_from(net, args.grow) if args.grow else None
    net = net.to(device)
    opt, sched = adamw_one_cycle(net, args.lr, args.steps)
    autocast = device.type == "cuda"
    print(f"device {device}, {len(data.lengths)} clips, {len(data.audio) / RATE / 60:.1f} min", flush=True)

    def train_step():
        clean, degraded, cutoff_hz, top_hz = train.batch(args.batch)
        return losses(net, clean, degraded, cutoff_hz, top_hz, autocast, args.loss)

    figures = held_out_figures(lambda sampler: evaluate(net, sampler), probe, held_out, "train_clips")
    run_training(net, opt, sched, args.out, budget, args.steps, train_step, figures, args.eval_every, grad_clip=5.0,
                 weights_extra={"n_fft": N_FFT, "hop": HOP, "rate": RATE, "channels": args.channels,
                                "dilations": list(dilations), "flatten": list(flatten),
                                **({"grown_from": grown} if grown else {})}, init=args.init)


if __name__ == "__main__":
    main()
