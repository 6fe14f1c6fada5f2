"""Decoding through FFmpeg (PyAV) for what libsndfile cannot read: M4A/AAC, ALAC,
MP4/MOV audio tracks, WMA, Matroska...

``av`` is imported lazily: it is large, and most jobs read WAV/FLAC only.
Only the first audio stream of a container is decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from restora.dsp.audio_info import AudioInfo
from restora.errors import AudioInputError

# Containers whose stream duration is exact (edit lists / sample tables), so
# decoder padding past it can be cut to give the true length.
_EXACT_LENGTH_CONTAINERS = ("mov", "mp4", "m4a")
_EXT_FORMAT = {".m4a": "M4A", ".m4b": "M4A", ".mp4": "MP4", ".mov": "MOV", ".aac": "AAC",
               ".mkv": "MKV", ".webm": "WEBM", ".wma": "WMA", ".ac3": "AC3"}
_TECHNICAL_TAGS = {"major_brand", "minor_version", "compatible_brands", "handler_name",
                   "vendor_id", "encoder", "language"}


@contextmanager
def _open_audio(path: Path):
    """Yield ``(container, audio_stream)``; every FFmpeg failure becomes AudioInputError."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioInputError(f"{path}: not a readable audio file "
                              f"(unknown format or damaged: {_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            raise AudioInputError(f"{path}: has no audio stream")
        yield container, container.streams.audio[0]


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _exact_frames(container, stream, rate: int) -> int | None:
    exact = any(name in _EXACT_LENGTH_CONTAINERS for name in container.format.name.split(","))
    if not exact or stream.duration is None or stream.time_base is None:
        return None
    return int(round(stream.duration * stream.time_base * rate))


def _decoded_frames(path: Path, container, stream) -> Iterator[tuple[np.ndarray, int]]:
    """Decoded audio as ``(float32 [frames, channels] array of varying length, sample rate Hz)``.

    The rate comes from each decoded frame: for HE-AAC the header may state
    the core rate, half the real one.
    """
    import av

    # Packed float at the stream's own rate and layout: no resampling happens,
    # only sample-format conversion, and a packed frame is already [frames, channels].
    resampler = av.AudioResampler(format="flt")
    done = 0
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                data = out.to_ndarray().reshape(-1, out.layout.nb_channels)
                done += len(data)
                yield data, out.sample_rate
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1, out.layout.nb_channels), out.sample_rate
    except av.FFmpegError as exc:
        rate = stream.rate or 1
        raise AudioInputError(f"{path}: damaged audio data after {done / rate:.2f} s "
                              f"({_reason(exc)})") from None


def av_probe(path: Path) -> AudioInfo:
    """Header facts of a file read through FFmpeg; decodes the first frame to be sure it plays."""
    with _open_audio(path) as (container, stream):
        first, rate = next(_decoded_frames(path, container, stream), (None, 0))
        if first is None:
            raise AudioInputError(f"{path}: contains no audio (0 frames)")
        codec = stream.codec_context.codec
        frames = _exact_frames(container, stream, rate)
        duration = frames / rate if frames is not None else (
            container.duration / 1e6 if container.duration else None)
        sample_format = stream.codec_context.format
        tags = {**container.metadata, **stream.metadata}
        return AudioInfo(
            path=path, sample_rate=rate, channels=first.shape[1], frames=frames,
            duration_s=duration,
            format=_EXT_FORMAT.get(path.suffix.lower(), container.format.name.split(",")[0].upper()),
            subtype=codec.name.upper(),
            bit_depth=sample_format.bits if codec.lossless else None,
            is_float=codec.lossless and sample_format.name.startswith(("flt", "dbl")),
            tags={k.lower(): str(v) for k, v in tags.items() if k.lower() not in _TECHNICAL_TAGS},
            backend="pyav")


def av_chunks(path: Path) -> Iterator[np.ndarray]:
    """All decoded audio of ``path`` as float32 ``[frames, channels]`` chunks of varying length.

    In MP4/MOV the decoder's end padding is cut so the length matches the
    container's stated duration (its start padding FFmpeg drops already).
    """
    with _open_audio(path) as (container, stream):
        limit = None
        given = 0
        for chunk, rate in _decoded_frames(path, container, stream):
            if given == 0:
                limit = _exact_frames(container, stream, rate)
            if limit is not None:
                chunk = chunk[:max(limit - given, 0)]
            if len(chunk):
                given += len(chunk)
                yield chunk
