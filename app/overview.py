"""Display overviews of a recording, built block by block while it decodes.

An :class:`Overview` holds what the views draw for a whole file: waveform
min/max peaks of the mono mix and a dBFS spectrogram, both at a resolution
chosen from the expected length so a 10-minute file stays small (≤ ~20000
peak buckets, ≤ ~12000 spectrogram columns). Pushing blocks of any size gives
the same result as pushing the file at once: the STFT's overlap and the
partial peak bucket are carried between pushes.

No Qt here, so the loader thread can feed it and tests can check it directly.
``scipy.fft`` does the transforms: on float32 frames it is about ten times
faster than ``numpy.fft`` here, which matters because the overview must cost
well under the decode time.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import scipy.fft

MAX_BUCKETS = 20000
MAX_COLUMNS = 12000
FLOOR_DB = -120.0


def fft_size(sample_rate: int) -> int:
    """STFT length in samples for ``sample_rate`` Hz: 2048 at ≥ 32 kHz, else 1024."""
    return 2048 if sample_rate >= 32000 else 1024


def _window(n_fft: int) -> np.ndarray:
    """Hann window scaled so a full-scale sine's peak bin has power 1 (0 dBFS)."""
    win = np.hanning(n_fft + 1)[:-1]  # periodic Hann: exact overlap-add, sharper peak
    return (2.0 * win / win.sum()).astype(np.float32)


