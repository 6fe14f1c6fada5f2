"""Audio file I/O in one import: probing, streaming reads, atomic writes.

The work is done in small modules: :mod:`~restora.dsp.audio_read` (libsndfile
reading), :mod:`~restora.dsp.audio_av` (FFmpeg fallback), :mod:`~restora.dsp.bext`
(Broadcast WAV chunk), :mod:`~restora.dsp.dither` (TPDF quantiser) and
:mod:`~restora.dsp.audio_write` (writer and output defaults).
"""

from restora.dsp.audio_info import AudioInfo
from restora.dsp.audio_read import DEFAULT_BLOCK_FRAMES, probe, read_all, read_blocks
from restora.dsp.audio_write import FLOAT, TAG_KEYS, AudioWriter, default_output_spec, output_format
from restora.dsp.bext import Bext

__all__ = ["AudioInfo", "AudioWriter", "Bext", "DEFAULT_BLOCK_FRAMES", "FLOAT", "TAG_KEYS",
           "default_output_spec", "output_format", "probe", "read_all", "read_blocks"]
