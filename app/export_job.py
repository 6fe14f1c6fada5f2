"""Exporting lanes of a processed recording to files, all or nothing (no Qt here).

The file is streamed through the same :class:`~restora.graph.lanes.LaneAssembler`
the preview uses, so an exported lane is sample for sample what the user heard
(scope splicing and the ``removed`` lane included). Every chosen lane is written
by its own :class:`~restora.dsp.audio_io.AudioWriter` to a hidden temporary
file; only when the whole file has gone through are they renamed onto their
destinations. An error or a cancel removes every temporary file, and if a
rename fails part-way, the outputs this export already created are removed
again, so a failed export leaves the folders as they were.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from restora.dsp import audio_io, partial_files
from restora.errors import AudioOutputError, Cancelled, RestoraError, UsageError
from restora.graph.file_job import OutputOptions, _bext_at, check_formats, default_ext, upsampled_blocks
from restora.graph.lanes import DEFAULT_FADE_S, Lane, LaneAssembler, lane_preset, lanes_for
from restora.graph.preset import Preset
from restora.graph.runner import DEFAULT_BLOCK_FRAMES, GraphRun
from restora.graph.taps import ResamplingSink

_AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif"}


def default_destinations(in_path: Path, lanes: list[str], folder_or_file: Path,
                         fmt: str | None = None) -> dict[str, Path]:
    """Destination file per lane name.

    One lane: ``folder_or_file`` is the file (its extension becomes ``fmt`` when
    given); if it is an existing folder, the file is ``<stem>-<lane>.<ext>`` in it.
    Several lanes: each goes to ``<input stem>-<lane>.<ext>`` in the folder
    ``folder_or_file`` (or in its parent when it names an audio file).
    ``ext`` is ``fmt``, else the input's own format when writable, else WAV.
    """
    in_path, target = Path(in_path), Path(folder_or_file)
    if not lanes:
        raise UsageError("choose at least one output to export")
    if len(lanes) == 1 and not target.is_dir():
        if fmt:
            return {lanes[0]: target.with_suffix("." + fmt)}
        if not target.suffix:
            raise UsageError(f"output {target} has no extension: add one or choose a format")
        return {lanes[0]: target}
    if not target.is_dir() and target.suffix.lower() in _AUDIO_SUFFIXES:
        target = target.parent
    ext = fmt or default_ext(in_path)
    return {lane: target / f"{in_path.stem}-{lane}.{ext}" for lane in lanes}


def export_lanes(in_path: Path, preset: Preset, destinations: dict[str, Path], options: OutputOptions, *,
                 scope: tuple[int, int] | None = None, cancel: threading.Event | None = None,
                 progress: Callable[[float], None] | None = None,
                 block_frames: int = DEFAULT_BLOCK_FRAMES) -> dict[str, Path]:
    """Process ``in_path`` with ``preset`` and write the lanes named in ``destinations``.

    ``destinations`` maps lane names (see :func:`lanes_for`, ``"removed"``
    included) to files; each file's extension picks its format. Bit depth and
    sample rate come from ``options``, else from the source as for the CLI,
    except that the graph (and so the default output rate) runs at
    ``preset.working_rate`` of the source's rate: an ``upscale`` node raises
    it, and the source is then resampled up before the first node, as in
    :func:`restora.graph.file_job.process_file`.
    ``scope`` is a frame range ``(start, stop)`` of the source: outside it the
    main lane is the original and stems are silent, with 20 ms cross-fades
    inside the edges; None processes the whole file. ``progress(fraction)`` is
    called from this thread. Raises :class:`Cancelled` when ``cancel`` is set;
    returns the written files by lane name.
    """
    in_path = Path(in_path)
    destinations = {name: Path(path) for name, path in destinations.items()}
    info = audio_io.probe(in_path)
    lanes = _chosen_lanes(preset, destinations)
    _check_scope(scope, info.frames)
    check_formats(destinations)
    cancel = cancel or threading.Event()
    made_folders = _make_folders(destinations)
    writers: dict[str, audio_io.AudioWriter] = {}
    rate = preset.working_rate(info.sample_rate)
    try:
        sinks = _open_sinks(info, in_path, destinations, options, writers, rate)

        def emit(_start: int, data: dict[str, np.ndarray]) -> None:
            for name, sink in sinks.items():
                sink.write(_lane_block(data, name))

        fade = round(DEFAULT_FADE_S * rate)
        assembler = LaneAssembler(lanes, emit, scope=_scaled(scope, info.sample_rate, rate), fade_frames=fade)
        graph = GraphRun(lane_preset(preset), rate, info.channels, assembler.sinks,
                         workdir=next(iter(destinations.values())).parent, block_frames=block_frames,
                         cancel=cancel, progress=progress)
        blocks, frames = audio_io.read_blocks(in_path, block_frames, info=info), info.frames
        if rate != info.sample_rate:
            blocks = upsampled_blocks(blocks, info.sample_rate, rate, info.channels)
            frames = None if frames is None else round(frames * rate / info.sample_rate)
        graph.run(blocks, frames)
        for sink in sinks.values():
            sink.finish()
        # The graph checks only between blocks: a cancel during the last one still counts.
        if cancel.is_set():
            raise Cancelled("cancelled")
        _commit(writers)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        _remove_empty(made_folders)
        raise
    if progress:
        progress(1.0)
    return destinations


SUM = "+"  # a destination named "a+b" receives the sum of lanes a and b


def _lane_block(data: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Lane ``name``'s block, or the sum of the lanes in an ``a+b`` name: float32 [frames, channels]."""
    if SUM not in name:
        return data[name]
    parts = name.split(SUM)
    total = data[parts[0]].copy()
    for part in parts[1:]:
        total += data[part]
    return total


