"""Writing audio files block by block, atomically, with dither and a clip policy.

Policies (one place, so the CLI and GUI behave alike):

* **Atomic output.** Audio goes to a hidden temporary file next to the target
  (``.<name>.restora-part-<pid>-XXXXXXXX``). Only a successful :meth:`AudioWriter.close`
  fsyncs it and renames it onto the target; an exception inside the ``with``
  block, :meth:`AudioWriter.abort` or any write error removes it, so a cancelled
  or failed job leaves neither a half file nor a changed target.
* **Clipping** (integer PCM and lossy outputs): samples beyond ±1.0 full scale
  are clipped and counted (``clipped_samples``, ``peak``; a warning is logged on
  close) with ``clip_policy="clip"``, the default; ``clip_policy="error"``
  raises :class:`AudioOutputError` instead. Gain riding belongs in the graph (a
  limiter node before the output), not in the writer. Float WAV/AIFF keep
  values beyond full scale untouched.
* **Dither.** 16- and 24-bit output is quantised here, with ±1 LSB TPDF dither
  from a seeded generator (reproducible output; see
  :class:`restora.dsp.dither.TpdfQuantiser`), and handed to libsndfile as
  integers so libsndfile does no conversion of its own. 32-bit integer output is
  rounded without dither.
* **WAV past 4 GB.** WAV is opened as RF64 with libsndfile's auto-downgrade: a
  file that ends below 4 GB is rewritten on close as a plain RIFF WAV
  (WAVE_FORMAT_EXTENSIBLE), a larger one stays RF64.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from restora.dsp.audio_info import AudioInfo
from restora.dsp.bext import Bext, write_bext
from restora.dsp import partial_files, write_failure
from restora.dsp.dither import TpdfQuantiser
from restora.errors import AudioOutputError

log = logging.getLogger(__name__)

FLOAT = "float"  # bit_depth value for 32-bit IEEE float samples
BitDepth = int | str | None
_SFC_RF64_AUTO_DOWNGRADE = 0x1210  # sndfile.h; not declared by soundfile
_PCM_SUBTYPE = {16: "PCM_16", 24: "PCM_24", 32: "PCM_32", FLOAT: "FLOAT"}
TAG_KEYS = ("title", "artist", "album", "date", "comment", "genre", "tracknumber",
            "copyright", "license", "software")
_TAG_ALIASES = {"track": "tracknumber", "year": "date", "description": "comment"}
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class _Format:
    major: str                      # libsndfile container
    lossy_subtype: str | None       # codec for lossy formats, None for PCM
    bit_depths: tuple = ()          # accepted bit_depth values for PCM formats


_FORMATS = {
    "wav": _Format("RF64", None, (16, 24, 32, FLOAT)),
    "aiff": _Format("AIFF", None, (16, 24, 32, FLOAT)),
    "flac": _Format("FLAC", None, (16, 24)),
    "ogg": _Format("OGG", "VORBIS"),
    "opus": _Format("OGG", "OPUS"),
    "mp3": _Format("MP3", "MPEG_LAYER_III"),
}
_EXTENSIONS = {"wav": "wav", "wave": "wav", "bwf": "wav", "aif": "aiff", "aiff": "aiff",
               "flac": "flac", "ogg": "ogg", "oga": "ogg", "opus": "opus", "mp3": "mp3"}


def output_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The output format key (``wav``, ``aiff``, ``flac``, ``ogg``, ``opus``, ``mp3``).

    Taken from ``format`` when given, else from the file extension.
    """
    name = (format or Path(path).suffix.lstrip(".")).lower()
    if name not in _EXTENSIONS:
        raise AudioOutputError(f"cannot write {path}: unknown output format {name!r} "
                               f"(use {', '.join(sorted(set(_EXTENSIONS.values())))})")
    return _EXTENSIONS[name]


def _mp3_rate(rate: int) -> int:
    """The highest MP3 rate that divides ``rate`` evenly, else the nearest one."""
    dividing = [r for r in _MP3_RATES if r <= rate and rate % r == 0]
    return max(dividing) if dividing else min(_MP3_RATES, key=lambda r: abs(r - rate))


def _lossless_depth(info: AudioInfo, fmt: str) -> BitDepth:
    if info.is_float:
        wanted = FLOAT
    elif info.bit_depth is None:
        wanted = 24      # decoded lossy audio: keep the decoder's resolution
    elif info.bit_depth <= 8:
        wanted = 16      # 8-bit and μ-law/A-law: their range fits 16 bits
    else:
        wanted = info.bit_depth
    return wanted if wanted in _FORMATS[fmt].bit_depths else 24


