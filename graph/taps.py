"""Stream taps used around a graph run: output conversion and measuring meters."""

from __future__ import annotations

import functools
import logging
from typing import Iterable, Iterator

import numpy as np

from restora.dsp.loudness import LoudnessMeter
from restora.dsp.resample import StreamResampler
from restora.errors import RestoraError

log = logging.getLogger("restora")


def downmix(block: np.ndarray, channels: int) -> np.ndarray:
    """Fit ``block`` [frames, in_ch] to ``channels``: mono average, ITU 5.1→stereo, else keep the first."""
    have = block.shape[1]
    if have == channels:
        return block
    if channels == 1:
        return block.mean(axis=1, keepdims=True)
    if channels == 2 and have == 6:  # L R C LFE Ls Rs (WAV/FLAC order); LFE dropped
        c = 0.7071 * block[:, 2]
        left = block[:, 0] + c + 0.7071 * block[:, 4]
        right = block[:, 1] + c + 0.7071 * block[:, 5]
        return (np.stack([left, right], axis=1) / 2.4142).astype(np.float32)
    if have == 1:
        return np.repeat(block, channels, axis=1)
    return block[:, :channels]


class ResamplingSink:
    """Feeds a writer at the graph's rate ``in_rate``, converting to the writer's rate and channels."""

    def __init__(self, writer, in_rate: int) -> None:
        self.writer = writer
        self.channels = writer.channels
        self._resampler = None if in_rate == writer.sample_rate else StreamResampler(
            in_rate, writer.sample_rate, self.channels, quality="VHQ")

    def write(self, block: np.ndarray) -> None:
        block = downmix(block, self.channels)
        self.writer.write(self._resampler.process(block) if self._resampler else block)

    def finish(self) -> None:
        if self._resampler:
            self.writer.write(self._resampler.finish())


class MeterTap:
    """Measures a stream (loudness, true peak, DNSMOS) and passes it on unchanged.

    ``sink`` may be None to only measure. DNSMOS runs only when its model is
    installed; otherwise its figures are None and one line says why. Its file
    score is the mean over 9.01 s windows taken every ``dnsmos_hop_s`` seconds:
    the reference tool's 1 s hop costs about 0.26 CPU-seconds per second of
    audio here (docs/benchmarks.md), so reports default to 9 s (windows that
    just tile the file).
    """

    def __init__(self, sink, sample_rate: int, channels: int, dnsmos: bool = True,
                 dnsmos_hop_s: int = 9) -> None:
        self.sink = sink
        self.loudness = LoudnessMeter(sample_rate, channels)
        self.dnsmos = None
        if dnsmos:
            try:
                from restora.models.dnsmos import DnsmosMeter

                self.dnsmos = DnsmosMeter(sample_rate, model=_dnsmos_model(), hop_s=dnsmos_hop_s)
            except RestoraError as exc:
                log.warning("DNSMOS skipped: %s", exc)

    def write(self, block: np.ndarray) -> None:
        self._measure(block)
        if self.sink is not None:
            self.sink.write(block)

    def finish(self) -> None:
        if self.sink is not None and hasattr(self.sink, "finish"):
            self.sink.finish()

    def passthrough(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Measure blocks on their way to the graph."""
        for block in blocks:
            self._measure(block)
            yield block

    def _measure(self, block: np.ndarray) -> None:
        self.loudness.process(block)
        if self.dnsmos is not None:
            self.dnsmos.push(block)

    def results(self) -> dict:
        """``{"lufs", "true_peak_db", "dnsmos": {sig, bak, ovrl, p808}}``; None where undefined."""
        result = self.loudness.result()
        scores = {"sig": None, "bak": None, "ovrl": None, "p808": None}
        if self.dnsmos is not None:
            try:
                file_scores = self.dnsmos.result().file
                scores = {k: round(getattr(file_scores, k), 3) for k in scores}
            except ValueError:
                pass
        return {"lufs": _round(result.integrated_lufs), "true_peak_db": _round(result.true_peak_dbtp),
                "dnsmos": scores}


@functools.lru_cache(maxsize=1)
def _dnsmos_model():
    # One pair of sessions per process: a batch measures every file with it.
    from restora.models.dnsmos import DnsmosModel

    return DnsmosModel()


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)
