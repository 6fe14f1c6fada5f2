"""``restora batch ... --engine ray``: the batch job on Ray actors, on this machine or a cluster.

One actor per worker slot (available cluster CPUs // ``--cpus-per-job``, at
most ``--jobs`` and at most one per file). Each actor runs the local engine's
per-file job (:func:`restora.cli.cmd_batch._one`), so the outputs, the report
rows and the folder mirroring are the local engine's, and model sessions
(cached per process) load once per worker, not once per file.

Storage: files are not shipped through Ray's object store. Every worker opens
the input and writes the output itself, so IN_DIR and OUT_DIR must be paths
that every node sees, the same path everywhere (a shared filesystem: NFS, a
cluster filesystem, a volume mounted on every pod). On one machine (the
default: a local Ray instance) any path works.

Faults: a worker that dies mid-file (killed, out of memory, node lost) is
replaced and the file is tried again on the new worker, :data:`MAX_ATTEMPTS`
times in all; then the file's row says "failed" and the other files go on.
A dead worker's half-written output is a hidden temporary file; it is removed
when the file is retried and after the run (and on Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from collections import deque
from pathlib import Path

from restora.cli.report import batch_row
from restora.errors import UsageError

log = logging.getLogger("restora")

MAX_ATTEMPTS = 3
INSTALL_HINT = "pip install 'restora[cluster]'"
# Test hook: names a marker file holding an input file name (and "always" on a second line).
# While the marker exists, the worker processing that file dies (os._exit) after its first
# output block is written; without "always" the worker deletes the marker first (dies once).
KILL_HOOK_ENV = "RESTORA_TEST_KILL_WORKER"


def import_ray():
    """The ``ray`` module, or a usage error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_args(args: argparse.Namespace) -> None:
    """Usage errors for the Ray options; checks Ray imports before any work is done."""
    cpus = getattr(args, "cpus_per_job", None)
    gpus = getattr(args, "gpus_per_job", None)
    if cpus is not None and not 0 < cpus <= 1024:
        raise UsageError(f"--cpus-per-job {cpus:g} must be more than 0")
    if gpus is not None and not 0 <= gpus <= 64:
        raise UsageError(f"--gpus-per-job {gpus:g} must be 0 or more")
    import_ray()