def _chosen_lanes(preset: Preset, destinations: dict[str, Path]) -> list[Lane]:
    """The lanes the assembler must build: every graph output, plus ``removed`` if asked for.

    A destination may also name a sum of lanes, ``"vocals+accompaniment"``.
    """
    lanes = lanes_for(preset)
    names = [lane.name for lane in lanes]
    if not destinations:
        raise UsageError("choose at least one output to export")
    wanted = {part for name in destinations for part in name.split(SUM)}
    unknown = [name for name in sorted(wanted) if name not in names]
    if unknown:
        raise UsageError(f"preset {preset.name!r} has no output {', '.join(map(repr, unknown))} "
                         f"(outputs: {', '.join(names)})")
    paths = [p.resolve() for p in destinations.values()]
    if len(set(paths)) != len(paths):
        raise UsageError("two outputs would be written to the same file; choose different names")
    return [lane for lane in lanes if lane.kind != "removed" or lane.name in wanted]


def _check_scope(scope: tuple[int, int] | None, frames: int) -> None:
    if scope is None:
        return
    start, stop = int(scope[0]), int(scope[1])
    if not 0 <= start < stop or start >= frames:
        raise UsageError(f"the selection {start}..{stop} (frames) is empty or outside the file")


def _make_folders(destinations: dict[str, Path]) -> list[Path]:
    """Create missing destination folders; returns those created (deepest first) to undo them."""
    made: list[Path] = []
    for path in destinations.values():
        missing = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AudioOutputError(f"cannot create the folder {path.parent}: {exc.strerror or exc}") from None
        made.extend(p for p in missing if p not in made)
    return made


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty (someone else wrote there) or already gone: leave it


def _scaled(scope: tuple[int, int] | None, from_rate: int, to_rate: int) -> tuple[int, int] | None:
    """A frame range at ``from_rate`` Hz as frames at ``to_rate`` Hz (None stays None)."""
    if scope is None or from_rate == to_rate:
        return scope
    return round(scope[0] * to_rate / from_rate), round(scope[1] * to_rate / from_rate)