def _frames_power(signal: np.ndarray, n_fft: int, step: int, count: int, window: np.ndarray) -> np.ndarray:
    """Power (full scale = 1) of ``count`` frames of ``signal`` (float32 [samples]) every ``step`` samples.

    Returns float32 [count, n_fft//2 + 1]; frame j starts at sample j*step.
    """
    if count <= 0:
        return np.zeros((0, n_fft // 2 + 1), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::step][:count]
    spec = scipy.fft.rfft(frames * window, axis=1)
    return spec.real ** 2 + spec.imag ** 2


def _to_db(power: np.ndarray) -> np.ndarray:
    """dBFS of power values, floored at FLOOR_DB (float32, same shape)."""
    return 10.0 * np.log10(power + np.float32(10.0 ** (FLOOR_DB / 10.0)))


def mono_mix(block: np.ndarray) -> np.ndarray:
    """Mean of the channels of float32 [frames, channels] audio: float32 [frames]."""
    if block.ndim == 1:
        return block
    # A loop over channels: numpy reduces a short trailing axis several times slower.
    mono = block[:, 0].astype(np.float32, copy=True)
    for ch in range(1, block.shape[1]):
        mono += block[:, ch]
    if block.shape[1] > 1:
        mono *= np.float32(1.0 / block.shape[1])
    return mono


def detail_spectrogram(mono: np.ndarray, sample_rate: int, n_fft: int, hop: int) -> np.ndarray:
    """Full-resolution spectrogram of a short range, for a zoomed-in view.

    ``mono`` is float32 [samples] at ``sample_rate`` Hz. Returns dBFS float32
    [ceil(samples / hop), n_fft//2 + 1]; column c is centred on the middle of
    samples ``c*hop .. (c+1)*hop`` (zero-padded at both ends), the same
    alignment as :class:`Overview` columns.
    """
    del sample_rate  # the dB scale does not depend on it; kept so callers state it
    mono = np.asarray(mono, np.float32)
    count = max(1, math.ceil(len(mono) / hop))
    pad = n_fft // 2 - hop // 2 if hop < n_fft else 0
    total = (count - 1) * hop + n_fft
    padded = np.zeros(max(total, pad + len(mono)), np.float32)
    padded[pad:pad + len(mono)] = mono
    return _to_db(_frames_power(padded, n_fft, hop, count, _window(n_fft)))


class _Growable:
    """A float array grown by doubling along axis 0; ``view()`` is the filled part."""

    def __init__(self, capacity: int, width: int | None, dtype) -> None:
        shape = (max(1, capacity),) if width is None else (max(1, capacity), width)
        self.array = np.zeros(shape, dtype)
        self.count = 0

    def append(self, rows: np.ndarray) -> None:
        need = self.count + len(rows)
        if need > len(self.array):
            bigger = np.zeros((max(need, 2 * len(self.array)),) + self.array.shape[1:], self.array.dtype)
            bigger[:self.count] = self.array[:self.count]
            self.array = bigger
        self.array[self.count:need] = rows
        self.count = need

    def view(self) -> np.ndarray:
        return self.array[:self.count]


class Overview:
    """Waveform peaks and a dBFS spectrogram of a recording, filled by :meth:`push`.

    ``sample_rate`` in Hz, ``channels`` of the pushed blocks, ``expected_frames``
    the length the header announced (it only sets the resolution: longer files
    still work). Spectrogram column c covers samples ``c*hop .. (c+1)*hop``;
    when the hop exceeds the FFT size each column averages the power of
    ``hop / sub_hop`` frames so no sample is skipped. Thread-safe: one thread
    pushes while another reads.
    """

    def __init__(self, sample_rate: int, channels: int, expected_frames: int) -> None:
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.expected_frames = max(1, int(expected_frames))
        self.bucket_frames = max(1, math.ceil(self.expected_frames / MAX_BUCKETS))
        self.n_fft = fft_size(self.sample_rate)
        raw_hop = max(self.n_fft // 4, math.ceil(self.expected_frames / MAX_COLUMNS))
        self.frames_per_column = math.ceil(raw_hop / self.n_fft)  # frames averaged per column
        self.sub_hop = math.ceil(raw_hop / self.frames_per_column)
        self.hop = self.sub_hop * self.frames_per_column
        self._window = _window(self.n_fft)
        self._lock = threading.Lock()
        self._mins = _Growable(self.expected_frames // self.bucket_frames + 2, None, np.float32)
        self._maxs = _Growable(self.expected_frames // self.bucket_frames + 2, None, np.float32)
        self._partial = np.zeros(0, np.float32)  # mono samples of the unfinished bucket
        bins = self.n_fft // 2 + 1
        self._columns = _Growable(self.expected_frames // self.hop + 2, bins, np.float16)
        # Zeros before the first sample centre column c on samples c*hop .. (c+1)*hop.
        self._pending = np.zeros(max(0, self.n_fft // 2 - self.sub_hop // 2), np.float32)
        self.frames_done = 0

    @property
    def span(self) -> int:
        """Samples one spectrogram column reads (its frames plus their overlap)."""
        return (self.frames_per_column - 1) * self.sub_hop + self.n_fft

    def push(self, block: np.ndarray) -> None:
        """Add float32 [frames, channels] audio that follows what was pushed before."""
        block = np.asarray(block, np.float32)
        mono = mono_mix(block)
        mins, maxs, partial = self._bucket_peaks(np.concatenate([self._partial, mono]))
        columns, pending = self._new_columns(np.concatenate([self._pending, mono]))
        with self._lock:
            self._mins.append(mins)
            self._maxs.append(maxs)
            self._partial = partial
            self._columns.append(columns)
            self._pending = pending
            self.frames_done += len(mono)

    def finish(self) -> None:
        """Compute the last, partly filled spectrogram column(s) once the file has ended."""
        missing = self.frames_done - len(self._columns.view()) * self.hop
        if missing <= 0:
            return
        count = math.ceil(missing / self.hop)
        need = (count - 1) * self.hop + self.span
        tail = np.zeros(max(need, len(self._pending)), np.float32)
        tail[:len(self._pending)] = self._pending
        columns, _ = self._new_columns(tail, limit=count)
        with self._lock:
            self._columns.append(columns)
            self._pending = np.zeros(0, np.float32)

    def _bucket_peaks(self, mono: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mins, maxs) of the complete buckets in ``mono`` and the leftover samples."""
        whole = len(mono) // self.bucket_frames * self.bucket_frames
        buckets = mono[:whole].reshape(-1, self.bucket_frames)
        return buckets.min(axis=1), buckets.max(axis=1), mono[whole:].copy()

    def _new_columns(self, signal: np.ndarray, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Complete columns computable from ``signal`` and the samples to keep for the next ones."""
        count = 0 if len(signal) < self.span else (len(signal) - self.span) // self.hop + 1
        if limit is not None:
            count = min(count, limit)
        k = self.frames_per_column
        power = _frames_power(signal, self.n_fft, self.sub_hop, count * k, self._window)
        if k > 1:
            # Mean power, not mean dB: a click in one frame must still show.
            total = power[0::k].copy()
            for j in range(1, k):
                total += power[j::k]
            power = total * np.float32(1.0 / k)
        return _to_db(power).astype(np.float16), signal[count * self.hop:].copy()

    def peaks(self) -> tuple[np.ndarray, np.ndarray, int]:
        """``(mins, maxs, bucket_frames)``: float32 [buckets] of the mono mix, full scale ±1.

        Bucket i covers frames ``i*bucket_frames ..``; the last may be partial.
        """
        with self._lock:
            mins, maxs, partial = self._mins.view(), self._maxs.view(), self._partial
            if len(partial):
                mins = np.append(mins, partial.min())
                maxs = np.append(maxs, partial.max())
            return mins, maxs, self.bucket_frames

    def spectrogram(self) -> tuple[np.ndarray, int, int]:
        """``(db, hop_frames, n_fft)``: float16 [columns, n_fft//2 + 1] dBFS (≥ −120).

        Bin b is at ``b * sample_rate / n_fft`` Hz; a full-scale sine reads ~0 dB.
        The returned array is a view that later pushes never change.
        """
        with self._lock:
            return self._columns.view(), self.hop, self.n_fft


# ----- processed result: what the compare views draw ----------------------------------------

def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping frame ranges (stop exclusive) covering the same frames."""
    merged: list[list[int]] = []
    for start, stop in sorted((int(a), int(b)) for a, b in ranges if b > a):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return [(a, b) for a, b in merged]


def covered_items(ranges: list[tuple[int, int]], count: int, step: int, frames: int,
                  offset: int = 0) -> np.ndarray:
    """bool [count]: item i (frames ``offset + i*step ..`` up to ``frames``) lies wholly in a range."""
    valid = np.zeros(count, bool)
    for start, stop in merge_ranges(ranges):
        first = math.ceil((start - offset) / step)
        last = (stop - offset) // step if stop < frames else math.ceil((frames - offset) / step)
        valid[max(0, first):max(0, min(count, last))] = True
    return valid


def masked_mono(audio: np.ndarray, ranges: list[tuple[int, int]], start: int, stop: int) -> np.ndarray:
    """Mono mix of float32 [frames, channels] ``audio[start:stop]``, zero outside ``ranges``."""
    out = np.zeros(max(0, stop - start), np.float32)
    for a, b in merge_ranges(ranges):
        a, b = max(a, start), min(b, stop, len(audio))
        if b > a:
            out[a - start:b - start] = mono_mix(audio[a:b])
    return out


def bucket_peaks(mono: np.ndarray, bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 [ceil(samples / bucket)] minima and maxima of ``mono`` per bucket of frames."""
    pad = -len(mono) % bucket
    padded = np.concatenate([mono, np.full(pad, mono[-1] if len(mono) else 0, np.float32)])
    buckets = padded.reshape(-1, bucket)
    return buckets.min(axis=1), buckets.max(axis=1)


def _overview_of(mono: np.ndarray, like: Overview) -> Overview:
    """An overview of ``mono`` (float32 [frames]) with the resolution of ``like``."""
    result = Overview(like.sample_rate, 1, like.expected_frames)
    step = 10 * like.sample_rate  # bounded temporaries: the STFT frames of a whole file are huge
    for start in range(0, len(mono), step):
        result.push(mono[start:start + step])
    result.finish()
    return result


def compare_overviews(original: np.ndarray, processed: np.ndarray, ranges: list[tuple[int, int]],
                      like: Overview) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Overviews of the processed result and of what it removed, at the resolution of ``like``.

    ``original`` and ``processed`` are float32 [frames, channels] at the same
    rate; ``processed`` is valid only within ``ranges`` (frame ranges). Returns
    ``{"processed" | "removed": (db float16 [columns, bins], mins, maxs)}``
    with NaN wherever a column or peak bucket is not wholly covered.
    """
    frames = min(len(original), len(processed))
    processed_mono = masked_mono(processed, ranges, 0, frames)
    removed_mono = masked_mono(original, ranges, 0, frames) - processed_mono
    result = {}
    for name, mono in (("processed", processed_mono), ("removed", removed_mono)):
        view = _overview_of(mono, like)
        db = view.spectrogram()[0].copy()
        db[~covered_items(ranges, len(db), view.hop, frames)] = np.nan
        mins, maxs, bucket = view.peaks()
        keep = covered_items(ranges, len(mins), bucket, frames)
        result[name] = (db, np.where(keep, mins, np.nan), np.where(keep, maxs, np.nan))
    return result


def range_detail(original: np.ndarray, processed: np.ndarray | None, ranges: list[tuple[int, int]],
                 start: int, stop: int, names: list[str], sample_rate: int, n_fft: int, hop: int,
                 bucket: int) -> dict:
    """Full-resolution spectrograms and waveform peaks of frames ``start .. stop``.

    ``names`` lists the signals wanted ("original", "processed", "removed"),
    each of which gets ``(db [columns, bins] with NaN where not covered, mins,
    maxs)`` as in :func:`detail_spectrogram` and :func:`bucket_peaks`
    (``hop`` and ``bucket`` in frames, columns and buckets from ``start``).
    """
    frames = len(original)
    result = {}
    for name in names:
        if name == "original":
            mono = mono_mix(original[start:stop])
        elif processed is None:
            continue
        else:
            mono = masked_mono(processed, ranges, start, stop)
            if name == "removed":
                mono = masked_mono(original, ranges, start, stop) - mono
        db = detail_spectrogram(mono, sample_rate, n_fft, hop)
        mins, maxs = bucket_peaks(mono, bucket)
        if name != "original":
            db[~covered_items(ranges, len(db), hop, frames, offset=start)] = np.nan
            keep = covered_items(ranges, len(mins), bucket, frames, offset=start)
            mins, maxs = np.where(keep, mins, np.nan), np.where(keep, maxs, np.nan)
        result[name] = (db, mins, maxs)
    return result
