"""Plain-words reasons for a failed write (disk full, file-size limit, quota).

libsndfile reports a refused write(2) only as "System error", so the reason
is worked out from the error number when there is one, else from the state
of the file system and the process's file-size limit.
"""

from __future__ import annotations

import errno
import os
import resource
from pathlib import Path

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
_LOW_SPACE_BYTES = 1 << 20


def explain(exc: BaseException, partial: Path | None, target: Path) -> str:
    """Why writing ``target`` failed (``partial`` is the file being written, if it exists)."""
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    if code in _FULL or "no space left" in text or "disk full" in text:
        return f"disk full while writing {target}"
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    size = partial.stat().st_size if partial is not None and partial.exists() else 0
    if code == errno.EFBIG or (soft != resource.RLIM_INFINITY and size >= soft):
        return f"file-size limit reached while writing {target} (see `ulimit -f`)"
    try:
        stats = os.statvfs(target.parent)
        if stats.f_bavail * stats.f_frsize < _LOW_SPACE_BYTES:
            return f"disk full while writing {target}"
    except OSError:
        pass
    return f"error while writing {target}: {exc}"
