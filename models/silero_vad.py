"""Silero VAD v6 (16 kHz) with its state held explicitly, for streaming use.

Each call of ``silero_vad.onnx`` takes 512 new samples (32 ms at 16 kHz) preceded
by the last 64 samples of the previous call (the "context"), plus the recurrent
state ``[2, 1, 128]``; it returns the speech probability of those 512 samples and
the next state. Both context and state start at zeros, as in the reference
``OnnxWrapper``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restora.models import store
from restora.models.session import make_session

MODEL_ID = "silero-vad"
SR = 16000
CHUNK = 512      # samples per probability (32 ms)
CONTEXT = 64     # samples of the previous chunk fed again
CHUNK_S = CHUNK / SR


class SileroVad:
    """Streaming speech probability of 16 kHz mono float32 audio, one value per 512 samples."""

    def __init__(self, model_dir: Path | None = None, threads: int = 1,
                 providers: str = "cpu") -> None:
        folder = Path(model_dir) if model_dir else store.require(MODEL_ID)
        # One thread: the graph is tiny and called every 32 ms; threading costs more than it gains.
        self.session, self.provider = make_session(folder / "silero_vad.onnx", threads, providers)
        self._sr = np.array(SR, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Zero the recurrent state, the context and the pending samples."""
        self.state = np.zeros((2, 1, 128), np.float32)
        self.context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def chunk_probability(self, chunk: np.ndarray) -> float:
        """Speech probability (0..1) of exactly 512 new samples; advances the state."""
        x = np.concatenate([self.context, np.asarray(chunk, np.float32)])[None, :]
        prob, self.state = self.session.run(None, {"input": x, "state": self.state, "sr": self._sr})
        self.context = x[0, -CONTEXT:].copy()
        return float(prob[0, 0])

    def push(self, x16: np.ndarray) -> np.ndarray:
        """Add 16 kHz mono samples; return the probabilities of the chunks now complete."""
        buf = np.concatenate([self._pending, np.asarray(x16, np.float32).reshape(-1)])
        n = len(buf) // CHUNK
        probs = np.array([self.chunk_probability(buf[i * CHUNK:(i + 1) * CHUNK])
                          for i in range(n)], np.float32)
        self._pending = buf[n * CHUNK:]
        return probs

    def flush(self) -> np.ndarray:
        """Probability of the last partial chunk (zero-padded), or nothing if there is none."""
        if len(self._pending) == 0:
            return np.zeros(0, np.float32)
        last = np.pad(self._pending, (0, CHUNK - len(self._pending)))
        self._pending = np.zeros(0, np.float32)
        return np.array([self.chunk_probability(last)], np.float32)