def _open_sinks(info, in_path: Path, destinations: dict[str, Path], options: OutputOptions,
                writers: dict, graph_rate: int) -> dict[str, ResamplingSink]:
    """Open one writer per destination (filling ``writers`` as it goes, for abort on error).

    The lanes arrive at ``graph_rate`` Hz, which is also the default output rate.
    """
    spec = info if graph_rate == info.sample_rate else dataclasses.replace(info, sample_rate=graph_rate)
    sinks = {}
    for name, path in destinations.items():
        partial_files.remove_leftovers(path.parent)
        rate, channels, bit_depth = audio_io.default_output_spec(spec, path)
        rate = options.sample_rate or rate
        writers[name] = audio_io.AudioWriter(
            path, rate, channels, bit_depth=options.bit_depth or bit_depth, quality=options.quality,
            tags=info.tags, bext=_bext_at(info, rate), overwrite=options.overwrite, forbid_same_as=in_path)
        sinks[name] = ResamplingSink(writers[name], graph_rate)
    return sinks


def _commit(writers: dict[str, audio_io.AudioWriter]) -> None:
    """Rename every finished temporary file onto its target; undo the new ones if one fails."""
    created: list[Path] = []
    try:
        for writer in writers.values():
            existed = writer.path.exists()
            writer.close()
            if not existed:
                created.append(writer.path)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise


# -- batch: one queue entry per input file -------------------------------------------

@dataclass
class BatchItem:
    """One input file of a batch and what happened to it.

    ``duration_s`` is the probed length in seconds (0 when unknown, e.g. a
    damaged file); ``kind`` is ``queued``, ``done``, ``failed``, ``skipped`` or
    ``cancelled``; ``status`` is the text the queue shows; ``fraction`` the
    file's progress in [0, 1]; ``seconds`` the wall time it took.
    """

    path: Path
    duration_s: float = 0.0
    kind: str = "queued"
    status: str = "queued"
    fraction: float = 0.0
    seconds: float = 0.0


def scan_folder(root: Path, output_root: Path, cancel: threading.Event | None = None) -> list[BatchItem]:
    """Audio files under ``root`` (recursively, skipping hidden ones and the output tree), probed."""
    from restora.cli.cmd_batch import find_inputs

    items = []
    for path in find_inputs(Path(root), Path(output_root)):
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        try:
            duration = audio_io.probe(path).duration_s or 0.0
        except RestoraError:
            duration = 0.0  # the run reports why the file cannot be read
        items.append(BatchItem(path, duration))
    return items


def batch_destinations(preset: Preset, root: Path, path: Path, out_root: Path, fmt: str | None) -> dict[str, Path]:
    """Files ``path`` becomes in the mirrored output tree, by output name (as ``restora batch``)."""
    from restora.cli.cmd_batch import destination
    from restora.graph.file_job import plan_outputs

    return plan_outputs(preset, path, destination(preset, root, path, out_root, fmt), fmt)


def run_batch_item(item: BatchItem, preset: Preset, root: Path, out_root: Path, options: OutputOptions,
                   skip_existing: bool, cancel: threading.Event | None = None,
                   progress: Callable[[float], None] | None = None) -> tuple[str, object]:
    """Process one queued file; returns ``("done", wall seconds)`` or ``("skipped", reason)``.

    Errors propagate (the caller marks the file failed and goes on); every
    preset output is written, all or nothing.
    """
    planned = batch_destinations(preset, root, item.path, out_root, options.format)
    if skip_existing and all(p.exists() for p in planned.values()):
        return "skipped", "outputs exist"
    started = time.perf_counter()
    export_lanes(item.path, preset, planned, options, cancel=cancel, progress=progress)
    return "done", time.perf_counter() - started


def overall_fraction(items: list[BatchItem]) -> float:
    """Share of the batch's audio processed, in [0, 1] (by file count when no length is known)."""
    active = [item for item in items if item.kind != "skipped"]
    total = sum(item.duration_s for item in active)
    if total <= 0:
        return sum(item.fraction for item in active) / len(active) if active else 0.0
    return sum(item.duration_s * item.fraction for item in active) / total


def eta_seconds(items: list[BatchItem], elapsed_s: float) -> float | None:
    """Seconds left, from processed audio seconds versus wall time so far; None before any progress."""
    done = overall_fraction(items)
    if done <= 0 or elapsed_s <= 0:
        return None
    return elapsed_s * (1.0 - done) / done


def format_seconds(seconds: float) -> str:
    """``"4.2 s"`` under a minute, else ``"m:ss"`` or ``"h:mm:ss"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