def default_output_spec(info: AudioInfo, out_path: str | os.PathLike) -> tuple[int, int, BitDepth]:
    """``(sample rate Hz, channels, bit_depth)`` to write ``info``'s audio to ``out_path``.

    Lossless outputs keep the source's rate, channels and word length: float
    sources stay 32-bit float (24-bit in FLAC, which has no float), 32-bit int
    becomes 24-bit in FLAC, 8-bit and μ-law/A-law sources become 16-bit, lossy
    sources become 24-bit. Lossy outputs get ``bit_depth=None``; MP3 is limited
    to its rates (highest evenly dividing one, e.g. 96 kHz -> 48 kHz) and to 2
    channels, Opus always runs at 48 kHz. Where the returned rate or channel
    count differs from the source, the caller resamples or downmixes.
    """
    fmt = output_format(out_path)
    if fmt == "mp3":
        return _mp3_rate(info.sample_rate), min(info.channels, 2), None
    if fmt == "opus":
        return 48000, info.channels, None
    if fmt == "ogg":
        return info.sample_rate, info.channels, None
    return info.sample_rate, info.channels, _lossless_depth(info, fmt)


def _same_file(a: Path, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_target(path: Path, overwrite: bool, forbid_same_as: str | os.PathLike | None) -> None:
    if forbid_same_as is not None and _same_file(path, forbid_same_as):
        raise AudioOutputError(f"cannot write {path}: it is the input file; choose another output name")
    if path.is_dir():
        raise AudioOutputError(f"cannot write {path}: it is a folder")
    if path.exists() and not overwrite:
        raise AudioOutputError(f"cannot write {path}: file already exists (overwrite not allowed)")
    if not path.parent.is_dir():
        raise AudioOutputError(f"cannot write {path}: folder {path.parent} does not exist")


@functools.cache
def _file_mode() -> int:
    """The mode ``open()`` would give a new file (mkstemp creates them 0600).

    Reading the umask means setting it; cached so that happens once per process.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; not possible on every platform (Windows), so best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AudioWriter:
    """Write float32 ``[frames, channels]`` blocks at ``sample_rate`` Hz to an audio file.

    Use as a context manager: ``with AudioWriter(...) as w: w.write(block)``.
    ``format`` defaults from the extension (wav, aiff, flac, ogg, opus, mp3).
    ``bit_depth`` for PCM formats is 16, 24, 32 (integer) or ``"float"`` (WAV
    and AIFF only; FLAC takes 16 or 24); None means 24. It is ignored for lossy
    formats. ``quality`` in [0, 1] (1 best) sets the VBR quality of OGG/Opus/MP3
    and is ignored for lossless ones. ``tags`` (keys as in :data:`TAG_KEYS`;
    others are dropped, as are those a format cannot hold) and ``bext`` (WAV
    only) are written into the file. ``forbid_same_as`` names the input file,
    which is never overwritten, even with ``overwrite=True``. See the module
    docstring for the clip, dither and atomic-write policies. ``seed`` seeds the
    dither noise.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int,
                 format: str | None = None, bit_depth: BitDepth = None,
                 quality: float | None = None, tags: dict[str, str] | None = None,
                 bext: Bext | None = None, overwrite: bool = False, clip_policy: str = "clip",
                 forbid_same_as: str | os.PathLike | None = None, seed: int = 0) -> None:
        if clip_policy not in ("clip", "error"):
            raise ValueError(f"clip_policy must be 'clip' or 'error', not {clip_policy!r}")
        if quality is not None and not 0.0 <= quality <= 1.0:
            raise ValueError(f"quality must be in [0, 1], got {quality}")
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.format = output_format(self.path, format)
        self.clip_policy = clip_policy
        self.overwrite = overwrite
        self.frames_written = 0
        self.clipped_samples = 0
        self.peak = 0.0  # highest |sample| seen, linear full scale
        spec = _FORMATS[self.format]
        self.bit_depth = None if spec.lossy_subtype else (24 if bit_depth is None else bit_depth)
        if self.bit_depth is not None and self.bit_depth not in spec.bit_depths:
            raise AudioOutputError(f"cannot write {self.path}: {self.format.upper()} takes bit depths "
                                   f"{', '.join(map(str, spec.bit_depths))}, not {bit_depth}")
        bits = self.bit_depth if self.bit_depth in (16, 24, 32) else None
        self._quantiser = TpdfQuantiser(bits, dither=bits != 32, seed=seed) if bits else None
        _check_target(self.path, overwrite, forbid_same_as)
        self._open_temp(spec, quality)
        try:
            self._write_metadata(tags or {}, bext)
        except BaseException:
            self.abort()
            raise

    # -- opening -----------------------------------------------------------------

    def _open_temp(self, spec: _Format, quality: float | None) -> None:
        try:
            self._fd, tmp = tempfile.mkstemp(prefix=partial_files.part_prefix(self.path),
                                             dir=self.path.parent)
        except OSError as exc:
            raise AudioOutputError(f"cannot write {self.path}: {exc.strerror}") from None
        self._tmp: Path | None = Path(tmp)
        lossy = spec.lossy_subtype is not None
        try:
            self._sf = sf.SoundFile(
                self._fd, "w", self.sample_rate, self.channels,
                spec.lossy_subtype or _PCM_SUBTYPE[self.bit_depth], format=spec.major,
                closefd=False,
                # libsndfile's compression level runs the other way: 0 is best quality.
                compression_level=None if quality is None or not lossy else _compression_level(spec, quality),
                bitrate_mode="VARIABLE" if quality is not None and spec.major == "MP3" else None)
        except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
            self._sf = None
            self.abort()
            raise AudioOutputError(f"cannot write {self.path} as {self.format.upper()} at "
                                   f"{self.sample_rate} Hz, {self.channels} channels: {exc}") from None
        if spec.major == "RF64":
            sf._snd.sf_command(self._sf._file, _SFC_RF64_AUTO_DOWNGRADE, sf._ffi.NULL, sf._snd.SF_TRUE)

    def _write_metadata(self, tags: dict[str, str], bext: Bext | None) -> None:
        """Tags and bext must reach libsndfile before the first frame."""
        for key, value in tags.items():
            key = _TAG_ALIASES.get(key.lower(), key.lower())
            if key in TAG_KEYS and value:
                try:
                    setattr(self._sf, key, str(value))
                except RuntimeError:  # the format has no slot for this tag
                    log.debug("%s: tag %s not supported by %s", self.path, key, self.format)
        if bext is not None and self.format == "wav":
            write_bext(self._sf, bext)

    # -- writing -----------------------------------------------------------------

    def _encode(self, block: np.ndarray) -> np.ndarray:
        """Apply the clip policy and quantise; returns what libsndfile gets."""
        if self.bit_depth == FLOAT:
            return block
        over = np.abs(block) > 1.0
        count = int(np.count_nonzero(over))
        if count:
            if self.clip_policy == "error":
                at = (self.frames_written + int(np.argwhere(over)[0, 0])) / self.sample_rate
                raise AudioOutputError(
                    f"cannot write {self.path}: audio exceeds full scale at {at:.3f} s "
                    f"(peak {20 * math.log10(self.peak):+.1f} dBFS); lower the gain or add a limiter")
            self.clipped_samples += count
        if self._quantiser is None:  # lossy: the encoder takes float, clipped to full scale
            return np.clip(block, -1.0, 1.0)
        ints = self._quantiser(block)
        if self.bit_depth == 16:
            return ints.astype(np.int16)
        # libsndfile stores the top 24 bits of an int for PCM_24.
        return ints << 8 if self.bit_depth == 24 else ints

    def write(self, block: np.ndarray) -> None:
        """Append float ``[frames, channels]`` samples (1-D accepted for mono).

        Any error removes the temporary file; the writer is then closed.
        """
        if self._tmp is None:
            raise ValueError(f"{self.path}: writer is closed")
        block = np.asarray(block, dtype=np.float32)
        if block.ndim == 1 and self.channels == 1:
            block = block[:, None]
        if block.ndim != 2 or block.shape[1] != self.channels:
            self.abort()
            raise ValueError(f"expected a [frames, {self.channels}] block, got shape {block.shape}")
        if not len(block):
            return
        try:
            if not np.isfinite(block).all():
                raise AudioOutputError(f"cannot write {self.path}: NaN or infinite samples "
                                       f"after {self.frames_written / self.sample_rate:.3f} s")
            self.peak = max(self.peak, float(np.max(np.abs(block))))
            self._sf.write(self._encode(block))
        except BaseException as exc:
            if isinstance(exc, (AudioOutputError, KeyboardInterrupt)):
                self.abort()
                raise
            error = self._write_error(exc)  # before abort(): the partial file tells why
            self.abort()
            raise error from None
        self.frames_written += len(block)

    def _write_error(self, exc: BaseException) -> AudioOutputError:
        return AudioOutputError(write_failure.explain(exc, self._tmp, self.path))

    # -- finishing ---------------------------------------------------------------

    def close(self) -> None:
        """Finish the file: flush, fsync, rename onto the target. Idempotent."""
        if self._tmp is None:
            return
        try:
            self._sf.close()
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            os.chmod(self._tmp, _file_mode())
            # The target may have appeared while we were writing.
            if self.path.exists() and not self.overwrite:
                raise AudioOutputError(f"cannot write {self.path}: file already exists (overwrite not allowed)")
            os.replace(self._tmp, self.path)
        except BaseException as exc:
            if isinstance(exc, (AudioOutputError, KeyboardInterrupt)):
                self.abort()
                raise
            error = self._write_error(exc)
            self.abort()
            raise error from None
        self._tmp = None
        _fsync_folder(self.path.parent)
        if self.clipped_samples:
            log.warning("%s: %d samples clipped (peak %+.1f dBFS)", self.path,
                        self.clipped_samples, 20 * math.log10(self.peak))

    def abort(self) -> None:
        """Stop writing and remove the temporary file; the target is left as it was."""
        if self._sf is not None and not self._sf.closed:
            try:
                self._sf.close()
            except Exception:  # noqa: BLE001 - the file is discarded anyway
                pass
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _compression_level(spec: _Format, quality: float) -> float:
    """libsndfile's compression level (0 best .. 1 smallest) for ``quality`` in [0, 1] (1 best).

    libsndfile's MP3 encoder refuses exactly 1.0 ("Error set compression level"),
    so the lowest MP3 quality stops just short of it.
    """
    level = 1.0 - quality
    return min(level, 0.99) if spec.major == "MP3" else level

