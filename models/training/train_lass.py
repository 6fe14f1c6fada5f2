"""Train the query-conditioned extraction network; resumable across runs, bounded in wall-clock time.

    python models/training/train_lass.py --data .train/lass/lass.npz --out .train/lass/run --minutes 8.5
A second run with the same ``--out`` resumes (same ``--steps``: the LR schedule spans all runs).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (TimeBudget, adamw_one_cycle, held_out_figures, pick_device, run_arguments,  # noqa: E402
                    run_training, seed_all)
from lass_net import LassNet, si_sdr  # noqa: E402
from lass_pairs import LassData, MixtureSampler  # noqa: E402


def losses(net, mixture, target, query, autocast: bool) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.autocast(mixture.device.type, dtype=torch.bfloat16, enabled=autocast):
        est = net(mixture, query).float()
    sdr = si_sdr(est, target)
    res = si_sdr(mixture - est, mixture - target)
    return -(sdr.mean() + 0.3 * res.mean()), sdr.detach()


@torch.no_grad()
def evaluate(net, sampler: MixtureSampler, batches: int = 8, size: int = 32) -> dict:
    net.eval()
    sampler.gen.manual_seed(4321)
    gains = []
    for _ in range(batches):
        mixture, target, query, _ = sampler.batch(size)
        est = net(mixture, query)
        has_background = (mixture - target).pow(2).sum(-1) > 1e-6 * mixture.pow(2).sum(-1)
        gains.append((si_sdr(est, target) - si_sdr(mixture, target))[has_background])
    net.train()
    g = torch.cat(gains)
    return {"si_sdri_db": g.mean().item(), "si_sdri_median_db": g.median().item()}


def main(argv=None) -> None:
    ap = run_arguments(__doc__.splitlines()[0], steps=40000, batch=32, eval_every=1000, seed=6)
    ap.add_argument("--val", type=Path, help="lass_val.npz: held-out recordings and caption templates")
    ap.add_argument("--seconds", type=float, default=3.0, help="training segment length")
    ap.add_argument("--rirs", type=Path, help="rirs.npz: room responses for reverberation augmentation")
    ap.add_argument("--no-query-jitter", action="store_true", help="train on the exact caption embeddings")
    ap.add_argument("--captions", type=Path, help="lass_captions.npz when --data is a shard")
    args = ap.parse_args(argv)
    budget, device = TimeBudget(args.minutes * 60.0), pick_device(args.device)
    seed_all(args.seed)
    arrays = dict(np.load(args.data))
    if args.captions:  # a shard: its clips, with the concept and caption tables of the whole set
        arrays.update(dict(np.load(args.captions)))
    data = LassData(arrays, device)
    rate = int(arrays["rate"])
    rirs = np.load(args.rirs)["rir"] if args.rirs else None
    train = MixtureSampler(data, int(args.seconds * rate), seed=args.seed, rirs=rirs,
                           query_jitter=not args.no_query_jitter)
    probe = MixtureSampler(data, int(args.seconds * rate), seed=args.seed + 1)
    held_out = MixtureSampler(LassData(dict(np.load(args.val)), device), int(args.seconds * rate)) if args.val else None
    net = LassNet().to(device)
    opt, sched = adamw_one_cycle(net, args.lr, args.steps)
    autocast = device.type == "cuda"
    print(f"device {device}, {len(data.lengths)} clips, {len(data.concepts)} concepts", flush=True)

    def train_step():
        mixture, target, query, _ = train.batch(args.batch)
        loss, _ = losses(net, mixture, target, query, autocast)
        return loss, {}

    figures = held_out_figures(lambda sampler: evaluate(net, sampler), probe, held_out, "train_mixtures")
    run_training(net, opt, sched, args.out, budget, args.steps, train_step, figures, args.eval_every, grad_clip=5.0,
                 init=args.init)

if __name__ == "__main__":
    main()
