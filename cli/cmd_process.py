"""``restora process IN -o OUT --preset NAME|FILE`` and ``restora presets``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from restora.cli.report import file_report, write_text_atomic
from restora.errors import UsageError

log = logging.getLogger("restora")


def add_output_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``process`` and ``batch``: the preset and the written files."""
    p.add_argument("--preset", required=True, help="built-in preset name or a preset .json file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE_ID.PARAM=VALUE",
                   help="override a node parameter (repeatable); also NODE_ID.mix and NODE_ID.bypass")
    add_format_options(p)


def add_format_options(p: argparse.ArgumentParser) -> None:
    """Options for the written files (format, bit depth, rate, quality, overwrite)."""
    p.add_argument("--format", choices=["wav", "flac", "ogg", "opus", "mp3", "aiff"],
                   help="output format (default: from the -o extension, else the input's)")
    p.add_argument("--bit-depth", choices=["16", "24", "32", "float"],
                   help="16/24/32-bit integer or 32-bit float for WAV/AIFF; 16/24 for FLAC "
                        "(default: the source's)")
    p.add_argument("--sample-rate", type=int, metavar="HZ",
                   help="output sample rate (default: the source's)")
    p.add_argument("--quality", type=float, metavar="0..1",
                   help="lossy quality, 0 (smallest) to 1 (best)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def output_options(args: argparse.Namespace):
    """Validated OutputOptions from parsed arguments (UsageError on absurd values)."""
    from restora.graph.file_job import OutputOptions

    if args.sample_rate is not None and not 8000 <= args.sample_rate <= 384000:
        raise UsageError(f"--sample-rate {args.sample_rate} is out of range [8000, 384000] Hz")
    if args.quality is not None and not 0.0 <= args.quality <= 1.0:
        raise UsageError(f"--quality {args.quality} is out of range [0, 1]")
    bit_depth = None if args.bit_depth is None else (
        args.bit_depth if args.bit_depth == "float" else int(args.bit_depth))
    return OutputOptions(format=args.format, bit_depth=bit_depth, sample_rate=args.sample_rate,
                         quality=args.quality, overwrite=args.overwrite)


def main_and_second_paths(main: Path, second: Path | None, fmt: str | None, name: str,
                          option: str) -> dict[str, Path]:
    """``{"main": file}`` plus ``{name: file}`` when ``second`` is given (``--format`` applied);
    ``option`` names the second file's flag in the error when both name the same file."""
    from restora.graph.file_job import output_file

    paths = {"main": output_file(main, fmt)}
    if second:
        paths[name] = output_file(second, fmt)
        if paths[name].resolve() == paths["main"].resolve():
            raise UsageError(f"-o and {option} name the same file")
    return paths


def load_with_overrides(args: argparse.Namespace):
    """The preset named by ``--preset`` with ``--set`` applied."""
    from restora.graph.preset import load_preset

    preset = load_preset(args.preset)
    return preset.with_overrides(args.overrides) if args.overrides else preset


def register(sub, common) -> None:
    p = sub.add_parser("process", parents=[common], help="process one file with a preset",
                       description="Process one file. A graph with one output writes the file named by -o; "
                                   "a graph with several outputs treats -o as a folder and writes "
                                   "<output-name>.<ext> inside it.")
    p.add_argument("input", type=Path, help="input audio or video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file (or folder)")
    add_output_options(p)
    p.add_argument("--report", type=Path, metavar="FILE.json", help="write measurements as JSON")
    p.add_argument("--learn-noise", metavar="START-END",
                   help="seconds of noise-only input (e.g. 0-1.5) every de-noise-profile node learns from")
    p.set_defaults(func=run)
    pr = sub.add_parser("presets", parents=[common], help="list the built-in presets")
    pr.set_defaults(func=run_presets)


def run(args: argparse.Namespace) -> int:
    from restora.cli.progress import FileProgress
    from restora.graph.file_job import process_file

    preset = load_with_overrides(args)
    if getattr(args, "learn_noise", None):
        preset = preset.with_overrides(learn_noise_overrides(preset, args.learn_noise))
    options = output_options(args)
    with FileProgress(args.input.name, enabled=_show_progress(args)) as bar:
        result = process_file(preset, args.input, args.output, options, progress=bar.update,
                               meter_input=bool(args.report), meter_output=bool(args.report))
    for name, path in result.outputs.items():
        log.info("wrote %s (%s)", path, name)
        if result.clipped.get(name):
            log.warning("warning: %d samples of %s exceeded full scale and were clipped",
                        result.clipped[name], path)
    rtf = result.real_time_factor
    log.info("%.1f s of audio in %.1f s (real-time factor %s)%s", result.duration_s, result.seconds,
             f"{rtf:.3f}" if rtf is not None else "n/a", providers_note())
    if args.report:
        write_text_atomic(args.report, json.dumps(file_report(result, preset), indent=2))
    return 0


def learn_noise_overrides(preset, text: str) -> list[str]:
    """``--set`` assignments giving every ``de-noise-profile`` node of ``preset`` the range ``START-END`` (s)."""
    start, sep, end = text.partition("-")
    try:
        start_s, end_s = float(start), float(end)
    except ValueError:
        raise UsageError(f"--learn-noise {text!r}: expected START-END in seconds, e.g. 0-1.5") from None
    if not sep:
        raise UsageError(f"--learn-noise {text!r}: expected START-END in seconds, e.g. 0-1.5")
    ids = [s.id for s in preset.nodes if s.type == "de-noise-profile"]
    if not ids:
        raise UsageError(f"--learn-noise: preset {preset.name!r} has no de-noise-profile node")
    # A profile file would take precedence over the range: clear it, the user asked to learn.
    return [f"{i}.{name}={value}" for i in ids for name, value in
            (("learn_start_s", repr(start_s)), ("learn_end_s", repr(end_s)), ("profile", ""))]


def providers_note() -> str:
    """`` on CPUExecutionProvider`` etc.: where this process's models actually ran."""
    from restora.models.session import PROVIDERS_USED

    return f"; models ran on {', '.join(sorted(PROVIDERS_USED))}" if PROVIDERS_USED else ""


def _show_progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def run_presets(args: argparse.Namespace) -> int:
    from restora.graph.preset import builtin_names, load_preset

    for name in builtin_names():
        preset = load_preset(name)
        outputs = ", ".join(preset.outputs)
        print(f"{name:20s} outputs: {outputs}\n{'':20s} {preset.description}")
    return 0


def check_threads(threads: int) -> None:
    """Usage error for an ONNX Runtime thread count outside what the model nodes accept (1..16)."""
    if not 1 <= threads <= 16:
        raise UsageError(f"--threads {threads} is out of range [1, 16]")
