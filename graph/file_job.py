"""Process one audio file with a preset: read, run the graph, write every output.

The input is never modified. Each output goes to a temporary file beside its
destination and is renamed only when the whole graph has finished; if anything
fails or the job is cancelled, every temporary file is removed, so a job
either produces all its outputs or none.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from restora.dsp import audio_io, partial_files
from restora.dsp.resample import StreamResampler
from restora.errors import UsageError
from restora.graph.node import Measurement
from restora.graph.preset import Preset
from restora.graph.runner import DEFAULT_BLOCK_FRAMES, GraphRun
from restora.graph.taps import MeterTap, ResamplingSink

WRITABLE = ("wav", "flac", "ogg", "opus", "mp3", "aiff")


@dataclass
class OutputOptions:
    """What the user asked of the written files (None = the source's own)."""

    format: str | None = None
    bit_depth: int | str | None = None  # 16, 24, 32 or "float"
    sample_rate: int | None = None
    quality: float | None = None
    overwrite: bool = False


@dataclass
class FileResult:
    """What happened to one input file."""

    input: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    duration_s: float = 0.0
    seconds: float = 0.0
    measurements: dict[str, list[Measurement]] = field(default_factory=dict)
    input_meter: dict = field(default_factory=dict)
    output_meter: dict = field(default_factory=dict)
    clipped: dict[str, int] = field(default_factory=dict)

    @property
    def real_time_factor(self) -> float | None:
        """Processing seconds per second of audio (lower is faster)."""
        return self.seconds / self.duration_s if self.duration_s > 0 else None


def plan_outputs(preset: Preset, in_path: Path, out: Path, fmt: str | None) -> dict[str, Path]:
    """Destination per graph output.

    One output: ``out`` is the file (its extension, or ``fmt``, picks the
    format). Several outputs: ``out`` is a folder holding ``<name>.<ext>``.
    """
    if len(preset.outputs) == 1:
        return {next(iter(preset.outputs)): output_file(out, fmt)}
    ext = fmt or default_ext(in_path)
    return {name: out / f"{name}.{ext}" for name in preset.outputs}


def output_file(out: Path, fmt: str | None) -> Path:
    """The file ``out`` names, its extension changed to ``fmt`` when given; UsageError without either."""
    ext = out.suffix.lower().lstrip(".")
    if fmt and ext != fmt:
        return out.with_name(out.name + "." + fmt) if not ext else out.with_suffix("." + fmt)
    if not ext:
        raise UsageError(f"output {out} has no extension: add one or pass --format")
    return out


def default_ext(in_path: Path) -> str:
    """Output format for ``in_path`` when none is asked for: its own if writable, else WAV."""
    ext = in_path.suffix.lower().lstrip(".")
    return ext if ext in WRITABLE else "wav"


def check_formats(paths: dict[str, Path]) -> None:
    """Refuse output formats Restora cannot write (before any folder is made).

    Existing outputs and outputs equal to the input are refused by
    :class:`~restora.dsp.audio_io.AudioWriter` when it opens, before processing.
    """
    for path in paths.values():
        ext = path.suffix.lower().lstrip(".")
        if ext not in WRITABLE and ext != "aif":
            raise UsageError(f"cannot write {path}: format '{ext}' is not one of {', '.join(WRITABLE)}")


def process_file(preset: Preset, in_path: Path, out: Path, options: OutputOptions | None = None, *,
                 cancel: threading.Event | None = None,
                 progress: Callable[[float], None] | None = None,
                 meter_input: bool = False, meter_output: bool = False,
                 block_frames: int = DEFAULT_BLOCK_FRAMES, paths: dict[str, Path] | None = None) -> FileResult:
    """Run ``preset`` on the file ``in_path`` and write its outputs at/under ``out``.

    ``paths`` (output name → file) replaces the default plan (:func:`plan_outputs`).

    ``meter_input``/``meter_output`` add loudness and DNSMOS measurements of the
    input and of the first output (batch reports), computed in the same pass.

    The graph runs at ``preset.working_rate(input rate)``: the input's rate
    unless a node (``upscale``) asks for a higher one; the input is then
    resampled up before the first node and the outputs default to that rate.
    """
    options = options or OutputOptions()
    in_path, out = Path(in_path), Path(out)
    info = audio_io.probe(in_path)
    paths = {k: Path(v) for k, v in paths.items()} if paths else plan_outputs(preset, in_path, out, options.format)
    check_formats(paths)
    result = FileResult(input=in_path, duration_s=info.duration_s or 0.0)
    rate = preset.working_rate(info.sample_rate)
    # Outputs default to the graph's rate (format limits still apply: Opus is 48 kHz).
    out_info = info if rate == info.sample_rate else dataclasses.replace(info, sample_rate=rate)
    started = time.perf_counter()
    with ExitStack() as stack:
        sinks, writers = {}, {}
        for name, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial_files.remove_leftovers(path.parent)
            out_rate, channels, bit_depth = audio_io.default_output_spec(out_info, path)
            out_rate = options.sample_rate or out_rate
            writer = stack.enter_context(audio_io.AudioWriter(
                path, out_rate, channels, bit_depth=options.bit_depth or bit_depth,
                quality=options.quality, tags=info.tags, bext=_bext_at(info, out_rate),
                overwrite=options.overwrite, forbid_same_as=in_path))
            writers[name] = writer
            sinks[name] = ResamplingSink(writer, rate)
        first = next(iter(sinks))
        out_tap = MeterTap(sinks[first], rate, info.channels) if meter_output else None
        if out_tap:
            sinks[first] = out_tap
        in_tap = MeterTap(None, info.sample_rate, info.channels) if meter_input else None
        graph = GraphRun(preset, rate, info.channels, sinks, workdir=out_dir(paths),
                         block_frames=block_frames, cancel=cancel, progress=progress)
        blocks = audio_io.read_blocks(in_path, block_frames, info=info)
        if in_tap:
            blocks = in_tap.passthrough(blocks)
        frames = info.frames
        if rate != info.sample_rate:
            blocks = upsampled_blocks(blocks, info.sample_rate, rate, info.channels)
            frames = None if frames is None else round(frames * rate / info.sample_rate)
        result.measurements = graph.run(blocks, frames)
        for sink in sinks.values():
            sink.finish()
        result.input_meter = in_tap.results() if in_tap else {}
        result.output_meter = out_tap.results() if out_tap else {}
        result.clipped = {name: w.clipped_samples for name, w in writers.items()}
    # Leaving the ExitStack closed every writer: temporary files were renamed
    # only now, after the whole graph succeeded.
    result.outputs = paths
    result.seconds = time.perf_counter() - started
    return result


def upsampled_blocks(blocks: Iterable[np.ndarray], in_rate: int, out_rate: int,
                     channels: int) -> Iterator[np.ndarray]:
    """``blocks`` [frames, channels] at ``in_rate`` Hz resampled (soxr VHQ, streaming) to ``out_rate`` Hz.

    The stream keeps its timing (output frame ``j`` at ``j / out_rate`` s) and
    has ``round(n * out_rate / in_rate)`` frames in all.
    """
    resampler = StreamResampler(in_rate, out_rate, channels, quality="VHQ")
    for block in blocks:
        out = resampler.process(block)
        if len(out):
            yield out
    tail = resampler.finish()
    if len(tail):
        yield tail


def _bext_at(info, rate: int):
    """The source's BWF bext with its timecode (counted in samples) moved to ``rate``."""
    if info.bext is None or rate == info.sample_rate:
        return info.bext
    return dataclasses.replace(info.bext, time_reference=round(info.bext.time_reference * rate / info.sample_rate))


def out_dir(paths: dict[str, Path]) -> Path:
    """Folder for spools: beside the outputs, so a full disk shows up there."""
    return next(iter(paths.values())).parent


def process_array(preset: Preset, audio: np.ndarray, sample_rate: int,
                  block_frames: int = DEFAULT_BLOCK_FRAMES) -> tuple[dict[str, np.ndarray], dict]:
    """Python API: run ``preset`` on float32 [frames, channels] audio in memory.

    Returns (outputs by name, each float32 [frames, channels]; measurements by node id).
    The outputs are at ``preset.working_rate(sample_rate)`` Hz: ``sample_rate``
    unless an ``upscale`` node raises it (the input is then resampled first).
    """
    from restora.graph.runner import ArraySink, array_blocks

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[1] < 1:
        raise UsageError(f"audio must be [frames, channels], got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise UsageError("audio contains NaN or infinite samples")
    sinks = {name: ArraySink() for name in preset.outputs}
    rate = preset.working_rate(sample_rate)
    blocks, frames = array_blocks(audio, block_frames), len(audio)
    if rate != sample_rate:
        blocks = upsampled_blocks(blocks, sample_rate, rate, audio.shape[1])
        frames = round(frames * rate / sample_rate)
    measurements = GraphRun(preset, rate, audio.shape[1], sinks,
                            block_frames=block_frames).run(blocks, frames)
    return {name: s.result(audio.shape[1]) for name, s in sinks.items()}, measurements
