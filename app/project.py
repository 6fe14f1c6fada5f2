"""Project files: the whole editing session as versioned JSON (see docs/project-format.md).

A project records the source recording, the processing chain (preset JSON),
the selection and scope, lane settings, view and playback state. Renders are
not stored in the file: they are cached in ``<stem>.restora-cache`` beside it
and can always be rebuilt. No Qt here, so the CLI and tests can use it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restora.dsp.write_failure import explain
from restora.errors import AudioInputError, RestoraError, UsageError

PROJECT_VERSION = 1
PROJECT_SUFFIX = ".restora"
CACHE_SUFFIX = ".restora-cache"
SCOPES = ("file", "selection")
# Filesystems store mtimes with less precision than a float; this much difference is "unchanged".
_MTIME_TOLERANCE_S = 0.01


def default_view() -> dict:
    return {"compare_mode": "overlay", "log_frequency": True, "zoom": None}


def default_playback() -> dict:
    return {"ab": "B", "level_match": True, "loop": False, "position_s": 0.0}


@dataclass
class Project:
    """An editing session. Times are in seconds of the source, gains in dB.

    ``lanes`` maps a lane name to ``{"gain_db": float, "mute": bool, "solo": bool}``;
    ``view`` holds ``compare_mode`` (str), ``log_frequency`` (bool) and ``zoom``
    (``(start_s, end_s)`` or None); ``playback`` holds ``ab`` ("A" original,
    "B" processed), ``level_match``, ``loop`` (bools) and ``position_s``.
    ``source_size`` (bytes) and ``source_mtime`` (s since the epoch) describe the
    source as it was when the work was done; :func:`save_project` fills them
    when they are None.
    """

    source: Path | None = None
    preset: dict | None = None
    selection_s: tuple[float, float] | None = None
    scope: str = "file"
    lanes: dict[str, dict] = field(default_factory=dict)
    view: dict = field(default_factory=default_view)
    playback: dict = field(default_factory=default_playback)
    source_size: int | None = None
    source_mtime: float | None = None


class MissingSourceError(AudioInputError):
    """The project's source recording is gone; ``project`` holds everything else.

    The caller may ask the user to locate the file, set ``project.source`` to
    it (and the stamps to None) and carry on.
    """

    def __init__(self, message: str, missing: Path, project: Project) -> None:
        super().__init__(message)
        self.missing = missing
        self.project = project


def cache_folder(project_path: Path) -> Path:
    """Folder for cached renders beside ``project_path``: ``<stem>.restora-cache``."""
    project_path = Path(project_path)
    return project_path.with_name(project_path.stem + CACHE_SUFFIX)


def stamp_source(project: Project) -> None:
    """Record the source's current size (bytes) and mtime (s) in ``project``."""
    if project.source is None:
        project.source_size = project.source_mtime = None
        return
    stat = Path(project.source).stat()
    project.source_size, project.source_mtime = stat.st_size, stat.st_mtime


def source_changed(project: Project) -> bool:
    """True when the source differs in size or mtime from the recorded stamp (or is gone)."""
    if project.source is None or project.source_size is None:
        return False
    try:
        stat = Path(project.source).stat()
    except OSError:
        return True
    if stat.st_size != project.source_size:
        return True
    return project.source_mtime is not None and abs(stat.st_mtime - project.source_mtime) > _MTIME_TOLERANCE_S


def save_project(project: Project, path: Path) -> None:
    """Write ``project`` to ``path`` atomically; RestoraError (old file intact) on failure."""
    path = Path(path)
    if project.source is not None and project.source_size is None:
        try:
            stamp_source(project)
        except OSError:
            pass  # a missing source is saved as is; loading will ask for it
    write_json_atomic(path, project_to_json(project, path.parent))


def load_project(path: Path, require_source: bool = True) -> Project:
    """Read a project file; UsageError for a missing/invalid file, MissingSourceError for lost audio."""
    path = Path(path)
    data = read_json(path, "project file")
    project = project_from_json(data, path.parent, f"project file {path}")
    if require_source:
        check_source(project, f"project {path.name}")
    return project


def check_source(project: Project, what: str) -> None:
    """Raise MissingSourceError (naming the file) when ``project.source`` does not exist."""
    if project.source is not None and not Path(project.source).is_file():
        raise MissingSourceError(f"the source audio of {what} is missing: {project.source} "
                                 f"(moved or deleted?)", Path(project.source), project)


# -- JSON --------------------------------------------------------------------

def project_to_json(project: Project, base: Path) -> dict:
    """The file form of ``project``; the source path is relative to ``base`` when below it."""
    source = None
    if project.source is not None:
        source = {"path": _stored_path(Path(project.source), Path(base)),
                  "size": project.source_size, "mtime": project.source_mtime}
    zoom = project.view.get("zoom")
    return {
        "restora_project": PROJECT_VERSION,
        "source": source,
        "preset": project.preset,
        "selection_s": list(project.selection_s) if project.selection_s else None,
        "scope": project.scope,
        "lanes": {name: _lane(values, name, "lanes") for name, values in project.lanes.items()},
        "view": {"compare_mode": str(project.view.get("compare_mode", "overlay")),
                 "log_frequency": bool(project.view.get("log_frequency", True)),
                 "zoom": list(zoom) if zoom else None},
        "playback": {"ab": project.playback.get("ab", "B"),
                     "level_match": bool(project.playback.get("level_match", True)),
                     "loop": bool(project.playback.get("loop", False)),
                     "position_s": float(project.playback.get("position_s", 0.0))},
    }


