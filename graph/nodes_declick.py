"""``de-click``: find impulsive clicks and crackle and interpolate over them (model-free, any rate)."""

from __future__ import annotations

import numpy as np

from restora.dsp.declick import declick, runs
from restora.dsp.windowed import WindowedProcessor
from restora.graph.node import Block, Measurement, Node, Outputs, Param, ParameterError

CHUNK_S = 0.1          # AR model fitted per chunk: short enough to follow music, long enough for order 128
MIN_CHUNK = 2048       # frames; low rates still get enough samples for the fit
WIDEN_S = 0.25e-3      # flags widened by up to this on each side (no more than the event is long)
GAP_S = 1.0e-3         # flags closer than this may be one burst (the score dips inside one); see _bridge
FRAME_S = 1.5e-3       # frames of the robust level estimate


def sensitivity_factor(sensitivity: float) -> float:
    """Detection threshold in robust standard deviations of the AR error: 12 at 0, 5.25 at 0.5, 3 at 1."""
    return 3.0 + 9.0 * (1.0 - sensitivity) ** 2


class DeclickNode(Node):
    """Removes clicks and crackle: samples the signal's own AR model cannot explain are re-interpolated.

    Per channel, the stream is cut at fixed positions into chunks of 0.1 s
    (at least 2048 frames) overlapping by a quarter, joined by
    :class:`restora.dsp.windowed.WindowedProcessor`, so the output does not
    depend on the block size and memory stays bounded. In each chunk
    :func:`restora.dsp.declick.declick` fits an AR model of ``order`` (0: chosen by the sample rate), flags
    samples whose forward and backward prediction errors both exceed a
    threshold set by ``sensitivity`` (robust sigmas), and replaces them by
    least-squares AR interpolation; events longer than ``max_click_ms`` are
    left alone. Samples not flagged pass unchanged. Output ``i`` is input
    ``i``; the chunk latency is released by :meth:`finish`. Measurement:
    ``clicks`` (events repaired, all channels).
    """

    type_name = "de-click"
    PARAMS = (
        Param("sensitivity", 0.5, minimum=0.0, maximum=1.0,
              doc="0 = only the loudest clicks, 1 = also faint crackle (more false alarms)"),
        Param("max_click_ms", 3.0, minimum=0.05, maximum=10.0, unit="ms",
              doc="Longest event repaired; longer ones are left as they are"),
        Param("order", 0, kind="int", minimum=0, maximum=128,
              doc="Order of the autoregressive model, 8..128 (higher: better on tonal music, slower); "
                  "0 = by sample rate (32 up to 22.4 kHz, then rate / 700, at most 80)"),
    )

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if 0 < self.params["order"] < 8:
            raise ParameterError(f"order={self.params['order']} is out of range: 0 (automatic) or 8..128")

    def model_order(self) -> int:
        """AR order used at the current sample rate."""
        return self.params["order"] or int(np.clip(round(self.sample_rate / 700), 32, 80))

    def start(self, sample_rate: int, channels: int) -> None:
        super().start(sample_rate, channels)
        window = max(MIN_CHUNK, int(round(CHUNK_S * sample_rate)))
        self._overlap = window // 4
        self._hop = window - self._overlap
        self._chunks = 0
        self._clicks = 0
        self._windows = WindowedProcessor(self._repair, window, self._overlap, channels)

    def _repair(self, chunk: np.ndarray) -> np.ndarray:
        """Repaired ``chunk`` [n, channels] float32; counts the events that start in this chunk's own share."""
        sr, p = self.sample_rate, self.params
        owned = (0 if self._chunks == 0 else self._overlap // 2, self._overlap // 2 + self._hop)
        self._chunks += 1
        out = np.empty_like(chunk)
        for c in range(chunk.shape[1]):
            y, mask = declick(chunk[:, c], self.model_order(), sensitivity_factor(p["sensitivity"]),
                              widen=max(1, round(WIDEN_S * sr)), max_len=max(1, round(p["max_click_ms"] * 1e-3 * sr)),
                              frame=max(16, round(FRAME_S * sr)), gap=max(2, round(GAP_S * sr)))
            out[:, c] = y
            self._clicks += sum(owned[0] <= start < owned[1] for start, _ in runs(mask))
        return out

    def process(self, block: Block) -> Outputs:
        return {"main": self._windows.process(np.asarray(block, np.float32))}

    def finish(self) -> Outputs:
        out = {"main": self._windows.finish()}
        self.measurements = [Measurement("clicks", float(self._clicks), "")]
        return out
