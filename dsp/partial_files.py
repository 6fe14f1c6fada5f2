"""Names of in-progress files, and removing those a killed process left behind.

Outputs and spools are written under hidden names that carry the writer's
host and process id: ``.<name>.restora-part-<host>-<pid>-XXXX`` (files) and
``.restora-spool-<host>-<pid>-XXXX`` (spool folders). A crash or SIGKILL cannot
clean up after itself, so the next run removes the leftovers whose process is
gone; files of a live process (another run writing to the same folder) are
never touched. A process id means nothing on another machine, so files another
host writes (a batch on a cluster, output on shared storage) are left to that
host's runs, or to :func:`remove_parts_of` once the batch that owns them ended.
Names without a host (older releases) count as this host's.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import socket
from pathlib import Path

log = logging.getLogger("restora")

_LEFTOVER = re.compile(r"^\.(?:.+\.restora-part|restora-spool)-(?:([A-Za-z0-9_]+)-)?(\d+)-")


def host_tag() -> str:
    """This machine's name as it appears in temporary names (letters, digits and ``_`` only)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def part_prefix(target: Path) -> str:
    """Prefix for the temporary file of ``target`` written by this process."""
    return f".{target.name}.restora-part-{host_tag()}-{os.getpid()}-"


def spool_prefix() -> str:
    """Prefix for this process's spool folder."""
    return f".restora-spool-{host_tag()}-{os.getpid()}-"


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
        if not match or match.group(1) not in (None, host_tag()) or pid_alive(int(match.group(2))):
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


def remove_parts_of(targets) -> int:
    """Delete every temporary file of the output files ``targets`` (paths), whoever wrote it; returns how many.

    For a batch that has ended, all of whose writers are gone (possibly on other
    hosts): their temporary files are leftovers whatever process id they carry.
    """
    removed = 0
    for target in targets:
        target = Path(target)
        if not target.parent.is_dir():
            continue
        for path in target.parent.glob(f".{glob.escape(target.name)}.restora-part-*"):
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("could not remove the leftover %s: %s", path, exc.strerror)
    return removed

