"""Restora as a frozen (PyInstaller) app: one entry point for both programs, and what differs when frozen.

The bundle (packaging/restora.spec) holds two executables, ``restora`` (the command line) and ``restora-gui``,
built from the same script; :func:`main` tells them apart by the name they were started under. A frozen app has
no Python interpreter to run ``python -m MODULE`` with, so work that runs in a child process (the model check of
:mod:`restora.models.byo.probe`) starts the app's own executable with a hidden first argument instead:
:func:`child_command` builds that command, and :func:`main` answers it before anything else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: hidden first argument: ``<app executable> --restora-child MODULE ARGS...`` runs ``MODULE.main(ARGS)``
CHILD_FLAG = "--restora-child"
#: the modules a child may run that way (nothing else can be started through the flag)
CHILD_MODULES = ("restora.models.byo.probe",)
#: folder of the bundle's models, next to the executables (packaging/build-*.sh put them there)
MODELS_DIR = "models"


def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def app_dir() -> Path | None:
    """The folder holding the bundle's executables, or None when not frozen."""
    if not is_frozen():
        return None
    return Path(sys.executable).resolve().parent


def bundled_models() -> Path | None:
    """The bundle's own model store when frozen and present, else None: ``<app dir>/models``, or in a macOS
    ``.app`` ``Contents/Resources/models`` (beside ``Contents/MacOS``)."""
    folder = app_dir()
    if folder is None:
        return None
    for models in (folder / MODELS_DIR, folder.parent / "Resources" / MODELS_DIR):
        if models.is_dir():
            return models
    return None


def child_command(module: str, args: list[str]) -> list[str]:
    """The command that runs ``module``'s ``main(args)`` in a child process: ``python -m module args`` from a
    Python install, ``<app executable> --restora-child module args`` from a frozen app."""
    if is_frozen():
        return [sys.executable, CHILD_FLAG, module, *args]
    return [sys.executable, "-m", module, *args]


def _run_child(argv: list[str]) -> int:
    if not argv or argv[0] not in CHILD_MODULES:
        print(f"{CHILD_FLAG}: unknown module {argv[:1]}", file=sys.stderr)
        return 2
    import importlib

    return int(importlib.import_module(argv[0]).main(argv[1:]) or 0)


def main(argv: list[str] | None = None, program: str | None = None) -> int:
    """Entry point of the frozen executables: a child's work (:data:`CHILD_FLAG`), the GUI when started as
    ``restora-gui``, else the command line."""
    import multiprocessing

    multiprocessing.freeze_support()  # batch --jobs N workers on platforms that spawn (Windows, macOS)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_FLAG]:
        return _run_child(argv[1:])
    name = os.path.basename(program or sys.argv[0]).lower()
    if name.startswith("restora-gui"):
        from restora.app.main import main as gui_main

        return int(gui_main(argv) or 0)
    from restora.cli.main import main as cli_main

    return cli_main(argv)
