"""Reading audio files as a stream of float32 blocks, with bounded memory.

libsndfile (soundfile) reads WAV (PCM 8-32 bit, float, μ-law/A-law, RF64),
FLAC, AIFF, OGG Vorbis/Opus and MP3 with sample-exact lengths; anything it
rejects goes to FFmpeg through PyAV (:mod:`restora.dsp.audio_av`). Every
problem reaches the user as :class:`AudioInputError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from restora.dsp.audio_av import av_chunks, av_probe
from restora.dsp.audio_info import AudioInfo
from restora.dsp.bext import read_bext
from restora.errors import AudioInputError

# Stored word length per libsndfile subtype; subtypes not listed are lossy
# (Vorbis, Opus, MPEG, ADPCM, GSM...) and have none.
_BIT_DEPTH = {"PCM_S8": 8, "PCM_U8": 8, "ULAW": 8, "ALAW": 8, "PCM_16": 16,
              "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}
_BEXT_FORMATS = {"WAV", "WAVEX", "RF64", "W64"}
DEFAULT_BLOCK_FRAMES = 65536


def _check_path(path: Path) -> None:
    """Raise AudioInputError for a missing, folder, empty or unreadable path."""
    if not path.exists():
        raise AudioInputError(f"{path}: file not found")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a folder, not an audio file")
    try:
        with open(path, "rb") as fh:
            empty = not fh.read(1)
    except OSError as exc:
        raise AudioInputError(f"{path}: cannot be read ({exc.strerror})") from None
    if empty:
        raise AudioInputError(f"{path}: is empty (0 bytes)")


def _open_soundfile(path: Path) -> sf.SoundFile | None:
    """The file opened by libsndfile, or None when libsndfile cannot read it."""
    try:
        return sf.SoundFile(path)
    except (sf.SoundFileError, RuntimeError):  # LibsndfileError derives from RuntimeError
        return None


def _sf_info(path: Path, f: sf.SoundFile) -> AudioInfo:
    if f.frames <= 0:
        raise AudioInputError(f"{path}: contains no audio (0 frames)")
    fmt = "WAV" if f.format == "WAVEX" else f.format
    return AudioInfo(
        path=path, sample_rate=f.samplerate, channels=f.channels, frames=f.frames,
        duration_s=f.frames / f.samplerate, format=fmt, subtype=f.subtype,
        bit_depth=_BIT_DEPTH.get(f.subtype), is_float=f.subtype in ("FLOAT", "DOUBLE"),
        tags={k: v for k, v in f.copy_metadata().items() if v},
        bext=read_bext(f) if f.format in _BEXT_FORMATS else None)


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read the header of an audio file (and, for FFmpeg formats, its first frame)."""
    path = Path(path)
    _check_path(path)
    f = _open_soundfile(path)
    if f is None:
        return av_probe(path)
    with f:
        return _sf_info(path, f)


def _sf_chunks(path: Path, block_frames: int) -> Iterator[np.ndarray]:
    with sf.SoundFile(path) as f:
        done = 0
        while True:
            try:
                block = f.read(block_frames, dtype="float32", always_2d=True)
            except (sf.SoundFileError, RuntimeError) as exc:
                raise AudioInputError(f"{path}: damaged audio data after "
                                      f"{done / f.samplerate:.2f} s ({exc})") from None
            if not len(block):
                return
            done += len(block)
            yield block


def _reblock(chunks: Iterable[np.ndarray], block_frames: int) -> Iterator[np.ndarray]:
    """Cut chunks of any length into ``block_frames`` blocks (the last may be shorter)."""
    pending: list[np.ndarray] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held < block_frames:
            continue
        data = np.concatenate(pending)
        cut = len(data) - len(data) % block_frames
        yield from np.split(data[:cut], cut // block_frames)
        pending, held = [data[cut:]], len(data) - cut
    if held:
        yield np.concatenate(pending)


def _finite(blocks: Iterable[np.ndarray], path: Path, sample_rate: int) -> Iterator[np.ndarray]:
    """Pass blocks through, raising AudioInputError at the first NaN or infinity."""
    position = 0
    for block in blocks:
        if not np.isfinite(block).all():
            bad = position + int(np.argwhere(~np.isfinite(block))[0, 0])
            raise AudioInputError(f"{path}: contains invalid samples (NaN or infinity) "
                                  f"at {bad / sample_rate:.3f} s")
        position += len(block)
        yield block


def read_blocks(path: str | os.PathLike, block_frames: int = DEFAULT_BLOCK_FRAMES,
                info: AudioInfo | None = None) -> Iterator[np.ndarray]:
    """Stream a file as float32 blocks ``[block_frames, channels]`` in [-1, 1) full scale.

    Every block has ``block_frames`` frames except the last, which may be
    shorter; the file is never loaded whole. Pass ``info`` from an earlier
    :func:`probe` to skip probing again. Raises :class:`AudioInputError` for an
    unreadable file and, while streaming, for damaged data or non-finite samples
    (naming the time in seconds).
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be >= 1, got {block_frames}")
    info = info or probe(path)
    if info.backend == "soundfile":
        chunks = _sf_chunks(info.path, block_frames)
    else:
        chunks = _reblock(av_chunks(info.path), block_frames)
    return _finite(chunks, info.path, info.sample_rate)


def read_all(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """The whole file as ``(float32 [frames, channels], sample rate in Hz)``; for short files."""
    info = probe(path)
    blocks = list(read_blocks(path, DEFAULT_BLOCK_FRAMES, info))
    return np.concatenate(blocks), info.sample_rate
