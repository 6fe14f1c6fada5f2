"""Where rendered lanes live: small ones in RAM, large ones in memory-mapped scratch files.

A full-length float32 lane of a long recording is hundreds of megabytes; in
anonymous memory it stays resident for as long as the render is kept. Backed
by a file, the kernel can write its pages out and drop them under memory
pressure, and reads fault them back in. Each :class:`LaneStorage` owns one
folder ``restora-render-<pid>-XXXX`` under the user cache dir; a session that
crashed leaves its folder behind, and the next one removes it (the pid in the
name tells a dead session's folder from a running one's).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from restora.dsp.partial_files import pid_alive
from restora.errors import AudioOutputError

log = logging.getLogger(__name__)

RAM_LIMIT_BYTES = 8 * 2 ** 20  # lanes below this stay in RAM: not worth a file
FOLDER_PREFIX = "restora-render-"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def scratch_root() -> Path:
    """The folder holding render scratch folders: ``$XDG_CACHE_HOME/restora`` (or ``~/.cache/restora``).

    Falls back to the system temporary folder when the cache dir cannot be created.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    root = Path(base) / "restora"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:
        return Path(tempfile.gettempdir())


def remove_leftovers(root: Path | str) -> list[Path]:
    """Delete scratch folders under ``root`` whose session (pid in the name) is gone; return them."""
    removed = []
    try:
        entries = list(Path(root).iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid = _folder_pid(entry.name)
        if pid is None or pid == os.getpid() or pid_alive(pid) or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _folder_pid(name: str) -> int | None:
    """The pid in a scratch folder name ``restora-render-<pid>-XXXX``, else None."""
    if not name.startswith(FOLDER_PREFIX):
        return None
    head = name[len(FOLDER_PREFIX):].split("-", 1)[0]
    return int(head) if head.isdigit() else None


class LaneStorage:
    """Allocates zeroed float32 [frames, channels] lane arrays; thread-safe.

    Arrays of at least ``ram_limit`` bytes are memory-mapped files in this
    storage's own folder (made on first use under ``root``, default
    :func:`scratch_root`). Their disk space is reserved at allocation, so a
    full disk raises :class:`AudioOutputError` there instead of killing the
    process with SIGBUS on a later write into a sparse file.
    """

    def __init__(self, root: Path | str | None = None, *, ram_limit: int = RAM_LIMIT_BYTES) -> None:
        self.root = Path(root) if root is not None else None
        self.ram_limit = int(ram_limit)
        self.folder: Path | None = None
        self._lock = threading.Lock()
        self._count = 0

    def allocate(self, frames: int, channels: int) -> np.ndarray:
        """A zeroed float32 [frames, channels] array, file-backed when large.

        Raises :class:`AudioOutputError` with a plain message when the disk
        cannot hold it.
        """
        shape = (int(frames), int(channels))
        nbytes = shape[0] * shape[1] * 4
        if nbytes < self.ram_limit or nbytes == 0:
            return np.zeros(shape, np.float32)  # zero pages are mapped lazily: unrendered parts cost nothing
        with self._lock:
            folder = self._folder()
            self._count += 1
            path = folder / f"lane-{self._count}.f32"
        _reserve(path, nbytes)
        try:
            array = np.memmap(path, dtype=np.float32, mode="r+", shape=shape)
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise AudioOutputError(f"cannot map the render cache file {path}: {exc.strerror or exc}") from exc
        return array

    def release(self, array: np.ndarray) -> None:
        """Delete the file behind ``array`` (if any).

        The mapping itself cannot be closed while views of it exist (the audio
        thread may be reading one), so the file is unlinked: its pages stay
        valid for whoever still holds the array, and the kernel frees the disk
        space when the last reference is gone.
        """
        name = getattr(array, "filename", None)  # np.memmap's absolute path; RAM arrays have none
        folder = self.folder
        if name is not None and folder is not None and Path(name).parent == folder:
            try:
                Path(name).unlink(missing_ok=True)
            except OSError:
                pass  # e.g. mapped files cannot be deleted on Windows: the folder goes at shutdown

    def close(self) -> None:
        """Remove the folder and every file in it; later allocations make a new folder."""
        with self._lock:
            folder, self.folder = self.folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _folder(self) -> Path:
        # Called with the lock held; made on first use so RAM-only sessions leave no trace.
        if self.folder is None or not self.folder.is_dir():
            root = self.root if self.root is not None else scratch_root()
            try:
                root.mkdir(parents=True, exist_ok=True)
                made = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=root)
                self.folder = Path(os.path.abspath(made))  # compared with np.memmap.filename, also absolute
            except OSError as exc:
                raise AudioOutputError(f"cannot create the render cache folder in {root}: "
                                       f"{exc.strerror or exc}") from exc
        return self.folder


def _reserve(path: Path, nbytes: int) -> None:
    """Create ``path`` with ``nbytes`` of disk space really allocated (not a sparse file)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise _storage_error(path.parent, nbytes, exc) from exc
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, nbytes)
        else:  # no way to reserve blocks here: a sparse file is the best on offer
            os.ftruncate(fd, nbytes)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise _storage_error(path.parent, nbytes, exc) from exc
    os.close(fd)


def _storage_error(folder: Path, nbytes: int, exc: OSError) -> AudioOutputError:
    """The plain message for a failed reservation of ``nbytes`` in ``folder``."""
    need = max(1, round(nbytes / 2 ** 20))
    if exc.errno in _DISK_FULL:
        return AudioOutputError(f"not enough disk space for the render cache in {folder}: need {need} MB")
    return AudioOutputError(f"cannot reserve {need} MB for the render cache in {folder}: {exc.strerror or exc}")
