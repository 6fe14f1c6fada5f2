"""Background rendering behind live preview: lanes rendered around the playhead first, then everywhere.

:class:`RenderController` (GUI thread) owns *generations*: one per preset and
scope. Each generation renders into a :class:`LaneCache` on a worker thread.
Streaming graphs render a segment from the playhead (after a warm-up preroll),
stop where they meet audio already rendered (cross-fading into it), then fill
the next gap, wrapping to the start, until the whole file is covered. Graphs
with a whole-file node (loudness normalisation) run once, start to end.

The audio thread calls :meth:`RenderController.read`, which never blocks; a
range the new generation has not rendered yet is served from the previous
one (a single fallback generation, complete or not), so a parameter tweak
during playback does not drop to silence. Lane arrays of long recordings are
memory-mapped scratch files (:mod:`restora.app.render_storage`), deleted when
their generation is dropped and all of them at :meth:`RenderController.shutdown`.
"""

from __future__ import annotations

import tempfile

import logging
import threading
import time

import numpy as np
from PySide6.QtCore import QObject, Signal

from restora.app.render_cache import Intervals, LaneCache, cache_key, interval_at, uncovered
from restora.app.render_storage import RAM_LIMIT_BYTES, LaneStorage, remove_leftovers, scratch_root
from restora.app.source import SourceAudio, upsampled_source
from restora.errors import Cancelled, RestoraError
from restora.graph.lanes import DEFAULT_FADE_S, INPUT_STREAM, Lane, LaneAssembler, lane_preset, lanes_for
from restora.graph.nodes_dehum import fix_hum_frequencies
from restora.graph.nodes_denoise_profile import fix_learning_ranges
from restora.graph.nodes_upscale import fix_auto_cutoffs
from restora.graph.preset import Preset
from restora.graph.registry import node_class
from restora.graph.runner import GraphRun

log = logging.getLogger(__name__)

PREROLL_S = 1.5        # warm-up so recurrent/STFT state has settled where the kept audio starts
XFADE_S = 0.005        # cross-fade where a segment meets audio already rendered
BLOCK_FRAMES = 4096    # small: first output and parameter changes are heard quickly
RESTART_AHEAD_S = 3.0  # a seek this far past the render position restarts the render there
RENDERED_PERIOD_S = 0.1
STATS_PERIOD_S = 0.5


class _Stats:
    """Processing time per node of one generation (one writer: the render thread)."""

    def __init__(self, preset: Preset) -> None:
        self.bypassed = {s.id for s in preset.nodes if s.bypass}
        self.seconds: dict[str, float] = {}
        self.frames: dict[str, int] = {}
        self.provider: dict[str, str | None] = {}
        self.measured: dict[str, dict[str, float | None]] = {}  # latest measurements per node
        self._nodes: dict = {}

    def instrument(self, graph: GraphRun) -> None:
        """Time every node's process/analyze/finish calls in ``graph``."""
        self._nodes = {node_id: run.node for node_id, run in graph.runs.items()}
        for node_id, run in graph.runs.items():
            self.seconds.setdefault(node_id, 0.0)
            self.frames.setdefault(node_id, 0)
            self.provider.setdefault(node_id, None)
            for method in ("process", "analyze", "finish"):
                setattr(run.node, method, self._timed(node_id, run.node, method))

    def _timed(self, node_id: str, node, method: str):
        call = getattr(node, method)
        counts_audio = method == "process"

        def timed(*args):
            t0 = time.perf_counter()
            try:
                return call(*args)
            finally:
                self.seconds[node_id] += time.perf_counter() - t0
                if counts_audio:
                    self.frames[node_id] += len(args[0])
                if self.provider[node_id] is None:
                    # "" marks a node without a model session, so it is looked up once.
                    self.provider[node_id] = provider_of(node) or ""
        return timed

    def snapshot(self, sample_rate: int) -> dict:
        """{node_id: {"rtf": processing s per audio s, "provider": str | None, "audio_s": s measured,
        "measurements": {name: value}}}; measurements are the node's latest (e.g. upscale's ``cutoff_hz``)."""
        for node_id, node in list(self._nodes.items()):
            found = {m.name: m.value for m in list(node.measurements) if m.start_s is None}
            if found:
                self.measured[node_id] = found
        out = {}
        for node_id in list(self.seconds):
            audio_s = self.frames[node_id] / sample_rate
            if node_id in self.bypassed:
                out[node_id] = {"rtf": 0.0, "provider": None, "audio_s": 0.0}
            elif audio_s > 0:
                out[node_id] = {"rtf": self.seconds[node_id] / audio_s,
                                "provider": self.provider[node_id] or None, "audio_s": audio_s}
            if node_id in self.measured and node_id in out and node_id not in self.bypassed:
                out[node_id]["measurements"] = dict(self.measured[node_id])
        return out


