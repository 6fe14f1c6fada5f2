"""DeepFilterNet3 speech enhancement as a streaming graph node.

The model runs at 48 kHz; other rates are resampled with soxr (VHQ) in both
directions inside the node, with resampler state carried between blocks.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from restora.graph.model_rate import ModelRateBridge
from restora.graph.node import Block, Measurement, Node, Outputs, Param
from restora.models.dfn3 import SAMPLE_RATE, Dfn3Session, Dfn3Stream

MODEL_ID = "deepfilternet3"
FRAMES_PER_SECOND = SAMPLE_RATE // 480  # DFN3 hop is 10 ms


class Dfn3Node(Node):
    """DeepFilterNet3 noise suppression for speech (48 kHz model, any input rate).

    Each channel is enhanced by its own :class:`Dfn3Stream` (own STFT, norm,
    GRU and look-ahead state) sharing one ONNX session: the model is mono, and
    channels enhanced independently keep their own spatial cues, at the cost of
    one model pass per channel. Output sample ``i`` is aligned with input sample
    ``i`` and, over a stream, exactly as many frames come out as went in; the
    latency is about 30–40 ms plus the resamplers' delay.

    Measurements (added at :meth:`finish`): ``lsnr`` — the model's local SNR
    estimate in dB, averaged over channels and over each second of audio.

    ``model_dir`` (constructor only) overrides the model store folder; it must
    hold the stateful graphs made by ``build_streaming_graphs``.
    """

    type_name = "deepfilternet3"
    PARAMS = (
        Param("atten_lim_db", 100.0, minimum=0.0, maximum=100.0, unit="dB",
              doc="most the noise is turned down; 100 = no limit"),
        Param("post_filter_beta", 0.0, minimum=0.0, maximum=0.05,
              doc="extra suppression of weak bins; 0 = off, 0.02 typical"),
        Param("threads", 1, kind="int", minimum=1, maximum=16, doc="ONNX Runtime threads"),
        Param("device", "auto", kind="choice", choices=("auto", "cpu", "cuda", "coreml", "directml"),
              doc="auto: an accelerator when onnxruntime has one, else the CPU (the one used is logged)"),
    )

    def __init__(self, model_dir: str | Path | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self._session: Dfn3Session | None = None
        self._streams: list[Dfn3Stream] = []
        self._lsnr: list[np.ndarray] = []

    def _load(self) -> Dfn3Session:
        if self._session is None:
            if self.model_dir is None:
                from restora.models.store import require
                self.model_dir = require(MODEL_ID)
            self._session = _shared_session(self.model_dir, self.params["threads"], self.params["device"])
        return self._session

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        session = self._load()
        self._streams = [Dfn3Stream(session, atten_lim_db=self.params["atten_lim_db"],
                                    post_filter_beta=self.params["post_filter_beta"])
                         for _ in range(self.channels)]
        self._bridge = ModelRateBridge(sample_rate, SAMPLE_RATE, self._streams)
        self._lsnr = []
        self._n_in = 0

    def process(self, block: Block) -> Outputs:
        self._n_in += len(block)
        out = self._bridge.process(block)
        self._collect_lsnr()
        return {"main": out}

    def finish(self) -> Outputs:
        out = self._bridge.finish()
        self._collect_lsnr()
        self.measurements.extend(self._lsnr_measurements())
        return {"main": out}

    def close(self) -> None:
        self._session = None
        self._streams = []

    # -- helpers -------------------------------------------------------------
    def _collect_lsnr(self) -> None:
        per_channel = [s.pop_lsnr() for s in self._streams]
        if per_channel and len(per_channel[0]):
            self._lsnr.append(np.mean(per_channel, axis=0))

    def _lsnr_measurements(self) -> list[Measurement]:
        """Mean LSNR (dB) per second of the 48 kHz frame sequence."""
        if not self._lsnr:
            return []
        lsnr = np.concatenate(self._lsnr)
        duration = self._n_in / self.sample_rate
        result = []
        for start in range(0, len(lsnr), FRAMES_PER_SECOND):
            chunk = lsnr[start:start + FRAMES_PER_SECOND]
            t0 = start / FRAMES_PER_SECOND
            if t0 >= duration:
                break  # frames of the end-of-stream zero padding
            t1 = min(t0 + len(chunk) / FRAMES_PER_SECOND, duration)
            result.append(Measurement("lsnr", float(np.mean(chunk)), "dB", t0, t1))
        return result


@functools.lru_cache(maxsize=4)
def _shared_session(model_dir: Path, threads: int, device: str) -> Dfn3Session:
    # Sessions hold no stream state, so a batch reuses one per process instead
    # of parsing the three graphs for every file.
    return Dfn3Session(model_dir, threads=threads, providers=device)
