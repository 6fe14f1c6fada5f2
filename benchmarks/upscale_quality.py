"""Audio super-resolution quality: restored high band vs the full-band original (issue 7).

    .venv/bin/python benchmarks/upscale_quality.py [--files 24] [--seconds 10] [--json out.json]

Recordings (../shared/corpus, val split only, 44.1 kHz or more originals):
speech ``speech_clean`` with ``hf_db_above_12k > -50`` dB (real high-band
content), taken round-robin over speaker groups; music: the val mixes and loops, and each val song's rendered stems
summed into one mix. Each is cut to ``--seconds``, peak-normalised to -1
dBFS (so the LSD floor lies as far below every recording) and degraded to 8, 16 and
22.05 kHz: resampled down with soxr (:func:`restora.dsp.resample.resample`,
HQ) and back up to the original rate, then trimmed or zero-padded to the
original length. Every method gets the degraded signal at the original rate
and the cut-off :func:`restora.dsp.bandwidth.estimate_bandwidth` reads from it
(the automatic detection a user gets), and returns the restored signal.

Measures, per recording, rate and method (``P`` = STFT power, 2048-point
periodic Hann, hop 512, at the original rate, scaled so a full-scale sine's
peak bin is 1, i.e. 0 dB; channels count as further frames):

* LSD (log-spectral distance, dB) over a band ``B`` of bins::

      LSD = mean over frames t of sqrt( mean over bins f in B of
            (10 log10 max(P_ref(t, f), 1e-10) - 10 log10 max(P_est(t, f), 1e-10))**2 )

  with every frame counted (silences too) and the floor 1e-10 = -100 dB per
  bin. ``full`` is B = [0, top), ``high`` is B = [rate / 2, top): above the
  degraded cut-off, where ``top`` is the original's own bandwidth (the same
  estimate), because several "full-band" originals are themselves codec
  files that stop at 16-20 kHz and nothing should be generated where the
  original is empty. ``high_nyq`` (JSON only) runs to Nyquist instead.
* Low-band SNR (dB): ``10 log10(sum |X|^2 / sum |Y - X|^2)`` over the STFT
  bins below the detected cut-off, ``X`` the degraded input and ``Y`` the
  output: what a method changed of what the recording already had (infinite
  for plain resampling, which changes nothing).
* RTF: the method's wall time over the recording's duration, this CPU, one
  process.

Methods (:data:`METHODS`, name -> ``fn(audio [frames, channels] float32, sr,
cutoff_hz) -> audio``): ``plain`` (the degraded input itself: resampling
alone), ``fold`` (:func:`restora.dsp.band_extension.extend_band`) and
``neural`` (the shipped ``sr-extender`` through the upscale node's own code
path, :func:`neural`; left out with a note when the model is missing); another
model can register itself with :func:`register` and gets a column.
The table shows means over recordings, the ratios of LSD to plain
resampling's, and the lowest low-band SNR.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import machine  # noqa: E402

from restora.dsp.band_extension import extend_band  # noqa: E402
from restora.dsp.bandwidth import estimate_bandwidth  # noqa: E402
from restora.dsp.resample import resample  # noqa: E402
from restora.dsp.stft import stft  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"
LOW_RATES = (8000, 16000, 22050)
N_FFT = 2048
HOP = 512
FLOOR = 1e-10
MIN_HF_DB = -50.0

Method = Callable[[np.ndarray, float, float], np.ndarray]
def neural_with(model) -> Method:
    """The upscale node's ``neural`` path with ``model`` (an SRExtender): it works at 48 kHz, and only its added
    band is resampled back and added to the input (:func:`restora.graph.nodes_upscale.neural_band`)."""
    from restora.graph.nodes_upscale import neural_band

    def run(audio: np.ndarray, sr: float, cutoff: float) -> np.ndarray:
        return audio + neural_band(model, audio, int(sr), cutoff)

    return run


def neural(audio: np.ndarray, sr: float, cutoff: float) -> np.ndarray:
    """:func:`neural_with` the shipped ``sr-extender``."""
    from restora.models.sr_extender import extender

    return neural_with(extender())(audio, sr, cutoff)


METHODS: dict[str, Method] = {
    "plain": lambda audio, sr, cutoff: audio,
    "fold": lambda audio, sr, cutoff: extend_band(audio, sr, cutoff),
    "neural": neural,
}


def register(name: str, fn: Method) -> None:
    """Add a method column (e.g. the neural model as ``ours``)."""
    METHODS[name] = fn


# -- recordings ------------------------------------------------------------

def peak_normalised(audio: np.ndarray) -> np.ndarray:
    """Peak at -1 dBFS, so the LSD floor sits equally far below every recording."""
    return (audio * (10 ** (-1 / 20) / max(float(np.abs(audio).max()), 1e-9))).astype(np.float32)


def _read(path: Path, seconds: float) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(path, dtype="float32", always_2d=True, frames=int(seconds * 192000))
    return peak_normalised(audio[: int(seconds * sr)]), sr


def _sum_stems(paths: list[Path], seconds: float) -> tuple[np.ndarray, int]:
    parts = [_read(p, seconds) for p in paths]
    length = min(len(a) for a, _ in parts)
    return peak_normalised(sum(a[:length].mean(axis=1, keepdims=True) for a, _ in parts)), parts[0][1]


def _round_robin(rows: list[dict]) -> list[dict]:
    """``rows`` interleaved across their ``group`` (speaker, source), so each group weighs alike."""
    groups = defaultdict(list)
    for r in rows:
        groups[r["group"]].append(r)
    queues = [groups[g] for g in sorted(groups)]
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def recordings(corpus: Path, files: int, seconds: float) -> dict[str, list[tuple[str, np.ndarray, int]]]:
    """``{"speech": [(name, audio [frames, channels], sr)], "music": [...]}``, at most ``files`` each.

    Speech is taken round-robin over speaker groups (one Bulgarian speaker
    holds half of the eligible val files).
    """
    rows = [r for r in csv.DictReader(open(corpus / "manifest.csv"))
            if r["split"] == "val" and int(r["sample_rate"]) >= 44100]
    speech = [r for r in rows if r["kind"] == "speech_clean" and float(r["hf_db_above_12k"] or -999) > MIN_HF_DB]
    out = {"speech": [(r["path"], *_read(corpus / r["path"], seconds)) for r in _round_robin(speech)[:files]],
           "music": [(r["path"], *_read(corpus / r["path"], seconds))
                     for r in rows if r["kind"] in ("music_mix", "music_loop")]}
    songs = defaultdict(list)
    for r in rows:
        if r["kind"] == "music_stem_rendered":
            songs[r["group"]].append(corpus / r["path"])
    out["music"] += [(f"{song} (stem sum)", *_sum_stems(paths, seconds)) for song, paths in sorted(songs.items())]
    out["music"] = out["music"][:files]
    return out


def degrade(audio: np.ndarray, sr: int, low_rate: int) -> np.ndarray:
    """Down to ``low_rate`` and back up to ``sr`` with soxr, same length as ``audio``."""
    back = resample(resample(audio, sr, low_rate), low_rate, sr)[: len(audio)]
    return np.pad(back, ((0, len(audio) - len(back)), (0, 0)))


# -- measures --------------------------------------------------------------

def power_db(audio: np.ndarray) -> np.ndarray:
    """STFT power in dB with the floor, ``[frames * channels, bins]``."""
    spec = stft(audio, N_FFT, HOP)  # [frames, bins, channels]
    power = np.abs(spec) ** 2 / (N_FFT / 4) ** 2  # full-scale sine peak bin -> 1 (periodic Hann sum / 2)
    return 10.0 * np.log10(np.maximum(np.moveaxis(power, 2, 0).reshape(-1, power.shape[1]), FLOOR))


def lsd(ref_db: np.ndarray, est_db: np.ndarray, sr: float, lo: float, hi: float) -> float:
    """Log-spectral distance (dB) over bins in [lo, hi) Hz; see the module docstring."""
    freqs = np.arange(ref_db.shape[1]) * sr / N_FFT
    band = (freqs >= lo) & (freqs < hi)
    return float(np.mean(np.sqrt(np.mean((ref_db[:, band] - est_db[:, band]) ** 2, axis=1))))


def low_band_snr(degraded: np.ndarray, out: np.ndarray, sr: float, cutoff: float) -> float:
    """SNR (dB) of ``out`` against ``degraded`` over the STFT bins below ``cutoff``."""
    low = np.arange(N_FFT // 2 + 1) * sr / N_FFT < cutoff
    x, y = stft(degraded, N_FFT, HOP)[:, low], stft(out, N_FFT, HOP)[:, low]
    err = float(np.sum(np.abs(y - x) ** 2))
    return math.inf if err == 0 else 10.0 * math.log10(float(np.sum(np.abs(x) ** 2)) / err)


def measure_one(original: np.ndarray, sr: int, low_rate: int, methods: list[str]) -> dict:
    """All methods on one recording at one degraded rate: ``{method: {measure: value}}`` plus facts."""
    degraded = degrade(original, sr, low_rate)
    top = estimate_bandwidth(original, sr) or sr / 2
    cutoff = estimate_bandwidth(degraded, sr) or low_rate / 2
    ref_db = power_db(original)
    row = {"top_hz": top, "cutoff_hz": cutoff}
    for name in methods:
        start = time.perf_counter()
        out = np.asarray(METHODS[name](degraded, sr, cutoff), np.float32)
        seconds = time.perf_counter() - start
        est_db = power_db(out)
        row[name] = {"lsd_full": lsd(ref_db, est_db, sr, 0, top),
                     "lsd_high": lsd(ref_db, est_db, sr, low_rate / 2, top),
                     "lsd_high_nyq": lsd(ref_db, est_db, sr, low_rate / 2, sr / 2 + 1),
                     "low_snr_db": low_band_snr(degraded, out, sr, cutoff),
                     "rtf": seconds / (len(original) / sr)}
    return row


# -- report ----------------------------------------------------------------

def summarise(rows: list[dict], methods: list[str]) -> dict:
    """Means over recordings (lowest for the SNR) and ratios to plain resampling."""
    out = {}
    for name in methods:
        values = {key: [r[name][key] for r in rows] for key in rows[0][name]}
        out[name] = {key: float(np.mean(v)) for key, v in values.items()}
        out[name]["low_snr_db"] = float(np.min(values["low_snr_db"]))
    for name in methods:
        for key in ("lsd_full", "lsd_high"):
            out[name][key + "_vs_plain"] = out[name][key] / out["plain"][key]
            if "fold" in out:
                out[name][key + "_vs_fold"] = out[name][key] / out["fold"][key]
    out["files"] = len(rows)
    out["cutoff_hz_mean"] = float(np.mean([r["cutoff_hz"] for r in rows]))
    return out


def print_tables(summary: dict, methods: list[str]) -> None:
    for (rate, kind), s in summary.items():
        print(f"\n### {kind}, degraded to {rate / 1000:g} kHz ({s['files']} recordings, "
              f"detected cut-off {s['cutoff_hz_mean']:.0f} Hz on average)\n")
        print("| method | LSD full dB | vs plain | LSD high dB | vs plain | vs fold | low-band SNR dB (min) | RTF |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in methods:
            m = s[name]
            snr = "∞" if math.isinf(m["low_snr_db"]) else f"{m['low_snr_db']:.1f}"
            vs_fold = f"{m['lsd_high_vs_fold']:.2f}" if "lsd_high_vs_fold" in m else "–"
            print(f"| {name} | {m['lsd_full']:.2f} | {m['lsd_full_vs_plain']:.2f} | {m['lsd_high']:.2f} | "
                  f"{m['lsd_high_vs_plain']:.2f} | {vs_fold} | {snr} | {m['rtf']:.4f} |")


def _finite(value):
    """``value`` with infinite floats as None (JSON has no infinity)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and math.isinf(value) else value


