"""Train the EQ predictor on synthesised pairs; resumable, bounded in wall-clock time.

Run (here, or on the training machine with only torch and numpy):
    python models/training/train_eq.py --data .train/eq/features.npz --out .train/eq/run --minutes 8
A second run with the same ``--out`` resumes from ``checkpoint.pt``. The run
writes ``checkpoint.pt`` (resume state), ``weights.pt`` (model only, what the
export step reads) and ``metrics.json`` (validation figures per evaluation).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # runs as a plain script on the training machine

from common import TimeBudget, pick_device, run_arguments, run_training, seed_all  # noqa: E402
from eq_net import EqNet, response_db  # noqa: E402
from eq_pairs import BENCH_GAIN_DB, PairSampler  # noqa: E402


def loss_terms(net: EqNet, feats, bands, mask, grid) -> tuple[torch.Tensor, dict]:
    """Parameter loss in [0, 1] units (frequency/Q weighted by how audible the band is) + curve loss."""
    u = net.normalised(feats)
    pred = net.decode(u)
    target = net.encode(bands).clamp(0.0, 1.0)
    audible = (bands[..., 1].abs() / 6.0).clamp(0.1, 1.0)
    gain = ((u[..., 1] - target[..., 1]) ** 2).mean()
    shape = (audible * ((u[..., 0] - target[..., 0]) ** 2 + 0.5 * (u[..., 2] - target[..., 2]) ** 2)).mean()
    err = (response_db(pred, grid) - response_db(bands, grid)) * mask
    curve = (err ** 2).sum() / mask.sum() / 36.0
    return gain + shape + curve, {"gain": gain.detach(), "shape": shape.detach(), "curve": curve.detach()}


@torch.no_grad()
def evaluate(net: EqNet, sampler: PairSampler, batches: int = 8, size: int = 1024) -> dict:
    """Figures on the benchmark's EQ distribution, split by known-EQ and cross pairs (fixed seed)."""
    net.eval()
    sampler.gen.manual_seed(1234)
    out = {"known": [], "cross": []}
    for _ in range(batches):
        feats, bands, mask, known = sampler.batch(size, broad=0.0)
        pred = net(feats)
        nmse = (((pred[..., 1] - bands[..., 1]) / (2 * BENCH_GAIN_DB)) ** 2).mean(-1)
        curve = (((response_db(pred, sampler.grid) - response_db(bands, sampler.grid)) ** 2 * mask).sum(-1)
                 / mask.sum(-1)).sqrt()
        gain_mae = (pred[..., 1] - bands[..., 1]).abs().mean(-1)
        for name, sel in (("known", known), ("cross", ~known)):
            out[name].append(torch.stack([nmse[sel].mean(), curve[sel].mean(), gain_mae[sel].mean()]))
    net.train()
    res = {}
    for name, rows in out.items():
        m = torch.stack(rows).mean(0).tolist()
        res[name] = {"gain_nmse": m[0], "curve_rmse_db": m[1], "gain_mae_db": m[2]}
    return res


def main(argv=None) -> None:
    ap = run_arguments(__doc__.splitlines()[0], steps=60000, batch=1024, eval_every=2000, seed=5)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--jitter-db", type=float, default=1.5, help="RMS of the smooth content jitter (training pairs)")
    ap.add_argument("--weight-decay", type=float, default=1e-3)
    args = ap.parse_args(argv)
    budget, device = TimeBudget(args.minutes * 60.0), pick_device(args.device)
    seed_all(args.seed)
    data = dict(np.load(args.data))
    train = PairSampler(data, 0, device, seed=args.seed, jitter_db=args.jitter_db)
    val = PairSampler(data, 1, device, seed=args.seed + 1)
    net = EqNet(args.hidden, dropout=args.dropout).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    print(f"device {device}, {len(train)} train / {len(val)} val items", flush=True)

    def train_step():
        feats, bands, mask, _ = train.batch(args.batch)
        return loss_terms(net, feats, bands, mask, train.grid)

    run_training(net, opt, sched, args.out, budget, args.steps, train_step, lambda: {"val": evaluate(net, val)},
                 args.eval_every, grad_clip=1.0, weights_extra={"hidden": args.hidden}, init=args.init)

if __name__ == "__main__":
    main()
