"""Names of in-progress files, and removing those a killed process left behind.

Outputs and spools are written under hidden names that carry the writer's
process id: ``.<name>.restora-part-<pid>-XXXX`` (files) and
``.restora-spool-<pid>-XXXX`` (spool folders). A crash or SIGKILL cannot
clean up after itself, so the next run removes the leftovers whose process is
gone; files of a live process (another run writing to the same folder) are
never touched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

log = logging.getLogger("restora")

_LEFTOVER = re.compile(r"^\.(?:.+\.restora-part|restora-spool)-(\d+)-")


def part_prefix(target: Path) -> str:
    """Prefix for the temporary file of ``target`` written by this process."""
    return f".{target.name}.restora-part-{os.getpid()}-"


def spool_prefix() -> str:
    """Prefix for this process's spool folder."""
    return f".restora-spool-{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (used to tell a crashed session's leftovers from a live one's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def remove_leftovers(folder: Path, recursive: bool = False) -> int:
    """Delete in-progress files/folders of dead processes under ``folder``; returns how many."""
    if not folder.is_dir():
        return 0
    removed = 0
    entries = folder.rglob(".*") if recursive else folder.glob(".*")
    for path in list(entries):
        match = _LEFTOVER.match(path.name)
        if not match or pid_alive(int(match.group(1))):
            continue
        try:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove the leftover %s: %s", path, exc.strerror)
    if removed:
        log.info("removed %d unfinished file(s) left by an interrupted run in %s", removed, folder)
    return removed