def _neural_available() -> bool:
    from restora.errors import ModelError
    from restora.models.sr_extender import extender

    try:
        extender()
    except ModelError as exc:
        print(f"note: no neural column: {exc}")
        return False
    return True


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--files", type=int, default=24, help="at most this many recordings per kind")
    ap.add_argument("--seconds", type=float, default=10.0, help="cut each recording to this length")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from: " + ", ".join(METHODS))
    ap.add_argument("--json", type=Path, help="also write the summary and per-recording figures here")
    args = ap.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    if "plain" not in methods or any(m not in METHODS for m in methods):
        ap.error(f"--methods must include plain and name only {', '.join(METHODS)}")
    if "neural" in methods and not _neural_available():
        methods.remove("neural")
    recs = recordings(args.corpus, args.files, args.seconds)
    print(f"machine: {machine()}")
    summary, detail = {}, {}
    for kind, items in recs.items():
        for rate in LOW_RATES:
            rows = [dict(measure_one(audio, sr, rate, methods), name=name) for name, audio, sr in items]
            summary[(rate, kind)] = summarise(rows, methods)
            detail[f"{rate}/{kind}"] = rows
    print_tables(summary, methods)
    if args.json:
        payload = {"summary": {f"{rate}/{kind}": s for (rate, kind), s in summary.items()}, "recordings": detail}
        args.json.write_text(json.dumps(_finite(payload), indent=1))


if __name__ == "__main__":
    main()
