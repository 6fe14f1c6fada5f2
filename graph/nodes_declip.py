"""``de-clip``: find the clip level and rebuild the waveform above it (model-free, any rate)."""

from __future__ import annotations

import math

import numpy as np

from restora.dsp.declip import (CURV_BINS, HIST_BINS, PEAK_BINS, clipped_mask, declip, detect_knee, detect_level,
                                magnitude_histogram, peak_histogram)
from restora.dsp.windowed import WindowedProcessor
from restora.graph.node import Block, Measurement, Node, Outputs, Param

CHUNK_S = 0.2          # AR model fitted per chunk
MIN_CHUNK = 4096       # frames
ORDER = 32             # AR order: enough for a few tones or formants, solves stay fast
HIST_BATCH = 16384     # frames gathered per histogram update
PASSES = 2             # AR fits: on the clipped chunk, then on its first repair
NONE, HARD, SOFT = 0, 1, 2     # clip kinds (``clip_kind`` adds those found: 3 = both)


class DeclipNode(Node):
    """Repairs clipping, hard or soft: the samples above the clip level or soft-clipping knee are rebuilt by sign-
    and level-constrained AR interpolation.

    A whole-file node: the analysis pass histograms each channel's positive
    and negative magnitudes, and its local maxima by level and curvature.
    With ``clip_level`` 0 a polarity is hard-clipped at its peak when the
    samples pile up within ``threshold`` of it
    (:func:`restora.dsp.declip.detect_level`); otherwise it is soft-clipped
    (a monotonic saturation, e.g. tanh) when its maxima in the top 15 % are
    1.5 octaves flatter in normalised curvature than those at 50-70 % of the
    peak (:func:`restora.dsp.declip.detect_knee`; clean speech and music stay
    within 1 octave), and its knee is then half the peak. A ``clip_level``
    above 0 is used as a hard clip level for every channel and polarity
    instead. Samples at or beyond ``level * (1 - threshold)`` (hard) or the
    knee (soft), in runs no longer than ``max_run_ms``, are rebuilt
    (:func:`restora.dsp.declip.declip`): each keeps its sign and ends at
    least as far out as it was. Everything else passes exactly unchanged.
    Chunks of 0.2 s (at least 4096 frames) at fixed positions, overlapping by
    a quarter, are joined by :class:`restora.dsp.windowed.WindowedProcessor`,
    so the result does not depend on the block size. Measurements:
    ``clipped_samples`` (all channels), ``clip_level`` (the lowest level
    used, full-scale units; a soft-clipped polarity's is its peak),
    ``clip_level_dbfs``, ``soft_knee`` (the lowest knee, full-scale units)
    and ``clip_kind`` (0 none, 1 hard, 2 soft, 3 both in different channels
    or polarities); the levels are None when nothing is clipped.
    """

    type_name = "de-clip"
    NEEDS_WHOLE_FILE = True
    PARAMS = (
        Param("clip_level", 0.0, minimum=0.0, maximum=4.0, unit="FS",
              doc="Level (1 = full scale) the signal was clipped at; 0 = detect it per channel and polarity"),
        Param("threshold", 0.02, minimum=0.0, maximum=0.5,
              doc="Samples within this fraction below a hard clip level count as clipped (a detected soft clip is "
                  "rebuilt from its knee; with a given clip_level, raise this for soft clipping)"),
        Param("max_run_ms", 10.0, minimum=0.1, maximum=50.0, unit="ms",
              doc="Longest clipped run rebuilt; longer ones stay as they are"),
    )

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        self._hist = np.zeros((channels, 2, HIST_BINS), np.int64)
        self._peaks = np.zeros((channels, 2, PEAK_BINS, CURV_BINS), np.int64)
        self._peak = np.zeros((channels, 2))
        self._tail = np.zeros((0, channels))      # the last two frames counted: neighbours of the next maxima
        self._levels: np.ndarray | None = None
        self._from: np.ndarray | None = None
        self._kinds = np.zeros((channels, 2), np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0
        self._clipped = 0
        self._chunks = 0
        window = max(MIN_CHUNK, int(round(CHUNK_S * sample_rate)))
        self._overlap = window // 4
        self._hop = window - self._overlap
        self._windows = WindowedProcessor(self._repair, window, self._overlap, channels)

    def analyze(self, block: Block) -> None:
        if self.params["clip_level"] > 0 or len(block) == 0:
            return
        # Small blocks are gathered first: each histogram update costs HIST_BINS.
        self._pending.append(np.array(block, np.float32))  # a copy: callers may reuse their buffers
        self._pending_frames += len(block)
        if self._pending_frames >= HIST_BATCH:
            self._count_pending()

    def _count_pending(self) -> None:
        """Add the gathered blocks to the histograms and peaks."""
        if not self._pending:
            return
        x = np.concatenate(self._pending).astype(np.float64)
        self._pending, self._pending_frames = [], 0
        joined = np.concatenate([self._tail, x])
        self._tail = joined[-2:]
        for c in range(self.channels):
            self._hist[c] += magnitude_histogram(x[:, c])
            self._peaks[c] += peak_histogram(joined[:, c])
            self._peak[c] = np.maximum(self._peak[c], [max(x[:, c].max(), 0.0), max(-x[:, c].min(), 0.0)])

    def levels(self) -> np.ndarray:
        """Clip levels [channels, 2] (positive, negative polarity) in full-scale units; ``inf`` = not clipped."""
        if self._levels is None:
            self._analyse()
        return self._levels

    def rebuilt_from(self) -> np.ndarray:
        """Magnitudes [channels, 2] (full-scale units) from which samples are rebuilt; ``inf`` = not clipped."""
        if self._from is None:
            self._analyse()
        return self._from

    def _analyse(self) -> None:
        """Fix the clip levels, kinds and the magnitudes samples are rebuilt from, per channel and polarity."""
        self._count_pending()
        level, tol = self.params["clip_level"], self.params["threshold"]
        self._levels = np.full((self.channels, 2), math.inf)
        self._from = np.full((self.channels, 2), math.inf)
        for c in range(self.channels):
            for s in range(2):
                hard = level if level > 0 else detect_level(self._hist[c, s], self._peak[c, s], max(tol, 1e-3))
                knee = None if hard is not None else detect_knee(self._peaks[c, s], self._peak[c, s])
                if hard is not None:
                    self._levels[c, s], self._from[c, s], self._kinds[c, s] = hard, hard * (1 - tol), HARD
                elif knee is not None:
                    self._levels[c, s], self._from[c, s], self._kinds[c, s] = self._peak[c, s], knee, SOFT

    def _repair(self, chunk: np.ndarray) -> np.ndarray:
        """Repaired ``chunk`` [n, channels] float32; counts the clipped samples in this chunk's own share."""
        lo = 0 if self._chunks == 0 else self._overlap // 2
        hi = self._overlap // 2 + self._hop
        self._chunks += 1
        bounds, out = self.rebuilt_from(), chunk.copy()
        max_len = max(1, round(self.params["max_run_ms"] * 1e-3 * self.sample_rate))
        for c in range(chunk.shape[1]):
            x = chunk[:, c].astype(np.float64)
            mask = clipped_mask(x, bounds[c, 0], bounds[c, 1], max_len)
            self._clipped += int(mask[lo:hi].sum())
            if mask.any():
                out[:, c] = declip(x, mask, ORDER, PASSES)
        return out

    def process(self, block: Block) -> Outputs:
        return {"main": self._windows.process(np.asarray(block, np.float32))}

    def finish(self) -> Outputs:
        out = {"main": self._windows.finish()}
        finite = self.levels()[np.isfinite(self.levels())]
        level = float(finite.min()) if finite.size else None
        knees = self.rebuilt_from()[self._kinds == SOFT]
        kind = (HARD if (self._kinds == HARD).any() else NONE) + (SOFT if knees.size else NONE)
        self.measurements = [
            Measurement("clipped_samples", float(self._clipped), ""),
            Measurement("clip_level", level, "FS"),
            Measurement("clip_level_dbfs", None if level is None else 20 * math.log10(level), "dBFS"),
            Measurement("soft_knee", float(knees.min()) if knees.size else None, "FS"),
            Measurement("clip_kind", float(kind), ""),
        ]
        return out
