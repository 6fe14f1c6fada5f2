"""The user's own models (issue 9): added, listed, removed, and checked on every load.

Layout: ``<model store>/user/<digest>/`` per model, ``<digest>`` the first 16
hex digits of the ONNX file's sha256 (so the same file cannot be added twice
under two names), holding:

- the ONNX file under its own name, and any external-data files at the
  relative locations the graph names;
- ``card.json``: the model card, format 1 (docs/model-cards.md): ``id``,
  ``name``, ``task``, ``sample_rate``, ``licence``, ``attribution``,
  ``source`` (``{"kind": "user-file", "original": path}``), ``files`` and
  the ``contract`` (:mod:`restora.models.byo.contract`);
- ``manifest.json``: the sha256 of every file (:func:`restora.models.store.write_manifest`).

Adding checks the file (:func:`restora.models.byo.inspect_onnx.check_safe`),
works out its contract (:func:`restora.models.byo.detect.detect`, with what
the user's card and options say), copies it into a hidden part-folder, loads
and runs it once in a separate process (:func:`restora.models.byo.probe.probe`)
and only then renames the folder into place: a rejected or interrupted add
leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restora.errors import ModelError
from restora.models import store
from restora.models.byo.contract import Contract, from_dict

USER_DIR = "user"
CARD = "card.json"
UNREADABLE = (OSError, ValueError, KeyError, IndexError, ModelError)  # what reading a damaged card raises
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,47}")
CARD_KEYS = ("id", "name", "licence", "licence_url", "attribution", "contract", "notes")


@dataclass(frozen=True)
class UserModel:
    """One added model: its folder, ONNX file, card (dict) and checked contract."""

    id: str
    folder: Path
    onnx: Path
    card: dict[str, Any]
    contract: Contract


def user_root() -> Path:
    """The folder holding one sub-folder per added model."""
    return store.model_root() / USER_DIR


def read_model(folder: Path) -> UserModel:
    """The model in ``folder`` from its card (one of ``UNREADABLE`` when the card is damaged)."""
    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    onnx = [name for name in card["files"] if name.endswith(".onnx")]
    return UserModel(card["id"], folder, folder / onnx[0], card, from_dict(card["contract"]))


def list_models() -> list[UserModel]:
    """Every added model with a readable card, sorted by id (damaged folders: see :func:`broken_folders`)."""
    found = []
    for folder in sorted(user_root().glob("*")):
        if folder.is_dir() and not folder.name.startswith("."):
            try:
                found.append(read_model(folder))
            except UNREADABLE:
                continue
    return sorted(found, key=lambda m: m.id)


def broken_folders() -> list[Path]:
    """Model folders whose card cannot be read (shown by ``models list`` so the user can remove them)."""
    good = {m.folder for m in list_models()}
    return [f for f in sorted(user_root().glob("*")) if f.is_dir() and not f.name.startswith(".") and f not in good]


def find(model_id: str) -> UserModel:
    """The added model ``model_id``; ModelError naming the added ids if there is none."""
    for model in list_models():
        if model.id == model_id:
            return model
    known = ", ".join(m.id for m in list_models()) or "none"
    raise ModelError(f"no added model '{model_id}' (added: {known}; add one with: restora models add FILE.onnx)")


def load(model_id: str) -> UserModel:
    """:func:`find`, then every file checked against the manifest (on every load, not once per process)."""
    model = find(model_id)
    damage = store.manifest_damage(model.folder)
    if damage:
        raise ModelError(f"model '{model_id}': {damage}; remove it (restora models remove {model_id}) and add "
                         "the file again")
    return model


def remove(model_id: str) -> Path:
    """Delete an added model's folder; returns it. ModelError when there is no such model."""
    model = find(model_id)
    shutil.rmtree(model.folder)
    return model.folder
