"""``restora batch IN_DIR -o OUT_DIR --preset ...``: a whole folder tree.

Mirrors the tree: single-output graphs write ``OUT_DIR/<rel path>.<ext>``;
multi-output graphs write ``OUT_DIR/<rel path without extension>/<name>.<ext>``.
One bad file does not stop the others; Ctrl-C stops cleanly (finished files
stay, the file in progress leaves nothing).

``--engine ray`` runs the same per-file job on Ray actors (cli/batch_ray.py);
finding inputs, skipping, the report and the exit code are shared here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from restora.cli.cmd_process import add_output_options, load_with_overrides, output_options, providers_note
from restora.cli.report import batch_row, write_csv
from restora.errors import AudioInputError, Cancelled, RestoraError, UsageError

log = logging.getLogger("restora")

AUDIO_EXTENSIONS = {".wav", ".wave", ".rf64", ".w64", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif",
                    ".aiff", ".aifc", ".caf", ".au", ".m4a", ".aac", ".mp4", ".mov", ".m4v", ".mkv",
                    ".webm", ".wma"}
BATCH_FAILED = 4


def register(sub, common) -> None:
    p = sub.add_parser("batch", parents=[common], help="process every audio file under a folder")
    p.add_argument("input_dir", type=Path, help="folder to read (recursively)")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to write (tree mirrored)")
    add_output_options(p)
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="files processed in parallel (default 1; with --engine ray: at most N workers)")
    p.add_argument("--skip-existing", action="store_true", help="skip inputs whose outputs all exist")
    p.add_argument("--report", type=Path, metavar="FILE.csv",
                   help="per-file status, error, duration, DNSMOS before/after, LUFS, real-time factor")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: processes on this machine (default); ray: Ray actors on this machine or a "
                        "cluster (pip install 'restora[cluster]'); IN_DIR and OUT_DIR must then be paths every "
                        "worker sees (a shared filesystem)")
    p.add_argument("--address", metavar="auto|HOST:PORT",
                   help="with --engine ray: the cluster to join ('auto': the running one; default: start a "
                        "local Ray instance with this machine's CPUs)")
    p.add_argument("--cpus-per-job", type=float, metavar="N", help="with --engine ray: CPUs per worker (default 1)")
    p.add_argument("--gpus-per-job", type=float, metavar="N", help="with --engine ray: GPUs per worker (default 0)")
    p.set_defaults(func=run)


RAY_ONLY = (("address", "--address"), ("cpus_per_job", "--cpus-per-job"), ("gpus_per_job", "--gpus-per-job"))


def check_engine(args: argparse.Namespace) -> None:
    """Usage errors for engine options; with ``--engine ray``, also that Ray can be imported."""
    engine = getattr(args, "engine", "local")
    if engine != "ray":
        given = [flag for attr, flag in RAY_ONLY if getattr(args, attr, None) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only apply with --engine ray")
        return
    from restora.cli.batch_ray import check_args

    check_args(args)


def find_inputs(root: Path, exclude: Path) -> list[Path]:
    """Audio/video files under ``root``, sorted, skipping hidden files and ``exclude``'s tree."""
    exclude = exclude.resolve()
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        resolved = path.resolve()
        if resolved == exclude or exclude in resolved.parents:
            continue
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            found.append(path)
    return found


def destination(preset, root: Path, path: Path, out_root: Path, fmt: str | None) -> Path:
    """What to pass as ``out`` to process_file for ``path`` (file or folder)."""
    from restora.graph.file_job import default_ext

    rel = path.relative_to(root)
    if len(preset.outputs) > 1:
        return out_root / rel.with_suffix("")
    return out_root / rel.with_suffix("." + (fmt or default_ext(path)))


