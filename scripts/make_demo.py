"""Rebuild the bundled demo recordings from ../shared/corpus (run once by a developer).

noisy-speech.flac: LibriSpeech 5703-47212-0000 (CC-BY-4.0, read English, 16 kHz)
resampled to 44.1 kHz, given a small room (a measured seminar-room clap response,
CC0-1.0) and mixed with sauna ambience (CC0-1.0) at 5 dB SNR; 44.1 kHz mono 16-bit.
music-excerpt.flac: 12 s of "Vibe Ace" by Kevin MacLeod (CC-BY-3.0), 44.1 kHz stereo.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import fftconvolve

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
SR = 44100


def noisy_speech() -> np.ndarray:
    speech, rate = sf.read(CORPUS / "speech/val/librispeech/5703-47212-0000.ogg", dtype="float32")
    speech = soxr.resample(speech, rate, SR, "VHQ")
    rir, rir_rate = sf.read(CORPUS / "rir/train/spatialaudio/rir_clap_seminar_room.flac", dtype="float32")
    rir = soxr.resample(rir if rir.ndim == 1 else rir[:, 0], rir_rate, SR)
    rir = rir[int(np.argmax(np.abs(rir))):][: SR // 2]
    wet = fftconvolve(speech, rir / np.sqrt(np.sum(rir ** 2)))[: len(speech)]
    speech = 0.7 * speech + 0.3 * wet / (np.std(wet) / np.std(speech))
    noise, noise_rate = sf.read(CORPUS / "noise/train/sonicpi/ambi_sauna.flac", dtype="float32")
    noise = soxr.resample(noise if noise.ndim == 1 else noise.mean(axis=1), noise_rate, SR)
    noise = np.tile(noise, int(np.ceil(len(speech) / len(noise))))[: len(speech)]
    snr_db = 5.0
    noise *= np.std(speech) / np.std(noise) / 10 ** (snr_db / 20)
    mix = speech + noise
    return (mix * (0.5 / np.max(np.abs(mix)))).astype(np.float32)


def music() -> np.ndarray:
    audio, rate = sf.read(CORPUS / "music_mix/train/librosa/Kevin_MacLeod_-_Vibe_Ace.flac", dtype="float32")
    assert rate == SR
    excerpt = audio[2 * SR: 14 * SR]
    fade = np.linspace(0.0, 1.0, SR // 20)[:, None]
    excerpt[: len(fade)] *= fade
    excerpt[-len(fade):] *= fade[::-1]
    return excerpt


def main() -> int:
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 1
    DEMO.mkdir(parents=True, exist_ok=True)
    sf.write(DEMO / "noisy-speech.flac", noisy_speech(), SR, subtype="PCM_16")
    sf.write(DEMO / "music-excerpt.flac", music(), SR, subtype="PCM_16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
