"""Broadcast WAV ``bext`` chunk (EBU Tech 3285): read and write through libsndfile.

soundfile does not expose the chunk, but libsndfile does, through
``sf_command(SFC_GET/SET_BROADCAST_INFO)`` with its ``SF_BROADCAST_INFO``
struct. We pack that struct with :mod:`struct` (layout from ``sndfile.h``,
natural C alignment) and let libsndfile read and write the chunk itself, which
keeps the file layout its business: RIFF, RF64 and W64 alike.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import soundfile as sf

# sndfile.h command numbers (soundfile's cffi module does not declare them).
_SFC_GET_BROADCAST_INFO = 0x10F0
_SFC_SET_BROADCAST_INFO = 0x10F1

# SF_BROADCAST_INFO with its 256-byte coding history. The "2x" is the C
# padding before the first unsigned int (338 bytes of chars precede it); the
# 190 bytes after ``umid`` are the EBU loudness fields plus reserved space.
_LAYOUT = struct.Struct("<256s32s32s10s8s2xIIh64s190sI256s")
_TEXT_FIELDS = (("description", 256), ("originator", 32), ("originator_reference", 32),
                ("origination_date", 10), ("origination_time", 8))


@dataclass(frozen=True)
class Bext:
    """The fields of a BWF ``bext`` chunk that survive processing.

    ``origination_date`` is ``"yyyy-mm-dd"``, ``origination_time`` is
    ``"hh:mm:ss"``; ``time_reference`` is the timecode of the first sample,
    counted in samples since midnight at the file's sample rate.
    """

    description: str = ""
    originator: str = ""
    originator_reference: str = ""
    origination_date: str = ""
    origination_time: str = ""
    time_reference: int = 0
    coding_history: str = ""

    def time_reference_s(self, sample_rate: int) -> float:
        """The timecode of the first sample in seconds since midnight."""
        return self.time_reference / sample_rate


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()


def _field(value: str, size: int) -> bytes:
    # Truncation may cut a multi-byte character; readers stop at invalid bytes.
    return value.encode("utf-8")[:size]


def read_bext(f: sf.SoundFile) -> Bext | None:
    """The ``bext`` chunk of an open WAV/RF64/W64 file, or None if it has none."""
    buf = sf._ffi.new("char[]", _LAYOUT.size)
    if sf._snd.sf_command(f._file, _SFC_GET_BROADCAST_INFO, buf, _LAYOUT.size) != sf._snd.SF_TRUE:
        return None
    fields = _LAYOUT.unpack(sf._ffi.buffer(buf))
    text = {name: _text(raw) for (name, _), raw in zip(_TEXT_FIELDS, fields[:5])}
    low, high = fields[5], fields[6]
    history = fields[11][:fields[10]]
    return Bext(**text, time_reference=(high << 32) | low, coding_history=_text(history))


def write_bext(f: sf.SoundFile, bext: Bext) -> bool:
    """Ask libsndfile to write ``bext`` into a file opened for writing.

    Must be called before the first frame is written. Returns False when the
    format cannot hold the chunk (libsndfile refuses it).
    """
    text = [_field(getattr(bext, name), size) for name, size in _TEXT_FIELDS]
    history = _field(bext.coding_history, 256)
    ref = int(bext.time_reference)
    packed = _LAYOUT.pack(*text, ref & 0xFFFFFFFF, ref >> 32, 1, b"", b"",
                          len(history), history)
    buf = sf._ffi.new("char[]", packed)
    return sf._snd.sf_command(f._file, _SFC_SET_BROADCAST_INFO, buf, _LAYOUT.size) == sf._snd.SF_TRUE
