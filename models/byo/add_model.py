"""``restora models add``: check a user's ONNX file, work out how to run it, copy it into the store.

(DeepFilterNet exports, three graphs and a config.ini, take their own path in
:mod:`restora.models.byo.add_dfn3`; steps 4-6 are shared.)

Steps (any failure is a ModelError, exit 5, and leaves nothing in the store):

1. the card the user gave, if any (JSON, format 1; its ``contract`` may be partial);
2. :func:`restora.models.byo.inspect_onnx.check_safe` (not ONNX, custom
   operators, external data outside the folder, absurd declared sizes...);
3. :func:`restora.models.byo.detect.detect` from the graph's signature, filled
   in by the card's contract and then the command-line hints (which win);
4. copy the file and its external data into a hidden part-folder of
   :func:`restora.models.byo.user_store.user_root`;
5. :func:`restora.models.byo.probe.probe`: load and run the copy once in a
   separate process (a crash there cannot take the app down);
6. write ``card.json`` and the manifest, then rename the folder into place.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from restora.errors import ModelError
from restora.models import registry, store
from restora.models.byo import user_store
from restora.models.byo.contract import FORMAT, from_dict


def read_card(path: Path | None) -> dict[str, Any]:
    """The user's card (``{}`` when none): a JSON object; ModelError for a missing or malformed file."""
    if path is None:
        return {}
    try:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read the card {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ModelError(f"the card {path} is not valid JSON: {exc}") from None
    if not isinstance(card, dict):
        raise ModelError(f"the card {path} must hold a JSON object")
    if card.get("format", FORMAT) != FORMAT:
        raise ModelError(f"the card {path} has format {card.get('format')!r}; this Restora reads format {FORMAT}")
    return card


def default_name(source: Path) -> str:
    """A name for a model from its file: the stem, a tarball's name without .tar, an export folder's name."""
    from restora.models.byo.add_dfn3 import GRAPHS

    if source.name in GRAPHS:
        return source.resolve().parent.name
    return source.name[:-len(".tar.gz")] if source.name.endswith(".tar.gz") else source.stem


def choose_id(wanted: str | None, card: dict, source: Path) -> str:
    """The new model's id: ``--id``, else the card's, else the file's name; checked and unique."""
    model_id = (wanted or card.get("id") or default_name(source)).strip().lower().replace(" ", "-")
    if not user_store.ID_PATTERN.fullmatch(model_id):
        raise ModelError(f"model id '{model_id}' must be 1-48 characters of a-z, 0-9, '.', '_' or '-', starting "
                         "with a letter or digit; choose one with --id")
    if model_id in registry.ids():
        raise ModelError(f"'{model_id}' is the id of a bundled model; choose another with --id")
    if any(m.id == model_id for m in user_store.list_models()):
        raise ModelError(f"a model '{model_id}' is already added; remove it first or choose another --id")
    return model_id


def add(source: Path, card_path: Path | None = None, hints: dict | None = None, model_id: str | None = None,
        probe_timeout_s: float = 120.0) -> user_store.UserModel:
    """Add the ONNX file or DeepFilterNet export ``source`` (module docstring); returns the installed model."""
    from restora.models.byo import add_dfn3, detect, inspect_onnx

    source = Path(source)
    card = read_card(card_path)
    given = {**(card.get("contract") or {}), **{k: v for k, v in (hints or {}).items() if v is not None}}
    if add_dfn3.is_dfn3_export(source):
        members = add_dfn3.read_members(source)

        def fill(part: Path):
            files = add_dfn3.build(members, part)
            return files, from_dict(add_dfn3.contract_dict(part / add_dfn3.CONFIG))
    else:
        facts = inspect_onnx.check_safe(source)
        contract = from_dict(detect.detect(facts, given))

        def fill(part: Path):
            return _copy_in(source, facts.external_data, part), contract
    return _install(source, card, choose_id(model_id, card, source), fill, probe_timeout_s)


def _install(source: Path, card: dict, model_id: str, fill, probe_timeout_s: float) -> user_store.UserModel:
    """Fill a hidden part-folder (``fill(part) -> (files, contract)``, the ONNX file first), probe it, write the
    card and manifest, rename it into place; nothing is left behind on any failure."""
    from restora.models.byo import probe

    digest = store.sha256_of(source)
    final = user_store.user_root() / digest[:16]
    if final.exists():
        raise ModelError(f"this file is already added as '{_id_in(final)}'")
    final.parent.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}.part-", dir=final.parent))
    try:
        files, contract = fill(part)
        probe.probe(part / files[0], contract, timeout_s=probe_timeout_s)
        _write_card(part, card, model_id, source, files, contract)
        store.write_manifest(part)
        os.replace(part, final)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return user_store.load(model_id)


def _id_in(folder: Path) -> str:
    try:
        return user_store.read_model(folder).id
    except user_store.UNREADABLE:
        return folder.name


def _copy_in(onnx: Path, external: tuple[str, ...], part: Path) -> list[str]:
    """Copy the ONNX file and its external-data files (relative locations, checked safe) into ``part``."""
    shutil.copyfile(onnx, part / onnx.name)
    names = [onnx.name]
    for location in sorted(set(external)):
        dest = part / location
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx.parent / location, dest)
        names.append(location)
    return names


def _write_card(part: Path, given: dict, model_id: str, source: Path, files: list[str], contract) -> None:
    card = {key: given[key] for key in user_store.CARD_KEYS if key in given}
    card.update({"format": FORMAT, "id": model_id, "name": given.get("name") or default_name(source),
                 "task": contract.task, "sample_rate": contract.sample_rate,
                 "licence": given.get("licence") or "unknown (user-supplied file)",
                 "source": {"kind": "user-file", "original": str(source.resolve()),
                            "added": datetime.date.today().isoformat()},
                 "files": files, "contract": contract.to_dict()})
    (part / user_store.CARD).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
