"""Where model files live on the user's machine, and checking them before use.

Layout: ``<root>/<model_id>/`` holds the files of one model plus
``manifest.json`` (``{"files": {name: sha256}, "card_sha256": ...}``) written by
``restora models fetch`` once every file is complete. The root is
``$RESTORA_MODELS`` if set, else ``$XDG_DATA_HOME/restora/models`` (default
``~/.local/share/restora/models``).

A frozen app (packaging/) carries the models built at set-up in ``<app dir>/models``: unless ``$RESTORA_MODELS``
is set, :func:`model_dir` finds a bundled model there first, while the user's own models (and anything fetched
later) go to :func:`model_root` as usual.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from restora.errors import ModelError

MANIFEST = "manifest.json"
_verified: set[Path] = set()


def model_root() -> Path:
    """The folder holding one sub-folder per fetched model."""
    env = os.environ.get("RESTORA_MODELS")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(data) / "restora" / "models"


def bundled_root() -> Path | None:
    """The frozen app's own model store, or None (not frozen, no models in the bundle, or ``$RESTORA_MODELS`` set)."""
    if os.environ.get("RESTORA_MODELS"):
        return None
    from restora.frozen import bundled_models

    return bundled_models()


def model_dir(model_id: str) -> Path:
    """The folder of bundled model ``model_id``: the frozen app's copy when it has one, else ``model_root()/id``."""
    bundled = bundled_root()
    if bundled is not None and (bundled / model_id / MANIFEST).is_file():
        return bundled / model_id
    return model_root() / model_id


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk)
            if not data:
                return h.hexdigest()
            h.update(data)


def write_manifest(model_dir: Path) -> None:
    """Record the sha256 of every file in ``model_dir`` (called last by a fetch)."""
    save_manifest(model_dir, {p.name: sha256_of(p) for p in sorted(model_dir.iterdir())
                              if p.is_file() and p.name != MANIFEST})


def save_manifest(model_dir: Path, files: dict[str, str]) -> None:
    """Replace ``model_dir``'s manifest by one listing ``files`` (name -> sha256), atomically."""
    tmp = model_dir / (MANIFEST + ".part")
    tmp.write_text(json.dumps({"files": files}, indent=1))
    os.replace(tmp, model_dir / MANIFEST)


def require(model_id: str, verify: bool = True) -> Path:
    """Return the folder of a fetched model, checking its files against the manifest.

    Raises :class:`ModelError` (exit code 5) with the fix when the model is
    missing or a file is damaged.
    """
    folder = model_dir(model_id)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise ModelError(f"model '{model_id}' is not installed in {model_root()}; "
                         f"run: restora models fetch")
    if verify and folder not in _verified:
        damage = manifest_damage(folder)
        if damage:
            raise ModelError(f"model '{model_id}': {damage}; run: restora models fetch --force")
        _verified.add(folder)
    return folder


def manifest_damage(folder: Path) -> str:
    """'' when every file ``folder``'s manifest lists is there with its sha256, else what is wrong (one phrase)."""
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"its manifest {folder / MANIFEST} is missing or unreadable"
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            return f"file {path} is missing"
        if sha256_of(path) != digest:
            return f"file {path} fails its sha256 check"
    return ""
