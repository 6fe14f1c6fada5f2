"""Autosave and crash restore.

While the app runs, an :class:`Autosaver` writes the session's project to
``<session id>.restora.json`` in the autosave folder every ``interval_s``
seconds when there are unsaved changes, next to ``<session id>.lock`` holding
the process id. A clean exit (or an explicit save) removes both, so an
autosave whose lock is missing or names a dead process is what a crash left:
:func:`find_crashed` lists those for the app to offer, :func:`restore` reads
one back and :func:`forget` deletes it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal
from restora.app.project import Project, check_source, project_from_json, project_to_json, read_json, write_json_atomic
from restora.dsp.partial_files import pid_alive

from restora.errors import RestoraError

log = logging.getLogger("restora")

AUTOSAVE_SUFFIX = ".restora.json"
LOCK_SUFFIX = ".lock"


@dataclass(frozen=True)
class CrashedSession:
    """An autosave left by a session that did not exit cleanly."""

    path: Path
    saved_at: datetime
    source_name: str
    project_path: Path | None = None


def default_folder() -> Path:
    """``<AppDataLocation>/autosave`` (per user, per application name)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".restora") / "autosave"


def _lock_of(autosave: Path) -> Path:
    return autosave.with_name(autosave.name[:-len(AUTOSAVE_SUFFIX)] + LOCK_SUFFIX)


def _owner_alive(autosave: Path) -> bool:
    try:
        pid = int(_lock_of(autosave).read_text().strip())
    except (OSError, ValueError):
        return False
    return pid_alive(pid)


class Autosaver(QObject):
    """Periodically saves ``snapshot()`` (None = nothing to save) while the document is dirty.

    Signals: ``saved(str)`` with the autosave path, ``failed(str)`` with a
    plain-words reason (the document stays dirty and is retried next tick).
    """

    saved = Signal(str)
    failed = Signal(str)

    def __init__(self, snapshot: Callable[[], Project | None], folder: Path | None = None,
                 interval_s: float = 60, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._snapshot = snapshot
        self.folder = Path(folder) if folder is not None else default_folder()
        self.session_id = f"{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
        self.project_path: Path | None = None
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(interval_s * 1000)))
        self._timer.timeout.connect(self.tick)
        self._timer.start()

    @property
    def path(self) -> Path:
        return self.folder / f"{self.session_id}{AUTOSAVE_SUFFIX}"

    @property
    def lock_path(self) -> Path:
        return _lock_of(self.path)

    @property
    def dirty(self) -> bool:
        return self._dirty

    def mark_dirty(self) -> None:
        """The document has unsaved changes: save it at the next tick."""
        self._dirty = True

    def mark_clean(self, project_path: Path | None = None) -> None:
        """The user saved (to ``project_path``): nothing to restore, so drop the autosave."""
        if project_path is not None:
            self.project_path = Path(project_path)
        self._dirty = False
        self._remove()

    def tick(self) -> bool:
        """Save now if dirty; True when a file was written."""
        if not self._dirty:
            return False
        try:
            project = self._snapshot()
            if project is None:
                return False
            self._write(project)
        except RestoraError as exc:
            self.failed.emit(f"Autosave failed: {exc}")
            return False
        self._dirty = False
        self.saved.emit(str(self.path))
        return True

    def discard(self) -> None:
        """Clean exit: stop and remove this session's autosave and lock."""
        self._timer.stop()
        self._dirty = False
        self._remove()

    def _write(self, project: Project) -> None:
        data = project_to_json(project, self.folder)
        data["autosave"] = {"saved_at": datetime.now().isoformat(timespec="seconds"),
                            "session": self.session_id,
                            "project_path": str(self.project_path) if self.project_path else None}
        write_json_atomic(self.path, data)
        if not self.lock_path.exists():
            try:
                self.lock_path.write_text(f"{os.getpid()}\n")
            except OSError as exc:
                raise RestoraError(f"cannot write {self.lock_path}: {exc.strerror}") from None

    def _remove(self) -> None:
        for path in (self.path, self.lock_path):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc.strerror)


def find_crashed(folder: Path | None = None) -> list[CrashedSession]:
    """Autosaves of sessions that are no longer running, newest first (unreadable ones skipped)."""
    folder = Path(folder) if folder is not None else default_folder()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"*{AUTOSAVE_SUFFIX}"):
        if _owner_alive(path):
            continue
        try:
            found.append(_describe(path))
        except RestoraError as exc:
            log.warning("ignoring autosave %s: %s", path, exc)
    return sorted(found, key=lambda s: s.saved_at, reverse=True)


def _describe(path: Path) -> CrashedSession:
    data = read_json(path, "autosave")
    meta = data.get("autosave") if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        raise RestoraError("not an autosave file")
    try:
        saved_at = datetime.fromisoformat(str(meta.get("saved_at")))
    except ValueError:
        saved_at = datetime.fromtimestamp(path.stat().st_mtime)
    source = data.get("source") or {}
    source_name = Path(source["path"]).name if isinstance(source, dict) and source.get("path") else ""
    project_path = meta.get("project_path")
    return CrashedSession(path, saved_at, source_name, Path(project_path) if project_path else None)


def restore(path: Path) -> Project:
    """The project in the autosave ``path``; MissingSourceError (with ``.project``) if its audio is gone."""
    path = Path(path)
    project = project_from_json(read_json(path, "autosave"), path.parent, f"autosave {path}")
    check_source(project, f"autosave {path.name}")
    return project


def forget(path: Path) -> None:
    """Delete the autosave ``path`` and its lock (after restoring or declining it)."""
    path = Path(path)
    for target in (path, _lock_of(path)):
        target.unlink(missing_ok=True)
