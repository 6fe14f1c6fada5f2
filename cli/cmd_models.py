"""``restora models [list|fetch|check|add|remove]``: the model store (bundled models and the user's own)."""

from __future__ import annotations

import argparse

from restora.errors import ModelError, UsageError

#: ``models add`` options and the contract field each fills (docs/model-cards.md).
ADD_HINTS = {"task": "task", "rate": "sample_rate", "channels": "channels", "n_fft": "n_fft", "hop": "hop",
             "stems": "stems", "chunk": "chunk_s", "overlap": "overlap_s", "window": "window",
             "center": "center"}


def register(sub, common) -> None:
    p = sub.add_parser("models", parents=[common], help="list, fetch, check, add or remove models",
                       description="list (default) or fetch the bundled models; check every model file's sha256 "
                                   "(exit 5 when one is missing or damaged); add your own ONNX file, or "
                                   "remove one you added")
    p.add_argument("action", nargs="?", choices=["list", "fetch", "check", "add", "remove"], default="list")
    p.add_argument("ids", nargs="*", metavar="ID|FILE",
                   help="model ids (list, fetch, check: default all; remove), or the .onnx file to add")
    p.add_argument("--force", action="store_true", help="fetch again even if installed")
    p.add_argument("--runtime-only", action="store_true",
                   help="fetch: then delete files only needed to build a model (Spleeter's 78 MB TensorFlow "
                        "checkpoint); a later --force fetch brings them back")
    add = p.add_argument_group("add (what the file does not say; a --card's contract, then these)")
    add.add_argument("--card", help="model card JSON (format 1) for the file")
    add.add_argument("--id", dest="model_id", help="id to give the model (default: the file name)")
    add.add_argument("--task", choices=["enhance", "separate", "extract", "upscale"])
    add.add_argument("--rate", type=int, help="sample rate the model runs at, Hz")
    add.add_argument("--channels", type=int, choices=[1, 2])
    add.add_argument("--n-fft", type=int, dest="n_fft", help="STFT size (MDX-Net, frame-streaming models)")
    add.add_argument("--hop", type=int, help="STFT hop, samples")
    add.add_argument("--stems", help="comma-separated names of the sources the model outputs")
    add.add_argument("--chunk", type=float, help="chunk length for waveform models, s")
    add.add_argument("--overlap", type=float, help="chunk cross-fade, s")
    add.add_argument("--window", choices=["hann", "sqrt-hann", "hann-symmetric", "sqrt-hann-symmetric"],
                     help="STFT window (frame-streaming models; periodic unless -symmetric)")
    add.add_argument("--center", choices=["yes", "no"],
                     help="frame-streaming models: first frame centred on sample 0 with the start reflected "
                          "(default yes when hop = n_fft/2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    hints = {field: getattr(args, opt) for opt, field in ADD_HINTS.items() if getattr(args, opt) is not None}
    if "center" in hints:
        hints["center"] = hints["center"] == "yes"
    if args.action != "add" and (hints or args.card or args.model_id):
        raise UsageError("--card, --id and the contract options go with 'restora models add FILE.onnx'")
    if args.action == "add":
        return _add(args, hints)
    if args.action == "remove":
        return _remove(args.ids)
    if args.action == "check":
        return _check(args.ids, quiet=getattr(args, "quiet", False))
    return _list_or_fetch(args)


def _check(ids: list[str], quiet: bool = False) -> int:
    """Every file of the models named (default: all bundled and added ones) against its sha256: one line per
    model, ``ok``, ``missing`` or ``damaged`` with what is wrong; 5 when any is not ok."""
    from restora.models.check import OK, check_models, summary

    rows = check_models(ids)
    for model_id, state, detail in rows:
        if not quiet or state != OK:
            print(f"{model_id:16s} {state:9s} {detail}")
    if not quiet:
        print(summary(rows))
    return 5 if any(r.state != OK for r in rows) else 0


def _add(args: argparse.Namespace, hints: dict) -> int:
    from pathlib import Path

    from restora.models.byo.add_model import add

    if len(args.ids) != 1:
        raise UsageError("restora models add takes one .onnx file")
    model = add(Path(args.ids[0]), Path(args.card) if args.card else None, hints, args.model_id)
    if getattr(args, "quiet", False):
        return 0
    c = model.contract
    print(f"added '{model.id}': {c.kind} model, task {c.task}, {c.sample_rate} Hz, {c.channels} channel(s), "
          f"stems {', '.join(c.stems)}")
    print(f"  stored in {model.folder}")
    ports = ", ".join(dict.fromkeys(["main", *c.stems, "rest"]))
    print(f"  use it: the node type \"model:{model.id}\" in a preset (ports: {ports}) or in the GUI's node palette")
    return 0


def _remove(ids: list[str]) -> int:
    from restora.models import registry
    from restora.models.byo import user_store

    if not ids:
        raise UsageError("restora models remove takes the id of a model you added")
    for model_id in ids:
        if model_id in registry.ids():
            raise UsageError(f"'{model_id}' is a bundled model; only models you added can be removed")
        user_store.find(model_id)  # all ids checked before anything is deleted
    for model_id in ids:
        print(f"removed '{model_id}' ({user_store.remove(model_id)})")
    return 0


def _list_or_fetch(args: argparse.Namespace) -> int:
    from restora.models import fetch, registry, store
    from restora.models.byo import user_store

    added = {m.id: m for m in user_store.list_models()}
    ids = args.ids or registry.ids()
    for model_id in ids:
        if model_id not in added:
            registry.card(model_id)  # unknown ids fail before any work
    bundled = [m for m in ids if m not in added]
    if args.action == "fetch":
        fetch.fetch(bundled, force=args.force)
        if args.runtime_only:
            freed = sum(fetch.drop_build_inputs(m) for m in bundled)
            print(f"deleted {freed / 2**20:.0f} MiB of build-only files")
    elif args.runtime_only:
        raise UsageError("--runtime-only goes with 'restora models fetch'")
    print(f"model store: {store.model_root()}")
    print(f"{'id':16s} {'status':10s} {'task':26s} {'rate':>6s}  {'licence':18s} source")
    damaged = False
    for model_id in bundled:
        card = registry.card(model_id)
        state = fetch.status(model_id)
        damaged |= state == fetch.DAMAGED
        src = card.source
        print(f"{model_id:16s} {state:10s} {card.task:26s} {card.sample_rate:6d}  {card.licence:18s} "
              f"{src.package}=={src.version}")
    for model_id in (m for m in ids if m in added) if args.ids else sorted(added):
        damaged |= _print_added(added[model_id])
    if not args.ids:
        for folder in user_store.broken_folders():
            damaged = True
            print(f"{'?':16s} {'damaged':10s} unreadable card in {folder}: delete the folder")
    if args.action == "fetch" and any(fetch.status(m) != fetch.INSTALLED for m in bundled):
        raise ModelError("some models could not be installed; see the messages above")
    return 5 if damaged else 0


def _print_added(model) -> bool:
    """One row for an added model; True when its files are damaged."""
    from restora.models import store

    damage = store.manifest_damage(model.folder)
    state = "damaged" if damage else "added"
    licence = str(model.card.get("licence", ""))[:18]
    print(f"{model.id:16s} {state:10s} {model.contract.task + ' (' + model.contract.kind + ')':26s} "
          f"{model.contract.sample_rate:6d}  {licence:18s} user file {model.onnx.name}")
    return bool(damage)