def provider_of(node) -> str | None:
    """The ONNX Runtime execution provider a model node's session runs on, or None."""
    for value in list(vars(node).values()) + [getattr(node, "_vad", None)]:
        provider = getattr(value, "provider", None)
        if isinstance(provider, str):
            return provider
    return None


class _Generation:
    """One preset + scope over one source, with its cache and statistics.

    ``source`` is the timeline the lanes align with: the file's audio, or
    that audio resampled to the chain's working rate (an ``upscale`` node);
    ``scope`` is in its frames.
    """

    def __init__(self, preset: Preset, scope: tuple[int, int] | None, source: SourceAudio,
                 storage: LaneStorage | None = None, cache: LaneCache | None = None) -> None:
        self.preset = preset
        self.source = source
        self.lanes: list[Lane] = lanes_for(preset)
        self.scope = None if scope is None else (max(0, int(scope[0])), min(source.frames, int(scope[1])))
        self.cache = cache or LaneCache(self.lanes, source.frames, source.channels, energy_range=self.scope,
                                        original=source, storage=storage)
        self.key = cache_key(preset, self.scope, source.path, source.sample_rate, source.frames, source.channels)
        self.whole_file = any(node_class(s.type).NEEDS_WHOLE_FILE and not s.bypass for s in preset.nodes)
        self.stats = _Stats(preset)
        self.progress = 0.0  # whole-file renders: share of the graph's passes done
        self.failed = False
        self.run_preset: Preset | None = None  # lane preset with start-of-file decisions fixed (render thread)
        self._profiles: tempfile.TemporaryDirectory | None = None

    def profile_folder(self) -> str:
        """A private folder for noise profiles learned for this generation (removed with it)."""
        if self._profiles is None:
            self._profiles = tempfile.TemporaryDirectory(prefix="restora-profiles-")
        return self._profiles.name

    def goal_end(self) -> int:
        """Frames to render: the expected length, or the decoded length once decoding ended."""
        src = self.source
        ended = src.complete or bool(src.error) or src.finished.is_set()
        return min(src.decoded if ended else src.frames, self.cache.frames)

    def fraction(self) -> float:
        """Rendered share of the scope (or of the file)."""
        end = self.goal_end()
        a, b = self.scope if self.scope is not None else (0, end)
        done = self.cache.fraction((a, min(b, end)))
        return max(done, self.progress) if self.whole_file and done < 1.0 else done

    def complete(self) -> bool:
        end = self.goal_end()
        return self.source_ended() and not uncovered(self.cache.covered(), 0, end)

    def source_ended(self) -> bool:
        src = self.source
        return src.complete or bool(src.error) or src.finished.is_set()


class _Job:
    """One render thread of a generation, starting at ``focus`` (a frame)."""

    def __init__(self, gen: _Generation, focus: int, previous: "_Job | None") -> None:
        self.gen = gen
        self.focus = int(focus)
        self.cancel = threading.Event()
        self.previous = previous
        self.segment = (self.focus, gen.goal_end())  # frames the running segment will keep
        self.position = self.focus               # next output frame of the running segment
        self.thread = threading.Thread(target=self._main, name="restora-render", daemon=True)
        self.owner: RenderController | None = None

    def _main(self) -> None:
        # One render at a time: the previous job (cancelled) may still be inside a block.
        if self.previous is not None:
            self.previous.thread.join()
            self.previous = None
        error = None
        try:
            _Worker(self).run()
        except Cancelled:
            return
        except RestoraError as exc:
            error = str(exc)
        except Exception as exc:  # any bug or library error: shown in plain words, logged in full
            log.exception("render failed")
            error = f"Processing failed: {exc}"
        self.owner._job_ended(self, error)