class BatchWorker:
    """One worker slot: holds the preset and options, processes one file per call."""

    def __init__(self, preset, options, meter: bool, kill_hook: str | None = None):
        self.preset, self.options, self.meter, self.kill_hook = preset, options, meter, kill_hook

    def where(self) -> tuple[str, int]:
        """(Ray node id, process id) of this worker."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    def process(self, path: Path, out: Path) -> dict:
        from restora.cli.cmd_batch import _one

        if self.kill_hook:
            _arm_kill_hook(Path(self.kill_hook), path)
        return _one(self.preset, path, out, self.options, self.meter)


def _arm_kill_hook(marker: Path, path: Path) -> None:
    try:
        lines = marker.read_text().split()
    except OSError:
        return
    if not lines or lines[0] != path.name:
        return
    if "always" not in lines[1:]:
        marker.unlink(missing_ok=True)
    from restora.dsp import audio_write

    write = audio_write.AudioWriter.write

    def write_then_die(self, block):
        write(self, block)
        os._exit(1)

    audio_write.AudioWriter.write = write_then_die


def _connect(ray, args) -> bool:
    """Join or start Ray; True when this call started it (and must shut it down)."""
    address = getattr(args, "address", None)
    if address and address != "auto":
        _check_reachable(address)  # even when Ray is already up in this process: the user named a cluster
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False,
                     logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise UsageError(f"cannot start or join {where}: {exc}") from None
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` nothing answers on (ray.init would retry for minutes without a word)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address!r}: expected auto or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UsageError(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def worker_count(ray, args, files: int) -> int:
    """Worker slots: free CPUs (and GPUs) // per-job need, at most --jobs and the number of files."""
    free = ray.available_resources() or ray.cluster_resources()
    cpus = getattr(args, "cpus_per_job", None) or 1.0
    gpus = getattr(args, "gpus_per_job", None) or 0.0
    slots = int(free.get("CPU", 1.0) // cpus)
    if gpus:
        slots = min(slots, int(free.get("GPU", 0.0) // gpus))
    if getattr(args, "jobs", None):
        slots = min(slots, args.jobs)
    return max(1, min(slots, files))


def run_jobs(preset, options, jobs: list[tuple[Path, Path]], meter: bool, args, done) -> None:
    """Process ``jobs`` ((input, out) pairs) on Ray actors; ``done(path, row)`` per finished file.

    Raises KeyboardInterrupt on Ctrl-C after killing the workers (the caller
    reports the unfinished files as cancelled).
    """
    if not jobs:
        return
    ray = import_ray()
    from ray import exceptions as rex

    died = (rex.RayActorError, rex.WorkerCrashedError, rex.NodeDiedError)
    started = _connect(ray, args)
    actor_class = ray.remote(num_cpus=getattr(args, "cpus_per_job", None) or 1.0,
                             num_gpus=getattr(args, "gpus_per_job", None) or 0.0,
                             max_restarts=0, max_task_retries=0)(BatchWorker)
    hook = os.environ.get(KILL_HOOK_ENV) or None
    pids: dict = {}  # actor -> ObjectRef of where() (to wait for killed local workers to be gone)

    def spawn():
        actor = actor_class.remote(preset, options, meter, hook)
        pids[actor] = actor.where.remote()
        return actor

    queue = deque((path, out, 1) for path, out in jobs)
    idle = [spawn() for _ in range(worker_count(ray, args, len(jobs)))]
    log.info("ray: %d worker(s) for %d file(s)", len(idle), len(jobs))
    running: dict = {}  # ObjectRef -> (actor, path, out, attempt)
    try:
        while queue or running:
            while idle and queue:
                actor = idle.pop()
                path, out, attempt = queue.popleft()
                running[actor.process.remote(path, out)] = (actor, path, out, attempt)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                actor, path, out, attempt = running.pop(ref)
                try:
                    row = ray.get(ref)
                except died as exc:
                    _kill(ray, actor)
                    idle.append(spawn())
                    if attempt < MAX_ATTEMPTS:
                        log.warning("%s: the worker died (%s); trying again (attempt %d of %d)", path,
                                    type(exc).__name__, attempt + 1, MAX_ATTEMPTS)
                        queue.appendleft((path, out, attempt + 1))
                        continue
                    row = batch_row(path, "failed", f"{path}: the worker processing it died {attempt} times")
                except rex.RayError as exc:  # the job raised past _one (a bug): the row says so
                    idle.append(actor)
                    cause = getattr(exc, "cause", None) or exc
                    row = batch_row(path, "failed", f"{path}: internal error: {type(cause).__name__}: {cause}")
                else:
                    idle.append(actor)
                done(path, row)
    finally:
        for actor in pids:
            _kill(ray, actor)
        _wait_gone(ray, pids)
        if started:
            ray.shutdown()
        from restora.dsp.partial_files import remove_leftovers, remove_parts_of
        from restora.graph.file_job import plan_outputs

        remove_leftovers(args.output, recursive=True)
        # Workers on other hosts leave temporary names whose process ids mean nothing here: every
        # writer of this batch is gone now, so whatever is left of its outputs' temporary files goes.
        remove_parts_of(target for path, out in jobs for target in plan_outputs(preset, path, out,
                                                                                  args.format).values())


def _kill(ray, actor) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already gone
        pass


def _wait_gone(ray, pids: dict, timeout: float = 10.0) -> None:
    """Wait until the killed workers' processes (those on this machine) have exited.

    Their temporary files are only removed once their process is gone.
    """
    from restora.dsp.partial_files import pid_alive

    here, local = ray.get_runtime_context().get_node_id(), []
    for ref in pids.values():
        try:
            node, pid = ray.get(ref, timeout=0)
        except Exception:  # never started, died, or still starting: nothing it wrote is in use
            continue
        if node == here:
            local.append(pid)
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in local) and time.monotonic() < deadline:
        time.sleep(0.05)