def run(args: argparse.Namespace) -> int:
    from restora.graph.file_job import plan_outputs

    check_engine(args)
    preset = load_with_overrides(args)
    options = output_options(args)
    if args.jobs is not None and (args.jobs < 1 or args.jobs > 64):
        raise UsageError(f"--jobs {args.jobs} is out of range [1, 64]")
    if not args.input_dir.is_dir():
        raise AudioInputError(f"{args.input_dir}: not a folder")
    from restora.dsp.partial_files import remove_leftovers

    inputs = find_inputs(args.input_dir, args.output)
    remove_leftovers(args.output, recursive=True)
    if not inputs:
        raise AudioInputError(f"{args.input_dir}: no audio files found")
    jobs, rows = [], []
    for path in inputs:
        out = destination(preset, args.input_dir, path, args.output, args.format)
        planned = plan_outputs(preset, path, out, args.format)
        if args.skip_existing and all(p.exists() for p in planned.values()):
            rows.append(batch_row(path, "skipped", "outputs exist"))
            continue
        jobs.append((path, out))
    total = sum(_duration(path) for path, _ in jobs)
    cancelled = False
    try:
        _run_jobs(preset, options, jobs, args, rows, total)
    except KeyboardInterrupt:
        cancelled = True
    done = {row["input"] for row in rows}
    rows.extend(batch_row(path, "cancelled") for path, _ in jobs if str(path) not in done)
    rows.sort(key=lambda row: row["input"])
    if args.report:
        write_csv(args.report, rows)
    failed = [row for row in rows if row["status"] == "failed"]
    ok = sum(row["status"] == "ok" for row in rows)
    log.info("%d processed, %d failed, %d skipped%s%s", ok, len(failed),
             sum(row["status"] == "skipped" for row in rows), ", cancelled" if cancelled else "",
             providers_note() if getattr(args, "engine", "local") == "local" and _local_jobs(args) == 1 else "")
    for row in failed:
        log.error("failed: %s", row["error"])
    if cancelled:
        return Cancelled.exit_code
    return BATCH_FAILED if failed else 0


def _duration(path: Path) -> float:
    from restora.dsp import audio_io

    try:
        return audio_io.probe(path).duration_s or 0.0
    except RestoraError:
        return 0.0


def _local_jobs(args) -> int:
    return args.jobs or 1


def _run_jobs(preset, options, jobs, args, rows, total) -> None:
    from restora.cli.progress import batch_bar

    meter = bool(args.report)
    show = not getattr(args, "quiet", False) and sys.stderr.isatty()
    with batch_bar(total, len(jobs), show) as bar:
        def done(path: Path, row: dict) -> None:
            rows.append(row)
            _advance(bar, float(row["duration_s"] or _duration(path)))

        if getattr(args, "engine", "local") == "ray":
            from restora.cli.batch_ray import run_jobs

            run_jobs(preset, options, jobs, meter, args, done)
            return
        workers = _local_jobs(args)
        if workers == 1:
            for path, out in jobs:
                done(path, _one(preset, path, out, options, meter))
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(_one, preset, path, out, options, meter): path for path, out in jobs}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        path = pending.pop(future)
                        done(path, future.result())
            except KeyboardInterrupt:
                for future in pending:
                    future.cancel()
                raise


def _advance(bar, seconds: float) -> None:
    # Probed durations can be estimates (compressed files): never run past 100 %.
    bar.update(min(seconds, bar.total - bar.n))


def _one(preset, path: Path, out: Path, options, meter: bool) -> dict:
    """Process one file; never raises for a bad file (the row carries the error)."""
    from restora.graph.file_job import process_file

    try:
        result = process_file(preset, path, out, options, meter_input=meter, meter_output=meter)
    except RestoraError as exc:
        if isinstance(exc, Cancelled):
            raise KeyboardInterrupt from None
        return batch_row(path, "failed", f"{path}: {exc}" if str(path) not in str(exc) else str(exc))
    except MemoryError:
        return batch_row(path, "failed", f"{path}: out of memory")
    except OSError as exc:
        return batch_row(path, "failed", f"{path}: {exc.strerror or exc}")
    except Exception as exc:  # a bug must not stop the other files; the row says what happened
        log.debug("internal error on %s", path, exc_info=True)
        return batch_row(path, "failed", f"{path}: internal error: {type(exc).__name__}: {exc}")
    return batch_row(path, "ok", result=result)