class _Worker:
    """The rendering loop of one job (runs on the job's thread)."""

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.gen = job.gen
        self.cache = job.gen.cache
        rate = job.gen.source.sample_rate
        self.block = job.owner.block_frames
        self.preroll = int(job.owner.preroll_s * rate)
        self.xfade = max(1, int(XFADE_S * rate))
        self.scope_fade = int(DEFAULT_FADE_S * rate)
        self._last_rendered = 0.0
        self._last_stats = 0.0

    def run(self) -> None:
        # Allocated here, not by the GUI thread: a full disk ends this job with a message.
        if not self.cache.allocate():
            raise Cancelled("the generation was dropped")
        if self.gen.whole_file:
            self._render_whole()
        else:
            self._render_streaming()

    # -- streaming graphs -------------------------------------------------
    def _render_streaming(self) -> None:
        while True:
            self._check()
            end = self.gen.goal_end()
            step = self._next_gap(end)
            if step is None:
                return
            seg_start, gap_start, gap_stop = step
            a, b = self.gen.scope if self.gen.scope is not None else (0, end)
            if seg_start < a:
                self._copy_original(seg_start, min(gap_stop, a))
            elif seg_start >= b:
                self._copy_original(seg_start, gap_stop)
            else:
                self._render_segment(seg_start, gap_start, min(gap_stop, b), end)

    def _next_gap(self, end: int) -> tuple[int, int, int] | None:
        """(segment start, gap start, gap stop) of the first gap at or after the focus, else the first gap."""
        gaps = uncovered(self.cache.covered(), 0, end)
        if not gaps:
            return None
        focus = self.job.focus
        for g0, g1 in gaps:
            if g1 > focus:
                return max(g0, focus), g0, g1
        return gaps[0][0], gaps[0][0], gaps[0][1]

    def _render_segment(self, seg_start: int, gap_start: int, seg_stop: int, end: int) -> None:
        """Render ``[seg_start, seg_stop)`` (from ``gap_start`` when the warm-up reaches frame 0)."""
        covered = self.cache.covered()
        run_start = max(0, seg_start - self.preroll)
        # From frame 0 the stream state is exact, so the uncovered frames before the focus are kept too.
        keep_from = gap_start if run_start == 0 else seg_start
        fade_in = (keep_from > 0 and interval_at(covered, keep_from - 1) is not None
                   and keep_from - self.xfade >= run_start)
        fade_out = seg_stop < end and interval_at(covered, seg_stop) is not None
        feed_stop = min(end, seg_stop + (self.xfade if fade_out else 0))
        self.job.segment, self.job.position = (keep_from, seg_stop), run_start

        def emit(start: int, data: dict[str, np.ndarray]) -> None:
            self.job.position = start + len(data[INPUT_STREAM])
            if fade_in:
                self._blend(start, data, keep_from - self.xfade, keep_from, rising=True)
            part = _slice(start, data, keep_from, seg_stop)
            if part is not None:
                self.cache.write(*part)
            if fade_out:
                self._blend(start, data, seg_stop, seg_stop + self.xfade, rising=False)
            self._wrote()

        self._run_graph(run_start, feed_stop, emit)

    def _blend(self, start: int, data: dict, lo: int, hi: int, rising: bool) -> None:
        part = _slice(start, data, lo, hi)
        if part is None:
            return
        at, blocks = part
        n = len(blocks[INPUT_STREAM])
        w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(at - lo, at - lo + n) + 0.5) / (hi - lo))
        self.cache.blend(at, blocks, w if rising else 1.0 - w)

    def _copy_original(self, start: int, stop: int) -> None:
        """Outside the scope: the main lane is the original, every other lane silent."""
        self.job.segment, self.job.position = (start, stop), start
        pos = start
        for block in self._source_blocks(start, stop):
            self._check()
            blocks = {lane.name: block if lane.kind == "main" else np.zeros_like(block)
                      for lane in self.gen.lanes}
            self.cache.write(pos, blocks)
            pos += len(block)
            self.job.position = pos
            self._wrote()

    # -- whole-file graphs --------------------------------------------------
    def _render_whole(self) -> None:
        """One pass over the scope (with warm-up) or the file; the original around a scope."""
        frames = self.cache.frames
        a, b = self.gen.scope if self.gen.scope is not None else (0, frames)
        if b <= a:  # empty scope: nothing is processed
            self._copy_original(0, frames)
            return
        run_start = max(0, a - self.preroll) if self.gen.scope is not None else 0
        self.job.segment, self.job.position = (run_start, b), run_start

        def emit(start: int, data: dict[str, np.ndarray]) -> None:
            self.job.position = start + len(data[INPUT_STREAM])
            self.cache.write(start, data)
            self._wrote()

        def progress(fraction: float) -> None:
            self.gen.progress = fraction
            self._wrote()

        self._run_graph(run_start, b, emit, progress)
        if run_start > 0:
            self._copy_original(0, run_start)
        if b < frames:
            self._copy_original(b, frames)

    # -- shared -------------------------------------------------------------
    def _run_graph(self, start: int, stop: int, emit, progress=None) -> None:
        """Run the lane preset over source frames ``[start, stop)``; ``emit`` gets the assembled lanes."""
        src = self.gen.source
        assembler = LaneAssembler(self.gen.lanes, emit, scope=self.gen.scope,
                                  fade_frames=self.scope_fade, first_frame=start)
        graph = GraphRun(self._run_preset(), src.sample_rate, src.channels, assembler.sinks,
                         block_frames=self.block, cancel=self.job.cancel, progress=progress)
        self.gen.stats.instrument(graph)
        graph.run(self._source_blocks(start, stop), stop - start)
        self._emit_stats(force=True)

    def _run_preset(self) -> Preset:
        """The lane preset with each upscale node's ``auto`` cut-off and each de-hum node's hum measured once, on
        the file's start, and each noise-profile node's profile learned once, from its range of the file.

        Segments start wherever the playhead is; measured per segment, the
        cut-off (and so the restored band) or the noise profile could differ from
        segment to segment and from the export, which runs from the start.
        """
        if self.gen.run_preset is None:
            def head(frames: int) -> np.ndarray:
                return np.array(self.gen.source.data[:min(frames, self._wait_decoded(frames))], dtype=np.float32)

            def read(start: int, stop: int) -> np.ndarray:
                return np.array(self.gen.source.data[start:min(stop, self._wait_decoded(stop))], dtype=np.float32)

            rate = self.gen.source.sample_rate
            preset = fix_hum_frequencies(fix_auto_cutoffs(lane_preset(self.gen.preset), head, rate), head, rate)
            self.gen.run_preset = fix_learning_ranges(preset, read, rate, self.gen.profile_folder())
        return self.gen.run_preset

    def _source_blocks(self, start: int, stop: int):
        """Source blocks float32 [<= block, channels] of ``[start, stop)``, waiting for the decoder."""
        pos, stop = start, min(stop, self.cache.frames)
        while pos < stop:
            want = min(pos + self.block, stop)
            available = self._wait_decoded(want)
            want = min(want, available)
            if want <= pos:
                return  # decoding ended before this frame
            yield np.array(self.gen.source.data[pos:want], dtype=np.float32)
            pos = want

    def _wait_decoded(self, frames: int) -> int:
        src = self.gen.source
        while src.decoded < frames and not self.gen.source_ended():
            self._check()
            src.finished.wait(0.02)
        return src.decoded

    def _check(self) -> None:
        if self.job.cancel.is_set():
            raise Cancelled("cancelled")

    def _wrote(self) -> None:
        now = time.monotonic()
        if now - self._last_rendered >= RENDERED_PERIOD_S:
            self._last_rendered = now
            self.job.owner._announce(self.job)
        self._emit_stats()

    def _emit_stats(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_stats >= STATS_PERIOD_S:
            self._last_stats = now
            self.job.owner._announce_stats(self.job)


def _slice(start: int, data: dict[str, np.ndarray], lo: int, hi: int):
    """``(first frame, blocks)`` of ``data`` (starting at ``start``) inside ``[lo, hi)``, or None."""
    n = len(next(iter(data.values())))
    a, b = max(lo, start), min(hi, start + n)
    if b <= a:
        return None
    return a, {name: block[a - start:b - start] for name, block in data.items()}


class RenderController(QObject):
    """Renders the lanes of the current preset in the background; create it in the GUI thread.

    Frames given to it (scope, focus) are source frames at the source's
    sample rate. The chain runs at its working rate
    (:meth:`~restora.graph.preset.Preset.working_rate`, above the file's rate
    with an ``upscale`` node): the lanes are then rendered from the source
    resampled to that rate, and what it gives back (:meth:`read`,
    :meth:`lane_data`, :meth:`covered`) is in frames of :attr:`sample_rate`,
    aligned with :meth:`timeline` (the file's audio at that rate). Lane audio
    is float32 [frames, channels]. Signals are emitted from worker threads and
    reach receivers in the GUI thread queued. Lanes of at least
    ``ram_limit_bytes`` are kept in files of a private folder under
    ``scratch_dir`` (default: the user cache dir, see
    :func:`~restora.app.render_storage.scratch_root`); creating a controller
    removes such folders left by sessions that crashed.
    """

    progress = Signal(float)     # rendered share of the scope (or file), 0..1
    lanes_changed = Signal(list)  # lane names, main first
    node_stats = Signal(dict)    # {node_id: {"rtf": s per s, "provider": str | None, "audio_s": s}}
    rendered = Signal()          # new frames available (at most ~10 Hz)
    failed = Signal(str)         # plain message for the user
    idle = Signal()              # the current preset is rendered completely

    def __init__(self, parent: QObject | None = None, *, preroll_s: float = PREROLL_S,
                 block_frames: int = BLOCK_FRAMES, scratch_dir=None,
                 ram_limit_bytes: int = RAM_LIMIT_BYTES) -> None:
        super().__init__(parent)
        self.preroll_s = float(preroll_s)
        self.block_frames = int(block_frames)
        root = scratch_dir if scratch_dir is not None else scratch_root()
        remove_leftovers(root)
        self._storage = LaneStorage(root, ram_limit=ram_limit_bytes)
        self._lock = threading.Lock()
        self._source: SourceAudio | None = None
        self._preset: Preset | None = None
        self._scope: tuple[int, int] | None = None
        self._gen: _Generation | None = None
        self._fallback: LaneCache | None = None  # the previous generation's render, for unrendered ranges
        self._job: _Job | None = None
        self._retired: _Job | None = None  # last cancelled job, joined by shutdown()
        self._focus = 0
        self._timelines: dict[int, tuple[SourceAudio, threading.Event]] = {}  # working rate -> resampled source
        self._idle = threading.Event()
        self._idle.set()

    # -- inputs (GUI thread) ------------------------------------------------
    def set_source(self, source: SourceAudio | None) -> None:
        """Render ``source`` from now on (previous renders are dropped: they belong to other audio)."""
        self._source = source
        self._focus = 0
        self._drop_timelines()
        self._set_fallback(None)
        self._new_generation(keep_fallback=False)

    def set_preset(self, preset: Preset | None, scope: tuple[int, int] | None = None) -> None:
        """Render ``preset`` over ``scope`` (source frames, stop exclusive; None = whole file)."""
        self._preset = preset
        self._scope = scope
        self._new_generation(keep_fallback=True)

    def set_focus(self, frame: int, seek: bool = False) -> None:
        """The playhead moved to ``frame``: render from there if it is not rendered or about to be.

        ``seek`` marks a jump by the user. Playback merely overtaking the
        running render (a node slower than real time, or the warm-up after an
        edit) does not restart it: a restart would add warm-up work and fall
        behind again, while carrying on reaches the playhead soonest.
        """
        self._focus = self._to_timeline(max(0, int(frame)))
        gen, job = self._gen, self._job
        if gen is None or gen.failed or gen.whole_file or self._focus >= gen.goal_end():
            return
        live = job is not None and job.gen is gen and job.thread.is_alive()
        if live:
            job.focus = self._focus  # the next gap is chosen after the playhead
        if gen.cache.is_covered(self._focus, self._focus + 1):
            return
        if live:
            lo, hi = job.segment
            ahead = int(RESTART_AHEAD_S * gen.source.sample_rate)
            if lo <= self._focus < hi and (not seek or self._focus <= job.position + ahead):
                return
        self._start_job()

    # -- outputs (any thread) -----------------------------------------------
    def read(self, lane: str, start: int, frames: int) -> np.ndarray | None:
        """Rendered ``lane`` frames float32 [n, channels] from ``start`` (n <= frames at the end), or None.

        Never blocks. Falls back to the previous preset's render for ranges
        the current one has not reached yet.
        """
        gen = self._gen
        if gen is None:
            return None
        out = gen.cache.read(lane, start, frames)
        fallback = self._fallback
        if out is None and fallback is not None:
            out = fallback.read(lane, start, frames)
        return out

    def level_match_gain(self, lane: str) -> float:
        """Linear gain that matches ``lane``'s loudness to the original (1.0 for stems and removed)."""
        gen = self._gen
        if gen is None:
            return 1.0
        fallback = self._fallback
        if not gen.cache.covered() and fallback is not None:
            return fallback.level_match_gain(lane)
        return gen.cache.level_match_gain(lane)

    @property
    def sample_rate(self) -> int | None:
        """Rate (Hz) of the rendered lanes: the chain's working rate (None without a source)."""
        gen = self._gen
        if gen is not None:
            return gen.source.sample_rate
        return self._source.sample_rate if self._source is not None else None

    def timeline(self) -> SourceAudio | None:
        """The original audio at :attr:`sample_rate`: the source itself, or it resampled to the
        working rate. Lanes are sample-aligned with it (A/B playback mixes the two)."""
        gen = self._gen
        return gen.source if gen is not None else self._source

    @property
    def lanes(self) -> list[Lane]:
        gen = self._gen
        return list(gen.lanes) if gen is not None else []

    def lane_names(self) -> list[str]:
        return [lane.name for lane in self.lanes]

    def lane_data(self, lane: str) -> np.ndarray | None:
        """The current render of ``lane``: float32 [frames, channels] (valid where :meth:`covered`).

        ``removed`` is computed on each call (a new array); other lanes are live views.
        """
        gen = self._gen
        return gen.cache.lane_data(lane) if gen is not None else None

    def covered(self) -> Intervals:
        """Rendered frame ranges of the current preset, sorted and merged."""
        gen = self._gen
        return gen.cache.covered() if gen is not None else ()

    def fraction(self) -> float:
        """Rendered share of the scope (or the file), 0..1; 0 without a preset."""
        gen = self._gen
        return gen.fraction() if gen is not None else 0.0

    def is_idle(self) -> bool:
        """True when no render is pending (finished, failed, or nothing to render)."""
        return self._idle.is_set()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until :meth:`is_idle` (tests, benchmarks); False on timeout."""
        return self._idle.wait(timeout_s)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Cancel rendering, wait (up to ``timeout_s``) for the workers, and delete the scratch folder.

        The current render stays readable (its files are unlinked, not
        unmapped); a later preset renders into a new folder.
        """
        jobs = [job for job in (self._job, self._retired) if job is not None]
        for job in jobs:
            job.cancel.set()
        for job in jobs:
            if job.thread.is_alive():
                job.thread.join(timeout_s)
        self._drop_timelines()
        self._storage.close()

    # -- project cache ------------------------------------------------------
    def save_cache(self, folder) -> bool:
        """Save the current render under ``folder`` (beside the project); False with nothing to save."""
        gen = self._gen
        if gen is None or not gen.cache.covered():
            return False
        gen.cache.save(folder, gen.key)
        return True

    def load_cache(self, folder) -> bool:
        """Use a render saved under ``folder`` for the current preset, scope and source; False if none fits."""
        gen = self._gen
        if gen is None:
            return False
        try:
            cache = LaneCache.load(folder, gen.key, gen.lanes, gen.cache.frames, gen.cache.channels,
                                   original=gen.source, storage=self._storage)
        except RestoraError as exc:  # no room to copy it in: the fresh render reports the problem
            log.warning("saved render not loaded: %s", exc)
            return False
        if cache is None:
            return False
        self._cancel_job()
        self._gen = _Generation(gen.preset, gen.scope, gen.source, self._storage, cache)
        gen.cache.release()
        self._announce(None)
        self._start_job()
        return True

    # -- internals ----------------------------------------------------------
    def _new_generation(self, keep_fallback: bool) -> None:
        old = self._gen
        self._cancel_job()
        timeline = self._timeline_for(self._preset)
        if old is not None and timeline is not None and old.source.sample_rate != timeline.sample_rate:
            keep_fallback = False  # a render at another rate cannot stand in for this one
            self._set_fallback(None)
        if keep_fallback and old is not None and old.cache.covered():
            # One fallback only (each costs a full-length array per lane): the latest
            # render, complete or not, is nearest to what the user now expects to hear.
            self._set_fallback(old.cache)
        elif old is not None:
            old.cache.release()  # nothing rendered yet: the current fallback stays
        old_names = [lane.name for lane in old.lanes] if old is not None else []
        old_rate = self.sample_rate
        new = None
        if self._preset is not None and self._source is not None:
            new = _Generation(self._preset, self._scaled_scope(timeline), timeline, self._storage)
        if new is not None and old_rate and new.source.sample_rate != old_rate:
            self._focus = int(round(self._focus * new.source.sample_rate / old_rate))
        self._gen = new  # one assignment: the audio thread never sees a moment without a render
        if new is None:
            self._set_fallback(None)
        # A new rate is announced like new lanes: players re-read the provider's timeline.
        if self.lane_names() != old_names or self.sample_rate != old_rate:
            self.lanes_changed.emit(self.lane_names())
        self._start_job()

    def _timeline_for(self, preset: Preset | None) -> SourceAudio | None:
        """The source at ``preset``'s working rate (resampled once per rate, on a thread)."""
        src = self._source
        if src is None or preset is None:
            return src
        try:
            rate = preset.working_rate(src.sample_rate)
        except RestoraError:  # an unknown node: the render reports it
            rate = src.sample_rate
        if rate == src.sample_rate:
            return src
        if rate not in self._timelines:
            stop = threading.Event()
            self._timelines[rate] = (upsampled_source(src, rate, stop), stop)
        return self._timelines[rate][0]

    def _drop_timelines(self) -> None:
        for _, stop in self._timelines.values():
            stop.set()
        self._timelines = {}

    def _to_timeline(self, frame: int) -> int:
        """A source frame as a frame of the current lanes' rate."""
        src, rate = self._source, self.sample_rate
        if src is None or not rate or rate == src.sample_rate:
            return frame
        return int(round(frame * rate / src.sample_rate))

    def _scaled_scope(self, timeline: SourceAudio | None) -> tuple[int, int] | None:
        scope, src = self._scope, self._source
        if scope is None or timeline is None or src is None or timeline is src:
            return scope
        ratio = timeline.sample_rate / src.sample_rate
        return int(round(scope[0] * ratio)), int(round(scope[1] * ratio))

    def _set_fallback(self, cache: LaneCache | None) -> None:
        """Make ``cache`` the fallback; the one it replaces gives its scratch files back."""
        old, self._fallback = self._fallback, cache
        if old is not None and old is not cache:
            old.release()  # the audio thread may still hold its arrays: they stay mapped until dropped

    def _cancel_job(self) -> None:
        # Retired under the lock, so a job ending right now no longer counts as current.
        with self._lock:
            job = self._job
            if job is not None:
                job.cancel.set()
                self._retired = job
                self._job = None

    def _start_job(self) -> None:
        gen = self._gen
        with self._lock:
            previous = self._job or self._retired
            if previous is not None:
                previous.cancel.set()
                self._retired = previous
            if gen is None or gen.complete():
                self._job = None
                self._idle.set()
            else:
                job = _Job(gen, self._focus, previous)
                job.owner = self
                self._job = job
                self._idle.clear()
        if gen is None:
            return
        if self._job is None:
            self.idle.emit()  # e.g. a complete render loaded from the project
            return
        job.thread.start()

    def _job_ended(self, job: _Job, error: str | None) -> None:
        """Called on the job's thread when it finished or failed (not when cancelled)."""
        with self._lock:
            current = self._job is job
            if current:
                job.gen.failed = error is not None
                if error is None and job.gen.complete():
                    self._set_fallback(None)
                self._idle.set()
        if not current:
            return
        self._announce(job)
        self._announce_stats(job)
        if error is not None:
            self.failed.emit(error)
        else:
            self.idle.emit()

    def _announce(self, job: _Job | None) -> None:
        if job is None or self._job is job:
            self.rendered.emit()
            self.progress.emit(self.fraction())

    def _announce_stats(self, job: _Job) -> None:
        if self._job is job:
            self.node_stats.emit(job.gen.stats.snapshot(job.gen.source.sample_rate))
