"""``restora upscale IN -o OUT [--target-rate 48000] [--cutoff auto|HZ] [--method fold|neural] [--json]``.

Audio super-resolution: the input is resampled to ``--target-rate`` and the
empty band above its cut-off (measured on the first 20 s, or ``--cutoff``)
is restored by the ``upscale`` node (:mod:`restora.graph.nodes_upscale`):
``--method fold`` (DSP) or ``neural`` (the ``sr-extender`` model; when it
is not installed the command stops with a ModelError, exit 5, before any
file is written);
``--generated`` also writes the restored band alone. The output is never at
a lower rate than the input: a lower ``--target-rate`` prints a note and
keeps the input's rate. An input that already reaches 20 kHz (or its
Nyquist) is only resampled. Files are written all-or-nothing like
``restora process``. ``--json`` prints the cut-off, whether a band was
added, the rates and the method.
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
    from restora.graph.upscale_methods import DEFAULT_METHOD, METHODS

    p = sub.add_parser("upscale", parents=[common], help="restore the missing high band (super-resolution)",
                       description="Resample to --target-rate and restore the empty band above the input's "
                                   "cut-off; --generated also writes the restored band alone.")
    p.add_argument("input", type=Path, help="input audio or video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file")
    p.add_argument("--target-rate", type=int, default=48000, metavar="HZ",
                   help="output sample rate, never lower than the input's (default 48000)")
    p.add_argument("--cutoff", default="auto", metavar="auto|HZ",
                   help="where the input's content ends: auto (measured on the first 20 s) or Hz")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help="fold: spectral translation of the octave below the cut-off; neural: the trained "
                        f"sr-extender model, restoring up to 24 kHz (default {DEFAULT_METHOD})")
    p.add_argument("--generated", type=Path, metavar="OUT2", help="also write the restored band alone here")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for the neural method (default 1)")
    p.add_argument("--json", action="store_true", help="print the cut-off, rates and method as JSON")
    add_format_options(p)
    p.set_defaults(func=run)


def upscale_preset(target_rate: int, cutoff: str, method: str, generated: bool, threads: int = 1):
    """The one-node graph: ``main`` (and ``generated``, the restored band) of an ``upscale`` node."""
    from restora.graph.preset import preset_from_dict

    outputs = {"main": "up", **({"generated": "up.generated"} if generated else {})}
    return preset_from_dict({"restora_preset": 1, "name": "upscale", "outputs": outputs, "nodes": [
        {"id": "up", "type": "upscale", "params": {"target_rate": target_rate, "cutoff": cutoff,
                                                    "method": method, "threads": threads}}]}, "restora upscale")


def checked_settings(target_rate: int, cutoff: str, input_rate: int) -> tuple[int, float | None]:
    """``(graph rate Hz, cut-off Hz or None for auto)`` for an input at ``input_rate``; UsageError when absurd."""
    from restora.graph.node import ParameterError
    from restora.graph.nodes_upscale import MAX_RATE, MIN_CUTOFF_HZ, MIN_RATE, parse_cutoff

    if not MIN_RATE <= target_rate <= MAX_RATE:
        raise UsageError(f"--target-rate {target_rate} is out of range [{MIN_RATE}, {MAX_RATE}] Hz")
    rate = max(target_rate, input_rate)
    if target_rate < input_rate:
        log.warning("note: --target-rate %d Hz is below the input's %d Hz; the output keeps %d Hz "
                    "(upscaling never lowers the rate)", target_rate, input_rate, input_rate)
    try:
        hz = parse_cutoff(cutoff)
    except ParameterError as exc:
        raise UsageError(f"--cutoff: {exc}") from None
    if hz is not None and hz >= input_rate / 2:
        raise UsageError(f"--cutoff {hz:g} Hz is not below the input's Nyquist frequency {input_rate / 2:g} Hz")
    if hz is not None and hz < MIN_CUTOFF_HZ:
        raise UsageError(f"--cutoff {hz:g} Hz is below {MIN_CUTOFF_HZ:g} Hz: too little band to extend from")
    return rate, hz


def _paths(args) -> dict[str, Path]:
    """Output name → file: ``main`` at ``-o``, ``generated`` at ``--generated``."""
    from restora.cli.cmd_process import main_and_second_paths

    return main_and_second_paths(args.output, args.generated, args.format, "generated", "--generated")


def _measured(result) -> dict[str, float | None]:
    return {m.name: m.value for m in result.measurements.get("up", [])}


def run(args: argparse.Namespace) -> int:
    from restora.cli.cmd_process import output_options
    from restora.cli.progress import FileProgress
    from restora.dsp import audio_io
    from restora.graph.file_job import process_file

    options = output_options(args)
    paths = _paths(args)
    info = audio_io.probe(args.input)  # missing or unreadable input: AudioInputError (exit 3)
    rate, hz = checked_settings(args.target_rate, args.cutoff, info.sample_rate)
    from restora.cli.cmd_process import check_threads

    check_threads(args.threads)
    if args.method == "neural":  # a missing model: one ModelError line (exit 5) before anything is written
        from restora.models import sr_extender
        sr_extender.extender(args.threads)
    preset = upscale_preset(rate, "auto" if hz is None else repr(hz), args.method, bool(args.generated), args.threads)
    show = not getattr(args, "quiet", False) and sys.stderr.isatty() and not args.json
    with FileProgress(args.input.name, enabled=show) as bar:
        result = process_file(preset, args.input, args.output, options, progress=bar.update, paths=paths)
    measured = _measured(result)
    written = {name: audio_io.probe(path).sample_rate for name, path in result.outputs.items()}
    for name, path in result.outputs.items():
        log.info("wrote %s (%s, %d Hz)", path, name, written[name])
    cutoff = measured.get("cutoff_hz")
    log.info("cut-off %s (%s); %s", "n/a (silent)" if cutoff is None else f"{cutoff:.0f} Hz",
             "measured" if hz is None else "given",
             "high band restored" if measured.get("extended") else "already full band: resampled only")
    rtf = result.real_time_factor
    log.info("%.1f s of audio in %.1f s (real-time factor %s)", result.duration_s, result.seconds,
             f"{rtf:.3f}" if rtf is not None else "n/a")
    if args.json:
        print(json.dumps({"cutoff_hz": cutoff, "cutoff_source": "auto" if hz is None else "given",
                          "extended": bool(measured.get("extended")), "method": args.method,
                          "input_rate": info.sample_rate, "processing_rate": rate,
                          "output_rate": written["main"],
                          "outputs": {k: str(v) for k, v in result.outputs.items()},
                          "real_time_factor": rtf}, indent=2))
    return 0
