"""Train the EQ predictor on synthesised pairs; resumable, bounded in wall-clock time.

Run (here, or on the training machine with only torch and numpy):
    python models/training/train_eq.py --data .train/eq/features.npz --out .train/eq/run --minutes 8
A second run with the same ``--out`` resumes from ``checkpoint.pt``. The run
writes ``checkpoint.pt`` (resume state), ``weights.pt`` (model only, what the
export step reads) and ``metrics.json`` (validation figures per evaluation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # runs as a plain script on the training machine

from common import Checkpoint, TimeBudget, pick_device, seed_all, write_json  # noqa: E402
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of this run")
    ap.add_argument("--steps", type=int, default=60000, help="total optimiser steps (the LR schedule's length)")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--jitter-db", type=float, default=1.5, help="RMS of the smooth content jitter (training pairs)")
    ap.add_argument("--weight-decay", type=float, default=1e-3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--eval-every", type=int, default=2000)
    args = ap.parse_args(argv)
    budget, device = TimeBudget(args.minutes * 60.0), pick_device(args.device)
    seed_all(args.seed)
    data = dict(np.load(args.data))
    train = PairSampler(data, 0, device, seed=args.seed, jitter_db=args.jitter_db)
    val = PairSampler(data, 1, device, seed=args.seed + 1)
    net = EqNet(args.hidden, dropout=args.dropout).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    ckpt = Checkpoint(args.out)
    step, extra = ckpt.load(net, opt, sched)
    history = extra.get("history", [])
    print(f"device {device}, torch {torch.__version__}, {len(train)} train / {len(val)} val items, "
          f"starting at step {step}", flush=True)
    last_save = budget.elapsed()
    while step < args.steps and not budget.expired():
        feats, bands, mask, _ = train.batch(args.batch)
        loss, parts = loss_terms(net, feats, bands, mask, train.grid)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % args.eval_every == 0 or step == args.steps:
            figures = {"step": step, "seconds": round(budget.elapsed(), 1), "loss": loss.item(), **{k: v.item() for k, v in parts.items()},
                       "val": evaluate(net, val)}
            history.append(figures)
            print(figures, flush=True)
        if budget.elapsed() - last_save > 60.0:
            ckpt.save(step, net, opt, sched, {"history": history})
            last_save = budget.elapsed()
    ckpt.save(step, net, opt, sched, {"history": history})
    torch.save({"state": net.state_dict(), "hidden": args.hidden, "step": step}, args.out / "weights.pt")
    write_json(args.out / "metrics.json", {"step": step, "done": step >= args.steps, "args": vars(args) | {
        "data": str(args.data), "out": str(args.out)}, "history": history})
    print(f"stopped at step {step}/{args.steps} after {budget.elapsed():.0f} s", flush=True)


if __name__ == "__main__":
    main()
