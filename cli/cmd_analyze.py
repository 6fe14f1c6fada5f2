"""``restora analyze FILE [--json]``: what a file is and how it measures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from restora.errors import UsageError


def register(sub, common) -> None:
    p = sub.add_parser("analyze", parents=[common], help="measure a file (loudness, bandwidth, DNSMOS)")
    p.add_argument("input", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON with fixed keys")
    p.add_argument("--no-dnsmos", action="store_true", help="skip the DNSMOS speech-quality model")
    p.add_argument("--dnsmos-hop", type=int, default=9, metavar="S",
                   help="seconds between DNSMOS windows (1 = the reference tool's hop; slower)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from restora.graph.analysis import analyze_file

    if not 1 <= args.dnsmos_hop <= 60:
        raise UsageError(f"--dnsmos-hop {args.dnsmos_hop} is out of range [1, 60] s")
    result = analyze_file(args.input, dnsmos=not args.no_dnsmos, dnsmos_hop_s=args.dnsmos_hop)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    dn = result["dnsmos"]
    rows = [
        ("file", str(args.input)),
        ("duration", f"{result['duration_s']:.3f} s"),
        ("sample rate", f"{result['sample_rate']} Hz"),
        ("channels", str(result["channels"])),
        ("integrated loudness", _maybe(result["lufs"], "LUFS")),
        ("true peak", _maybe(result["true_peak_db"], "dBTP")),
        ("bandwidth", _maybe(result["bandwidth_hz"], "Hz", 0)),
        ("DNSMOS SIG/BAK/OVRL", "n/a" if dn["ovrl"] is None else
         f"{dn['sig']:.2f} / {dn['bak']:.2f} / {dn['ovrl']:.2f}"),
        ("DNSMOS P.808", _maybe(dn["p808"], "")),
    ]
    for label, value in rows:
        print(f"{label:22s} {value}")
    return 0


def _maybe(value, unit: str, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} {unit}".rstrip()
