"""What :func:`restora.dsp.audio_read.probe` tells about an audio file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from restora.dsp.bext import Bext


@dataclass(frozen=True)
class AudioInfo:
    """Properties of an audio file, read from its header (no decoding of the whole file).

    ``frames`` is the exact length in sample frames, or None when the container
    does not state it exactly; ``duration_s`` is then an estimate (None if
    unknown). ``format`` is the container in capitals (``"WAV"``, ``"RF64"``,
    ``"FLAC"``, ``"OGG"``, ``"MP3"``, ``"AIFF"``, ``"M4A"``, ``"MP4"``,
    ``"MOV"``...); ``subtype`` the sample encoding (``"PCM_24"``, ``"FLOAT"``,
    ``"ULAW"``, ``"VORBIS"``, ``"AAC"``...). ``bit_depth`` is the stored word
    length (8/16/24/32/64; 8 for μ-law/A-law) and None for lossy codecs;
    ``is_float`` is True for IEEE float samples. ``tags`` holds text metadata
    with lower-case keys (``title``, ``artist``, ``album``, ``date``,
    ``comment``...); ``bext`` the Broadcast WAV chunk when present.
    ``backend`` is ``"soundfile"`` (libsndfile) or ``"pyav"`` (FFmpeg).
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int | None
    duration_s: float | None
    format: str
    subtype: str
    bit_depth: int | None
    is_float: bool
    tags: dict[str, str] = field(default_factory=dict)
    bext: Bext | None = None
    backend: str = "soundfile"

    @property
    def lossy(self) -> bool:
        """True when the source went through a lossy codec (MP3, AAC, Vorbis...)."""
        return self.bit_depth is None

    @property
    def time_reference_s(self) -> float | None:
        """BWF timecode of the first sample in seconds since midnight, if known."""
        return self.bext.time_reference_s(self.sample_rate) if self.bext else None
