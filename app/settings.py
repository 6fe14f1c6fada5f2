"""Typed access to the app's persistent settings (QSettings).

Every setting has a property with a default, so callers never handle
QSettings' loosely typed values (INI files give strings back, a one-item list
may come back as a plain string). Tests pass their own QSettings on a
temporary INI file so they never touch the user's settings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10
MAX_RECENT_TEXTS = 20
DEFAULT_BUFFER_SIZE = 512
ORGANIZATION = "Restora"
APPLICATION = "Restora"


class Settings:
    """The app's settings. Paths are strings; sizes in frames; rates in Hz."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else QSettings(ORGANIZATION, APPLICATION)

    # -- helpers ---------------------------------------------------------------

    def _get_str(self, key: str) -> str | None:
        value = self.q.value(key)
        return str(value) if value not in (None, "") else None

    def _set_str(self, key: str, value: str | Path | None) -> None:
        if value is None or str(value) == "":
            self.q.remove(key)
        else:
            self.q.setValue(key, str(value))

    def _get_bool(self, key: str, default: bool) -> bool:
        value = self.q.value(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    def _get_int(self, key: str) -> int | None:
        try:
            return int(self.q.value(key))
        except (TypeError, ValueError):
            return None

    def sync(self) -> None:
        """Write pending changes to disk now (QSettings otherwise does it later)."""
        self.q.sync()

    # -- recent files ------------------------------------------------------------

    @property
    def recent_files(self) -> list[str]:
        """Recently opened files, most recent first; files that no longer exist are dropped."""
        value = self.q.value("recent_files") or []
        items = [value] if isinstance(value, str) else [str(v) for v in value]
        kept = [p for p in items if Path(p).exists()][:MAX_RECENT]
        if kept != items:
            self.recent_files = kept
        return kept

    @recent_files.setter
    def recent_files(self, paths: list[str]) -> None:
        self.q.setValue("recent_files", [str(p) for p in paths][:MAX_RECENT])

    def add_recent(self, path: str | Path) -> None:
        """Put ``path`` first in the recent files (moving it if already listed)."""
        text = str(Path(path).absolute())
        self.recent_files = [text] + [p for p in self.recent_files if p != text]

    # -- recent texts (queries typed into "text" parameters) ---------------------

    def recent_texts(self, name: str = "query") -> list[str]:
        """Texts recently committed to ``name`` parameters, most recent first (at most 20, no repeats)."""
        value = self.q.value(f"recent_texts/{name}") or []
        items = [value] if isinstance(value, str) else [str(v) for v in value]
        return _unique(items)[:MAX_RECENT_TEXTS]

    def add_recent_text(self, text: str, name: str = "query") -> list[str]:
        """Put ``text`` first in the recent ``name`` texts (moving it if listed); the new list."""
        text = " ".join(str(text).split())
        items = self.recent_texts(name)
        if text:
            items = _unique([text] + items)[:MAX_RECENT_TEXTS]
            self.q.setValue(f"recent_texts/{name}", items)
        return items

    recent_queries = property(lambda self: self.recent_texts("query"),
                              doc="Recent extract queries, most recent first.")

    # -- folders -----------------------------------------------------------------

    last_open_folder = property(lambda self: self._get_str("folders/last_open"),
                                lambda self, v: self._set_str("folders/last_open", v),
                                doc="Folder of the last Open dialog, or None.")
    export_folder = property(lambda self: self._get_str("folders/export"),
                             lambda self, v: self._set_str("folders/export", v),
                             doc="Folder of the last export, or None.")
    batch_output_folder = property(lambda self: self._get_str("folders/batch_output"),
                                   lambda self, v: self._set_str("folders/batch_output", v),
                                   doc="Output folder of the last batch, or None.")

    # -- audio -------------------------------------------------------------------

    audio_device = property(lambda self: self._get_str("audio/device"),
                            lambda self, v: self._set_str("audio/device", v),
                            doc="Output device name, or None for the system default.")

    @property
    def buffer_size(self) -> int:
        """Output buffer in frames (default 512)."""
        value = self._get_int("audio/buffer_size")
        return value if value and value > 0 else DEFAULT_BUFFER_SIZE

    @buffer_size.setter
    def buffer_size(self, frames: int) -> None:
        self.q.setValue("audio/buffer_size", int(frames))

    @property
    def sample_rate(self) -> int | None:
        """Playback rate in Hz, or None to follow the file."""
        value = self._get_int("audio/sample_rate")
        return value if value and value > 0 else None

    @sample_rate.setter
    def sample_rate(self, rate: int | None) -> None:
        if rate is None:
            self.q.remove("audio/sample_rate")
        else:
            self.q.setValue("audio/sample_rate", int(rate))

    level_match = property(lambda self: self._get_bool("audio/level_match", True),
                           lambda self, v: self.q.setValue("audio/level_match", bool(v)),
                           doc="Play A and B at matched loudness (default True).")

    # -- view and window ---------------------------------------------------------

    log_frequency = property(lambda self: self._get_bool("view/log_frequency", True),
                             lambda self, v: self.q.setValue("view/log_frequency", bool(v)),
                             doc="Spectrogram frequency axis is logarithmic (default True).")
    first_launch_done = property(lambda self: self._get_bool("first_launch_done", False),
                                 lambda self, v: self.q.setValue("first_launch_done", bool(v)),
                                 doc="The welcome/first-run help has been shown.")

    @property
    def window_geometry(self) -> QByteArray:
        """Main window geometry from ``saveGeometry()`` (empty when never saved)."""
        return self._get_bytes("window/geometry")

    @window_geometry.setter
    def window_geometry(self, data: QByteArray) -> None:
        self.q.setValue("window/geometry", QByteArray(data))

    @property
    def window_state(self) -> QByteArray:
        """Docks and toolbars from ``saveState()`` (empty when never saved)."""
        return self._get_bytes("window/state")

    @window_state.setter
    def window_state(self, data: QByteArray) -> None:
        self.q.setValue("window/state", QByteArray(data))

    def _get_bytes(self, key: str) -> QByteArray:
        value = self.q.value(key)
        if isinstance(value, QByteArray):
            return value
        if isinstance(value, (bytes, bytearray)):
            return QByteArray(bytes(value))
        return QByteArray()


def _unique(items: list[str]) -> list[str]:
    """``items`` without empty strings and later repeats (compared case-insensitively)."""
    seen, out = set(), []
    for item in items:
        key = item.casefold()
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return out
