"""Real noisy speech for benchmarks, built reproducibly from ../shared/corpus.

Clean read speech (validation split, several speakers and languages) is
placed in a room (a measured room impulse response, validation split) and mixed
with real environmental noise beds (hums, ambiences, machines, animals...) at a
chosen SNR. Everything is resampled to the requested rate with soxr.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import fftconvolve

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _rows(kind: str, split: str | None = None, min_s: float = 0.0) -> list[dict]:
    with open(CORPUS / "manifest.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["kind"] == kind and float(r["duration"]) >= min_s
                and (split is None or r["split"] == split)]


def _load(row: dict, sr: int) -> np.ndarray:
    audio, rate = sf.read(CORPUS / row["path"], dtype="float32", always_2d=True)
    return soxr.resample(audio.mean(axis=1), rate, sr, "HQ").astype(np.float32)


def clean_speech(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """``seconds`` of concatenated clean speech (float32 [n]) with 0.3 s pauses."""
    rng = np.random.default_rng(seed)
    rows = _rows("speech_clean", "val", min_s=1.0)
    rng.shuffle(rows)
    parts, total, pause = [], 0, np.zeros(int(0.3 * sr), np.float32)
    while total < seconds * sr:
        for row in rows:
            x = _load(row, sr)
            x = 0.1 * x / (np.sqrt(np.mean(x ** 2)) + 1e-9)
            parts += [x, pause]
            total += len(x) + len(pause)
            if total >= seconds * sr:
                break
    return np.concatenate(parts)[: int(seconds * sr)]


def noise_bed(n: int, sr: int, seed: int = 0) -> np.ndarray:
    """``n`` samples of real environmental noise: long files joined with 50 ms cross-fades."""
    rng = np.random.default_rng(seed + 1)
    rows = _rows("noise_env", None, min_s=3.0)
    rng.shuffle(rows)
    fade = int(0.05 * sr)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    out = np.zeros(0, np.float32)
    for row in rows * 10:
        x = _load(row, sr)
        x = x / (np.sqrt(np.mean(x ** 2)) + 1e-9)
        if len(out):
            out[-fade:] = out[-fade:] * ramp[::-1] + x[:fade] * ramp
            x = x[fade:]
        out = np.concatenate([out, x])
        if len(out) >= n:
            return out[:n]
    return np.resize(out, n)


def room(speech: np.ndarray, sr: int, seed: int = 0) -> np.ndarray:
    """``speech`` in a measured room (direct-to-reverberant mix kept speech-like)."""
    rows = _rows("rir", "val")
    rir = _load(rows[seed % len(rows)], sr)
    rir = rir[int(np.argmax(np.abs(rir))):][: sr]
    wet = fftconvolve(speech, rir / (np.sqrt(np.sum(rir ** 2)) + 1e-9))[: len(speech)]
    return (0.8 * speech + 0.2 * wet * np.std(speech) / (np.std(wet) + 1e-9)).astype(np.float32)


def noisy_speech(seconds: float, sr: int = 48000, snr_db: float = 5.0,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean reference) float32 [n] at ``sr``; the reference includes the room."""
    clean = room(clean_speech(seconds, sr, seed), sr, seed)
    noise = noise_bed(len(clean), sr, seed)
    noise *= np.sqrt(np.mean(clean ** 2)) / np.sqrt(np.mean(noise ** 2)) / 10 ** (snr_db / 20)
    mix = clean + noise
    peak = np.max(np.abs(mix))
    scale = 0.9 / peak if peak > 0.9 else 1.0
    return (mix * scale).astype(np.float32), (clean * scale).astype(np.float32)


def available() -> bool:
    """Whether the shared corpus is present (benchmarks need it; tests never do)."""
    return (CORPUS / "manifest.csv").is_file()
