"""Rendered lanes of one preset generation, readable by the audio thread without locks.

A :class:`LaneCache` holds one float32 [frames, channels] array per lane at the
source's sample rate, plus the frame intervals that hold finished audio. The
``removed`` lane (input minus main) is not stored: it is computed from the
original and the main lane when read, which saves a full-length array per
render. Large arrays are memory-mapped scratch files (see
:mod:`restora.app.render_storage`). The renderer writes samples first and then
publishes a new, immutable coverage tuple; a reader that sees a range covered
therefore also sees its samples.
Caches can be saved beside a project and are found again by a key that changes
whenever the preset, the scope or the source file changes.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np

from restora.app.render_storage import LaneStorage
from restora.graph.lanes import INPUT_STREAM, Lane
from restora.graph.preset import Preset

Intervals = tuple[tuple[int, int], ...]  # sorted, disjoint, merged (start, stop) frame ranges
MAX_MATCH_DB = 24.0
_FORMAT = 1


def add_interval(intervals: Intervals, start: int, stop: int) -> Intervals:
    """``intervals`` with ``[start, stop)`` added, still sorted and merged."""
    if stop <= start:
        return intervals
    out: list[tuple[int, int]] = []
    for a, b in intervals:
        if b < start or a > stop:
            out.append((a, b))
        else:  # overlapping or touching: absorb into the new range
            start, stop = min(a, start), max(b, stop)
    out.append((start, stop))
    return tuple(sorted(out))


def covered_within(intervals: Intervals, start: int, stop: int) -> int:
    """How many frames of ``[start, stop)`` the intervals cover."""
    return sum(max(0, min(b, stop) - max(a, start)) for a, b in intervals)


def interval_at(intervals: Intervals, frame: int) -> tuple[int, int] | None:
    """The interval containing ``frame``, or None."""
    i = bisect.bisect_right(intervals, (frame, float("inf"))) - 1
    if i >= 0 and intervals[i][0] <= frame < intervals[i][1]:
        return intervals[i]
    return None


def uncovered(intervals: Intervals, start: int, stop: int) -> list[tuple[int, int]]:
    """The gaps of ``[start, stop)`` that the intervals do not cover, in order."""
    gaps, pos = [], start
    for a, b in intervals:
        if b <= pos:
            continue
        if a >= stop:
            break
        if a > pos:
            gaps.append((pos, a))
        pos = max(pos, b)
    if pos < stop:
        gaps.append((pos, stop))
    return gaps


def cache_key(preset: Preset, scope: tuple[int, int] | None, source_path: Path | str,
              sample_rate: int, frames: int, channels: int) -> str:
    """A hex key naming a render: graph, scope and the source file's identity.

    The preset's name and description are left out (renaming does not change
    the audio); the file's size and modification time stand for its content.
    """
    try:
        st = os.stat(source_path)
        identity = [str(Path(source_path).resolve()), st.st_size, st.st_mtime_ns]
    except OSError:
        identity = [str(source_path), -1, -1]
    graph = preset.to_json()
    payload = {"nodes": graph["nodes"], "outputs": graph["outputs"], "scope": list(scope) if scope else None,
               "source": identity, "rate": int(sample_rate), "frames": int(frames), "channels": int(channels)}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class LaneCache:
    """Rendered audio of every lane: float32 [frames, channels] per lane, sample rate of the source.

    ``energy_range`` (frame range, default everything) limits the frames whose
    energy counts for :meth:`level_match_gain`, so a scope is matched on what
    was processed and not on the untouched original around it. ``original``
    is the source (a :class:`~restora.app.source.SourceAudio`, whose ``data``
    is fetched afresh on every read, or a float32 [>= frames, channels]
    array); without it the ``removed`` lane reads as None. ``storage``
    allocates the lane arrays (default: in RAM); they are made by
    :meth:`allocate` or the first write, so a full disk fails on the render
    thread, not in the caller. Writers must be serialised (one render job at
    a time); readers need no lock.
    """

    def __init__(self, lanes: list[Lane], frames: int, channels: int, *,
                 energy_range: tuple[int, int] | None = None, original=None,
                 storage: LaneStorage | None = None) -> None:
        self.lanes = list(lanes)
        self.frames = int(frames)
        self.channels = int(channels)
        self.energy_range = energy_range or (0, self.frames)
        self._stored = [lane.name for lane in self.lanes if lane.kind != "removed"]
        self._removed = {lane.name for lane in self.lanes if lane.kind == "removed"}
        self._main = next((lane.name for lane in self.lanes if lane.kind == "main"), None)
        self._original = original
        self._storage = storage
        self._data: dict[str, np.ndarray] = {}  # replaced in one assignment by allocate()
        self._allocated = False
        self._released = False
        self._covered: Intervals = ()
        self._energy = {name: 0.0 for name in self._stored}
        self._energy_original = 0.0
        self._write_lock = threading.Lock()

    # -- storage --------------------------------------------------------------
    def allocate(self) -> bool:
        """Make the stored lanes' arrays (once); False after :meth:`release`.

        Raises :class:`~restora.errors.AudioOutputError` when the scratch disk
        cannot hold them (nothing stays allocated then).
        """
        if self._allocated:
            return not self._released
        with self._write_lock:
            if self._released:
                return False
            if not self._allocated:
                data: dict[str, np.ndarray] = {}
                try:
                    for name in self._stored:
                        data[name] = self._new_array()
                except BaseException:
                    self._free(data.values())
                    raise
                self._data = data  # readers see no arrays or all of them
                self._allocated = True
        return True

    def release(self) -> None:
        """Drop the lane arrays and delete their scratch files: reads give None, writes are ignored.

        Arrays already handed out (a read in flight on the audio thread, the
        views' copy of the main lane) stay valid: an unlinked file's mapping
        lives until its last reference goes, and the disk space with it.
        """
        with self._write_lock:
            self._released = True
            arrays, self._data = list(self._data.values()), {}  # dropping refs unmaps when nobody reads
        self._free(arrays)

    def _new_array(self) -> np.ndarray:
        if self._storage is None:
            return np.zeros((self.frames, self.channels), np.float32)  # untouched pages cost nothing
        return self._storage.allocate(self.frames, self.channels)

    def _free(self, arrays) -> None:
        if self._storage is not None:
            for array in arrays:
                self._storage.release(array)

    # -- reading (any thread) ---------------------------------------------
    def covered(self) -> Intervals:
        """Finished frame ranges, sorted and merged (an immutable snapshot)."""
        return self._covered

    def fraction(self, scope: tuple[int, int] | None = None) -> float:
        """Covered share of ``scope`` (frame range; default the whole cache), 0..1."""
        a, b = scope if scope is not None else (0, self.frames)
        a, b = max(0, a), min(self.frames, b)
        if b <= a:
            return 1.0
        return covered_within(self._covered, a, b) / (b - a)

    def is_covered(self, start: int, stop: int) -> bool:
        """True when every frame of ``[start, stop)`` is finished."""
        span = interval_at(self._covered, start)
        return span is not None and stop <= span[1]

    def read(self, lane: str, start: int, frames: int) -> np.ndarray | None:
        """A copy of ``frames`` frames of ``lane`` from ``start``, float32 [n, channels].

        ``n`` is shorter than ``frames`` at the end of the cache. None when the
        lane is unknown or any frame of the range is not rendered yet.
        """
        start = int(start)
        stop = min(start + int(frames), self.frames)
        if start < 0 or start >= self.frames or not self.is_covered(start, stop):
            return None
        if lane in self._removed:
            return self._removed_part(start, stop)
        data = self._data.get(lane)
        return None if data is None else data[start:stop].copy()

    def lane_data(self, lane: str) -> np.ndarray | None:
        """The whole array of ``lane``, float32 [frames, channels]; only covered frames are meaningful.

        A live view for stored lanes; for ``removed`` a new array computed
        now (original minus main). None for unknown lanes and before the
        first write.
        """
        if lane in self._removed:
            return self._removed_part(0, self.frames, pad=True)
        return self._data.get(lane)

    def _removed_part(self, start: int, stop: int, pad: bool = False) -> np.ndarray | None:
        """Original minus main over ``[start, stop)``: float32 [stop - start, channels], or None.

        Outside a scope the main lane is the original itself, so this is exactly 0 there.
        ``pad`` fills frames past the original's end with zeros instead of giving None.
        """
        original = getattr(self._original, "data", self._original)  # a source's array may be replaced
        main = self._data.get(self._main) if self._main is not None else None
        if original is None or main is None:
            return None
        end = min(stop, len(original))
        if end < stop and not pad:
            return None
        out = np.zeros((stop - start, self.channels), np.float32)
        np.subtract(original[start:end], main[start:end], out=out[:max(0, end - start)])
        return out

    def level_match_gain(self, lane: str) -> float:
        """Linear gain making ``lane`` as loud as the original over the rendered frames.

        ``sqrt(E_original / E_lane)`` clamped to ±24 dB; 1.0 without data and
        for lanes that are not the main result (removed noise and stems are
        meant to sound as quiet as they are).
        """
        kind = next((x.kind for x in self.lanes if x.name == lane), None)
        energy = self._energy.get(lane, 0.0)
        if kind != "main" or self._energy_original <= 0.0:
            return 1.0
        limit = 10 ** (MAX_MATCH_DB / 20)
        if energy <= 0.0:
            return limit
        return float(np.clip(np.sqrt(self._energy_original / energy), 1 / limit, limit))

    # -- writing (one render thread) --------------------------------------
    def write(self, start: int, blocks: dict[str, np.ndarray]) -> None:
        """Store finished frames from ``start`` and mark them covered.

        ``blocks`` maps lane names (and optionally ``__input``, the original,
        for level matching) to float32 [n, channels] of equal length. Frames
        past the end of the cache are dropped, and so are blocks of lanes
        that are not stored (``removed``). May raise like :meth:`allocate`.
        """
        n = self._clip(start, blocks)
        if n <= 0 or not self.allocate():
            return
        with self._write_lock:
            self._count_energy(start, n, blocks)
            for name, block in blocks.items():
                if name in self._data:
                    self._data[name][start:start + n] = block[:n]
            self._covered = add_interval(self._covered, start, start + n)  # publish after the samples

    def blend(self, start: int, blocks: dict[str, np.ndarray], weight: np.ndarray) -> None:
        """Cross-fade into finished frames: ``old * (1 - weight) + new * weight``.

        ``weight`` is float32 [n] in 0..1; coverage and energies are unchanged.
        """
        n = self._clip(start, blocks)
        if n <= 0 or not self.allocate():
            return
        w = np.asarray(weight, np.float32)[:n, None]
        with self._write_lock:
            for name, block in blocks.items():
                if name in self._data:
                    old = self._data[name][start:start + n]
                    old[:] = old + w * (block[:n] - old)

    def _clip(self, start: int, blocks: dict[str, np.ndarray]) -> int:
        if not blocks or start < 0:
            return 0
        n = len(next(iter(blocks.values())))
        return max(0, min(n, self.frames - start))

    def _count_energy(self, start: int, n: int, blocks: dict[str, np.ndarray]) -> None:
        # Only frames not counted before, inside energy_range: a cross-faded
        # re-render of a join must not weigh twice.
        a, b = max(start, self.energy_range[0]), min(start + n, self.energy_range[1])
        for lo, hi in uncovered(self._covered, a, b):
            i, j = lo - start, hi - start
            for name, block in blocks.items():
                e = float(np.square(block[i:j], dtype=np.float64).sum())
                if name == INPUT_STREAM:
                    self._energy_original += e
                elif name in self._energy:
                    self._energy[name] += e

    # -- persistence --------------------------------------------------------
    def save(self, folder: Path | str, key: str) -> Path:
        """Write the cache to ``folder/render-<key>/`` (replacing an older copy); return that path."""
        target = Path(folder) / f"render-{key}"
        tmp = Path(folder) / f".render-{key}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        covered = self._covered  # snapshot first: these frames' samples are already written
        self.allocate()
        for index, lane in enumerate(self.lanes):
            if lane.name in self._data:  # not the computed removed lane; file names keep the lane index
                np.save(tmp / f"lane{index}.npy", self._data[lane.name])
        meta = {"format": _FORMAT, "key": key, "frames": self.frames, "channels": self.channels,
                "lanes": [[x.name, x.stream, x.kind] for x in self.lanes], "covered": [list(c) for c in covered],
                "energy": self._energy, "energy_original": self._energy_original,
                "energy_range": list(self.energy_range)}
        (tmp / "coverage.json").write_text(json.dumps(meta))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        return target

    @classmethod
    def load(cls, folder: Path | str, key: str, lanes: list[Lane], frames: int, channels: int, *,
             original=None, storage: LaneStorage | None = None) -> "LaneCache | None":
        """The cache saved under ``key`` if it matches the lanes and size given, else None.

        ``original`` and ``storage`` as for the constructor; the saved lanes
        are copied into ``storage`` (raising like :meth:`allocate`), so the
        project's files are never written through a mapping.
        """
        where = Path(folder) / f"render-{key}"
        try:
            meta = json.loads((where / "coverage.json").read_text())
            expected = [[x.name, x.stream, x.kind] for x in lanes]
            if (meta.get("format") != _FORMAT or meta.get("key") != key or meta["lanes"] != expected
                    or meta["frames"] != frames or meta["channels"] != channels):
                return None
            cache = cls(lanes, frames, channels, energy_range=tuple(meta["energy_range"]),
                        original=original, storage=storage)
            cache._energy = {name: float(meta["energy"].get(name, 0.0)) for name in cache._stored}
            cache._energy_original = float(meta["energy_original"])
            covered = tuple((int(a), int(b)) for a, b in meta["covered"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        cache.allocate()
        try:
            for index, lane in enumerate(lanes):
                if lane.name in cache._data:  # the removed lane is computed, never saved
                    cache._copy_in(lane.name, where / f"lane{index}.npy")
        except (OSError, ValueError):
            cache.release()  # its scratch files must not outlive it
            return None
        cache._covered = covered
        return cache

    def _copy_in(self, lane: str, path: Path) -> None:
        """Copy a saved float32 [frames, channels] .npy into ``lane``; ValueError if it does not fit."""
        saved = np.load(path, mmap_mode="r")  # mapped, so a long lane is not read into RAM at once
        if saved.shape != (self.frames, self.channels) or saved.dtype != np.float32:
            raise ValueError(f"{path.name} does not fit this render")
        self._data[lane][:] = saved
