"""``restora extract IN --query TEXT -o OUT [--residual OUT2]``: keep or remove what a text query names.

``-o`` gets what ``--mode`` asks for (the target when extracting, the rest when
removing), ``--residual`` the other part; the two sum to the input. ``--json``
prints how well the model understood the query. A query outside what the model
knows still runs (exit 0) but warns, and the JSON says ``"confident": false``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from restora.errors import UsageError

log = logging.getLogger("restora")


def register(sub, common) -> None:
    from restora.cli.cmd_process import add_format_options

    p = sub.add_parser("extract", parents=[common], help="keep or remove what a text query names",
                       description="Language-queried extraction: -o gets what the query names (--mode extract) "
                                   "or everything else (--mode remove); --residual gets the other part.")
    p.add_argument("input", type=Path, help="input audio or video file")
    p.add_argument("--query", required=True, help='what to extract or remove, e.g. "dog barking"')
    p.add_argument("--mode", choices=["extract", "remove"], default="extract")
    p.add_argument("--strength", type=float, default=1.0, metavar="0..1",
                   help="0 = input unchanged, 1 = full separation (default 1)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file")
    p.add_argument("--residual", type=Path, metavar="OUT2", help="also write the other part here")
    p.add_argument("--json", action="store_true", help="print the query's confidence and nearest concepts")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    add_format_options(p)
    p.set_defaults(func=run)


def extract_preset(query: str, mode: str, strength: float, threads: int, residual: bool):
    """The one-node graph: ``main`` (and ``residual``: the other part) of an ``extract`` node."""
    from restora.graph.preset import preset_from_dict

    other = "ex.residual" if mode == "extract" else "ex.target"
    outputs = {"main": "ex", **({"residual": other} if residual else {})}
    return preset_from_dict({"restora_preset": 1, "name": "extract", "outputs": outputs, "nodes": [
        {"id": "ex", "type": "extract", "params": {"query": query, "mode": mode, "strength": strength,
                                                    "threads": threads}}]}, "restora extract")


def _paths(args) -> dict[str, Path]:
    """Output name → file: ``main`` at ``-o``, ``residual`` at ``--residual`` (formats as in ``process``)."""
    from restora.cli.cmd_process import main_and_second_paths

    return main_and_second_paths(args.output, args.residual, args.format, "residual", "--residual")


def run(args: argparse.Namespace) -> int:
    from restora.cli.cmd_process import output_options, providers_note
    from restora.cli.progress import FileProgress
    from restora.graph.file_job import process_file
    from restora.models.lass import extractor

    if not args.query.strip():
        raise UsageError('--query is empty: say what to extract, e.g. --query "dog barking"')
    if not 0.0 <= args.strength <= 1.0:
        raise UsageError(f"--strength {args.strength:g} is out of range [0, 1]")
    from restora.cli.cmd_process import check_threads

    check_threads(args.threads)
    info = extractor(args.threads).understand(args.query)  # the node warns when it is not confident
    preset = extract_preset(info.text, args.mode, args.strength, args.threads, bool(args.residual))
    show = not getattr(args, "quiet", False) and sys.stderr.isatty() and not args.json
    with FileProgress(args.input.name, enabled=show) as bar:
        result = process_file(preset, args.input, args.output, output_options(args), progress=bar.update,
                              paths=_paths(args))
    for name, path in result.outputs.items():
        log.info("wrote %s (%s)", path, name)
    rtf = result.real_time_factor
    log.info("%.1f s of audio in %.1f s (real-time factor %s)%s", result.duration_s, result.seconds,
             f"{rtf:.3f}" if rtf is not None else "n/a", providers_note())
    if args.json:
        print(json.dumps({"query": info.text, "confidence": round(info.confidence, 3), "confident": info.confident,
                          "nearest": [{"concept": c, "similarity": s} for c, s in info.nearest],
                          "mode": args.mode, "strength": args.strength,
                          "outputs": {k: str(v) for k, v in result.outputs.items()},
                          "real_time_factor": rtf}, indent=2))
    return 0