def project_from_json(data: Any, base: Path, origin: str) -> Project:
    """Validate the file form ``data`` (from ``origin``, for messages); relative paths use ``base``."""
    if not isinstance(data, dict):
        raise UsageError(f"{origin}: the top level must be a JSON object")
    if "restora_project" not in data:
        raise UsageError(f"{origin} is not a Restora project (no 'restora_project' key)")
    version = data["restora_project"]
    if version != PROJECT_VERSION:
        raise UsageError(f"{origin}: unsupported project version {version!r} "
                         f"(this Restora reads version {PROJECT_VERSION})")
    project = Project(scope=data.get("scope", "file"))
    if project.scope not in SCOPES:
        raise UsageError(f"{origin}: scope must be one of {', '.join(SCOPES)}, not {project.scope!r}")
    _read_source(project, data.get("source"), base, origin)
    preset = data.get("preset")
    if preset is not None and not isinstance(preset, dict):
        raise UsageError(f"{origin}: 'preset' must be a preset object or null")
    project.preset = preset
    project.selection_s = _span(data.get("selection_s"), origin, "selection_s")
    lanes = data.get("lanes") or {}
    if not isinstance(lanes, dict):
        raise UsageError(f"{origin}: 'lanes' must be an object")
    project.lanes = {str(k): _lane(v, k, origin) for k, v in lanes.items()}
    project.view = _view(data.get("view") or {}, origin)
    project.playback = _playback(data.get("playback") or {}, origin)
    return project


def _read_source(project: Project, source: Any, base: Path, origin: str) -> None:
    if source is None:
        return
    if not isinstance(source, dict) or not isinstance(source.get("path"), str):
        raise UsageError(f"{origin}: 'source' must be null or an object with a 'path'")
    stored = Path(source["path"])
    project.source = stored if stored.is_absolute() else Path(base) / stored
    size, mtime = source.get("size"), source.get("mtime")
    project.source_size = int(size) if isinstance(size, (int, float)) else None
    project.source_mtime = float(mtime) if isinstance(mtime, (int, float)) else None


def _stored_path(source: Path, base: Path) -> str:
    # Relative only below the project's folder, so a project moved with its audio still finds it.
    source, base = Path(os.path.abspath(source)), Path(os.path.abspath(base))
    try:
        return source.relative_to(base).as_posix()
    except ValueError:
        return str(source)


def _number(value: Any, origin: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{origin}: {key} must be a number, not {value!r}")
    return float(value)


def _span(value: Any, origin: str, key: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise UsageError(f"{origin}: {key} must be [start_s, end_s] or null")
    start, end = (_number(v, origin, key) for v in value)
    if end < start:
        raise UsageError(f"{origin}: {key} ends ({end}) before it starts ({start})")
    return (start, end)


def _lane(values: Any, name: Any, origin: str) -> dict:
    if not isinstance(values, dict):
        raise UsageError(f"{origin}: lane {name!r} must be an object")
    return {"gain_db": _number(values.get("gain_db", 0.0), origin, f"lane {name!r} gain_db"),
            "mute": bool(values.get("mute", False)), "solo": bool(values.get("solo", False))}


def _view(view: Any, origin: str) -> dict:
    if not isinstance(view, dict):
        raise UsageError(f"{origin}: 'view' must be an object")
    out = default_view()
    out["compare_mode"] = str(view.get("compare_mode", out["compare_mode"]))
    out["log_frequency"] = bool(view.get("log_frequency", out["log_frequency"]))
    out["zoom"] = _span(view.get("zoom"), origin, "view.zoom")
    return out


def _playback(playback: Any, origin: str) -> dict:
    if not isinstance(playback, dict):
        raise UsageError(f"{origin}: 'playback' must be an object")
    out = default_playback()
    ab = playback.get("ab", out["ab"])
    if ab not in ("A", "B"):
        raise UsageError(f"{origin}: playback.ab must be \"A\" or \"B\", not {ab!r}")
    out.update(ab=ab, level_match=bool(playback.get("level_match", True)),
               loop=bool(playback.get("loop", False)),
               position_s=max(0.0, _number(playback.get("position_s", 0.0), origin, "playback.position_s")))
    return out


# -- files -------------------------------------------------------------------

def read_json(path: Path, what: str) -> Any:
    """Parse the JSON file ``path`` (a ``what``, for messages); UsageError on any fault."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path} is damaged (not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno})") from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON in one step; RestoraError in plain words on failure.

    The text goes to a hidden temporary file in the same folder, is flushed to
    disk and then renamed over ``path``, so a crash or a full disk leaves either
    the old file or the new one, never half of one.
    """
    path = Path(path)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        message = explain(exc, tmp, path)
        if tmp is not None:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass  # the original error is the one worth reporting
        raise RestoraError(f"could not save: {message}; the previous file is unchanged") from None
