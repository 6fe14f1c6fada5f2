"""``restora separate IN -o OUT_DIR``: split a recording into stems.

``--model spleeter-2stems`` (music) writes ``vocals`` and ``accompaniment``;
``--model dialogue`` (film, podcast) writes ``speech`` (DeepFilterNet3) and
``background`` (the mix minus the speech, sample-aligned). The stems of one
model always sum back to the input. Files are ``OUT_DIR/<stem>.<ext>`` at the
input's rate and length, written all-or-nothing like ``restora process``.
``--model ID`` of a model the user added (``restora models add``) writes
each of its stems and ``rest`` (the input minus every stem).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from restora.errors import UsageError

log = logging.getLogger("restora")

#: Stems each model produces, main stem first.
MODELS: dict[str, tuple[str, ...]] = {
    "spleeter-2stems": ("vocals", "accompaniment"),
    "dialogue": ("speech", "background"),
}


def register(sub, common) -> None:
    from restora.cli.cmd_process import add_format_options

    p = sub.add_parser("separate", parents=[common], help="split a recording into stems",
                       description="Split a recording into stems written as OUT_DIR/<stem>.<ext>; "
                                   "the stems of a model sum back to the input.")
    p.add_argument("input", type=Path, help="input audio or video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--model", default="spleeter-2stems",
                   help="spleeter-2stems: vocals/accompaniment (music); dialogue: speech/background; or the id "
                        "of a model you added (restora models add) (default: spleeter-2stems)")
    p.add_argument("--stems", metavar="A,B", help="only these stems (default: all of the model's)")
    p.add_argument("--masks", choices=["ratio", "wiener"], default="ratio",
                   help="spleeter-2stems: ratio masks or a multichannel Wiener refinement (default: ratio)")
    add_format_options(p)
    p.set_defaults(func=run)


def stems_preset(model: str, stems: list[str] | None = None, masks: str = "ratio"):
    """The graph that separates with ``model``, writing ``stems`` (default: all)."""
    from restora.graph.preset import preset_from_dict

    known = MODELS[model] if model in MODELS else added_stems(model)
    chosen = stems or list(known)
    unknown = [s for s in chosen if s not in known]
    if unknown or not chosen:
        raise UsageError(f"--stems {','.join(chosen)}: model {model} has stems {', '.join(known)}")
    if model not in MODELS:
        nodes = [{"id": "m", "type": f"model:{model}", "params": {}}]
        streams = {stem: f"m.{stem}" for stem in known}
    elif model == "dialogue":
        nodes = [{"id": "speech", "type": "deepfilternet3", "params": {"atten_lim_db": 100}}]
        streams = {"speech": "speech", "background": "speech.residual"}
    else:
        nodes = [{"id": "sep", "type": "separate", "params": {"model": model, "masks": masks}}]
        streams = {"vocals": "sep.vocals", "accompaniment": "sep.accompaniment"}
    outputs = {stem: streams[stem] for stem in known if stem in chosen}
    return preset_from_dict({"restora_preset": 1, "name": f"separate-{model}", "nodes": nodes,
                       "outputs": outputs}, f"restora separate --model {model}")


def added_stems(model: str) -> tuple[str, ...]:
    """Stems of the added model ``model``, then ``rest``; UsageError naming every model when there is none."""
    from restora.errors import ModelError
    from restora.graph.nodes_user_model import REST
    from restora.models.byo import user_store

    try:
        return (*user_store.find(model).contract.stems, REST)
    except ModelError:
        added = [m.id for m in user_store.list_models()]
        raise UsageError(f"--model {model}: not one of {', '.join([*MODELS, *added])}") from None


def run(args: argparse.Namespace) -> int:
    from restora.cli.cmd_process import output_options, providers_note
    from restora.cli.progress import FileProgress
    from restora.graph.file_job import default_ext, process_file

    stems = [s.strip() for s in args.stems.split(",") if s.strip()] if args.stems else None
    preset = stems_preset(args.model, stems, args.masks)
    options = output_options(args)
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output} is a file: separate writes a folder of stems")
    out = args.output
    if len(preset.outputs) == 1:  # one stem: still OUT_DIR/<stem>.<ext>
        out = args.output / f"{next(iter(preset.outputs))}.{args.format or default_ext(args.input)}"
    show = not getattr(args, "quiet", False) and sys.stderr.isatty()
    with FileProgress(args.input.name, enabled=show) as bar:
        result = process_file(preset, args.input, out, options, progress=bar.update)
    for name, path in result.outputs.items():
        log.info("wrote %s (%s)", path, name)
    rtf = result.real_time_factor
    log.info("%.1f s of audio in %.1f s (real-time factor %s)%s", result.duration_s, result.seconds,
             f"{rtf:.3f}" if rtf is not None else "n/a", providers_note())
    return 0
