"""``restora eq-match IN --reference REF``: fit EQ bands that give IN the long-term tone of REF.

JSON band types use the issue's names (``low_shelf``, ``high_shelf``); the eq
node and saved presets use its own (``lowshelf``, ``highshelf``). Both are
accepted wherever this module reads them.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from restora.cli.report import write_text_atomic
from restora.errors import UsageError

log = logging.getLogger("restora")
JSON_NAMES = {"lowshelf": "low_shelf", "highshelf": "high_shelf"}
NODE_NAMES = {v: k for k, v in JSON_NAMES.items()}


def register(sub, common) -> None:
    p = sub.add_parser("eq-match", parents=[common], help="fit EQ bands that match a reference's tone",
                       description="Predict peak/shelf EQ bands so IN sounds tonally like REF: the trained "
                                   "predictor's guess refined by a least-squares fit to the smoothed "
                                   "spectral difference (--method hybrid, the default).")
    p.add_argument("input", type=Path, help="source audio file")
    p.add_argument("--reference", type=Path, required=True, help="reference recording (any content)")
    p.add_argument("--bands", type=int, default=6, metavar="N", help="number of bands, 1..12 (default 6)")
    p.add_argument("--amount", type=float, default=100.0, metavar="PCT",
                   help="scale the fitted gains, 0..100 %% (default 100)")
    p.add_argument("--method", choices=("hybrid", "fit", "network"), default="hybrid",
                   help="hybrid: network guess refined by the fit (default); fit: least squares alone; "
                        "network: the trained predictor's bands alone (at most 4)")
    p.add_argument("--json", action="store_true", help="print the bands and match error as JSON")
    p.add_argument("-o", "--output", type=Path, help="write the EQ'd source here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing -o file")
    p.add_argument("--save-preset", type=Path, metavar="FILE", help="write the bands as an eq preset")
    p.set_defaults(func=run)


def band_json(band) -> dict:
    """A band as the JSON object ``{"type", "freq_hz", "gain_db", "q"}`` (issue's type names)."""
    return {"type": JSON_NAMES.get(band.type, band.type), "freq_hz": band.freq_hz,
            "gain_db": band.gain_db, "q": band.q}


def eq_preset(bands, name: str = "eq-match"):
    """A one-node preset (``eq`` node ``eq``) holding ``bands``; unused bands are off."""
    from restora.graph.nodes_basic import EQ_BANDS
    from restora.graph.preset import NodeSpec, Preset

    params = {}
    for i in range(1, EQ_BANDS + 1):
        b = bands[i - 1] if i <= len(bands) else None
        params[f"band{i}_type"] = NODE_NAMES.get(b.type, b.type) if b else "off"
        if b:
            params.update({f"band{i}_freq_hz": b.freq_hz, f"band{i}_gain_db": b.gain_db, f"band{i}_q": b.q})
    return Preset(name=name, nodes=[NodeSpec(id="eq", type="eq", params=params)], outputs={"main": "eq"},
                  description="EQ fitted by restora eq-match")


def _rounded(bands):
    from dataclasses import replace

    # Rounded once, so the JSON, the preset and the written file all use the same numbers.
    return [replace(b, freq_hz=round(b.freq_hz, 1), gain_db=round(b.gain_db, 2), q=round(b.q, 3)) for b in bands]


def run(args: argparse.Namespace) -> int:
    from restora.dsp import eq_match as em

    if not 1 <= args.bands <= 12:
        raise UsageError(f"--bands {args.bands} is out of range [1, 12]")
    if not 0.0 <= args.amount <= 100.0:
        raise UsageError(f"--amount {args.amount:g} is out of range [0, 100] %")
    source = em.spectrum_of_file(args.input, f"source {args.input}")
    reference = em.spectrum_of_file(args.reference, f"reference {args.reference}")
    bands = _rounded(em.apply_amount(em.match_bands(source, reference, args.bands, args.method), args.amount))
    before, after = em.match_error_db(source, reference), em.match_error_db(source, reference, bands)
    preset = eq_preset(bands)
    if args.save_preset:
        write_text_atomic(args.save_preset, json.dumps(preset.to_json(), indent=2) + "\n")
        log.info("wrote preset %s", args.save_preset)
    if args.output:
        from restora.graph.file_job import OutputOptions, process_file

        result = process_file(preset, args.input, args.output, OutputOptions(overwrite=args.overwrite))
        for path in result.outputs.values():
            log.info("wrote %s", path)
    if args.json:
        print(json.dumps({"bands": [band_json(b) for b in bands], "match_error_db": round(after, 3),
                          "match_error_before_db": round(before, 3), "amount_pct": args.amount,
                          "method": args.method}, indent=2))
        return 0
    print(f"{'band':>4s}  {'type':10s} {'freq':>9s} {'gain':>8s} {'Q':>6s}")
    for i, b in enumerate(bands, 1):
        print(f"{i:4d}  {JSON_NAMES.get(b.type, b.type):10s} {b.freq_hz:7.1f}Hz {b.gain_db:+6.2f}dB {b.q:6.3f}")
    print(f"match error: {before:.2f} dB before, {after:.2f} dB after (amount {args.amount:g} %)")
    return 0
