"""Build the EQ predictor's training features: long-term spectra of many recordings on a log grid.

The EQ predictor only ever sees long-term spectra, and an LTI EQ adds its
response (dB) to a long-term spectrum, so training pairs are synthesised from
these spectra on the GPU; no audio travels to the training machine.

Sources (see models/cards/eq-predictor.md): ../shared/corpus speech, music
stems (random submixes mixed in the time domain here), music mixes, loops,
instrument samples, environmental noise and sound effects, plus General MIDI
renders (every program, drums; solo and ensembles) made with fluidsynth.

Output ``features.npz``: ``grid`` [G] Hz, ``power`` [items, G] mean density
(full-scale²/Hz) in a 1/6-octave window per grid point, ``top_hz`` [items]
(highest valid frequency, 0.45 × rate), ``kind`` [items] (0 speech, 1 music,
2 other), ``group`` [items] (recording group; cross pairs avoid their own),
``split`` [items] (0 train, 1 val).

Run: ``python -m restora.models.training.prepare_eq_data --corpus ../shared/corpus --out .train/eq``
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from restora.dsp import eq_match as em
from restora.dsp.resample import resample
from restora.errors import UsageError
from restora.models.eq_predictor import GRID_HZ, SMOOTHING

KINDS = {"speech_clean": 0, "music_stem_rendered": 1, "music_stem": 1, "music_mix": 1, "music_partial_mix": 1,
         "music_loop": 1, "instrument_sample": 1, "noise_env": 2, "sfx": 2}
SPLITS = {"train": 0, "val": 1}


class Items:
    """Collects one feature row per analysed excerpt."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = defaultdict(list)
        self.groups: dict[str, int] = {}

    def add(self, audio: np.ndarray, sr: int, kind: int, group: str, split: int) -> None:
        try:
            spec = em.spectrum_of_array(audio, sr)
        except UsageError:  # too short or silent: nothing to learn from
            return
        self.rows["power"].append(10.0 ** (em.smoothed_db(spec, GRID_HZ, SMOOTHING) / 10.0))
        self.rows["top_hz"].append(em.analysis_top_hz(sr))
        self.rows["kind"].append(kind)
        self.rows["group"].append(self.groups.setdefault(group, len(self.groups)))
        self.rows["split"].append(split)

    def add_windows(self, audio, sr, kind, group, split, rng, count, min_s=2.0, max_s=15.0) -> None:
        """The whole excerpt and ``count`` random windows of it (long-term spectra vary with length)."""
        self.add(audio, sr, kind, group, split)
        for _ in range(count):
            n = int(rng.uniform(min_s, max_s) * sr)
            if n < len(audio):
                start = int(rng.integers(0, len(audio) - n))
                self.add(audio[start:start + n], sr, kind, group, split)

    def save(self, path: Path, sources: dict) -> None:
        arrays = {k: np.asarray(v, np.float32 if k in ("power", "top_hz") else np.int32) for k, v in self.rows.items()}
        np.savez_compressed(path, grid=GRID_HZ.astype(np.float32), sources=json.dumps(sources), **arrays)


def _mono(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x.mean(axis=1)


def _read(path: Path, sr: int = 44100) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32", always_2d=False)
    return resample(_mono(x), rate, sr) if rate != sr else _mono(x)


def add_corpus(items: Items, corpus: Path, rng) -> dict:
    """Speech per speaker (concatenated), stem submixes per song, and every other file with windows."""
    rows = list(csv.DictReader(open(corpus / "manifest.csv")))
    by_group = defaultdict(list)
    for r in rows:
        if r["kind"] in KINDS and r["split"] in SPLITS:
            by_group[(r["kind"], r["split"], r["group"])].append(r)
    for (kind, split, group), members in sorted(by_group.items()):
        k, s = KINDS[kind], SPLITS[split]
        if kind == "speech_clean":
            audio = np.concatenate([_read(corpus / r["path"]) for r in members])
            items.add_windows(audio, 44100, k, group, s, rng, count=min(40, int(len(audio) / 44100 / 3)))
            for r in members[:60]:
                items.add(_read(corpus / r["path"]), 44100, k, group, s)
        elif kind.startswith("music_stem"):
            for song, stems in _by_song(members).items():
                _add_submixes(items, [_read(corpus / r["path"]) for r in stems], k, song, s, rng, count=24)
        else:
            for r in members:
                x = _read(corpus / r["path"])
                items.add_windows(x, 44100, k, f"{group}/{r['path']}", s, rng, count=3)
    return {"corpus": str(corpus), "corpus_files": sum(len(m) for m in by_group.values())}


def _by_song(rows) -> dict:
    songs = defaultdict(list)
    for r in rows:
        songs[r["pair_id"] or r["group"]].append(r)
    return songs


def _add_submixes(items, stems, kind, group, split, rng, count) -> None:
    """Random subsets of a song's stems at random gains (±6 dB), summed in the time domain."""
    n = min(len(s) for s in stems)
    for _ in range(count):
        pick = rng.choice(len(stems), size=int(rng.integers(1, len(stems) + 1)), replace=False)
        mix = sum(stems[i][:n] * 10.0 ** (rng.uniform(-6, 6) / 20.0) for i in pick)
        length = int(rng.uniform(3.0, n / 44100) * 44100) if n > 3 * 44100 else n
        start = int(rng.integers(0, n - length + 1))
        items.add(mix[start:start + length], 44100, kind, group, split)


def add_sfx(items: Items, corpus: Path) -> dict:
    rows = list(csv.DictReader(open(corpus / "sfx" / "manifest.csv")))
    for r in rows:
        x, sr = sf.read(corpus / "sfx" / r["path"], dtype="float32")
        items.add(_mono(x), sr, KINDS["sfx"], "sfx/" + r["category"] + "/" + r["path"], 0)
    return {"sfx_files": len(rows)}


def add_gm_renders(items: Items, rng, renders_per_program: int = 4, ensembles: int = 800) -> dict:
    """Every GM program (and drums) rendered solo, then random 2-5 part ensembles; all training split."""
    from restora.models.training import gm_render

    if not gm_render.available():
        raise SystemExit("fluidsynth and fluid-soundfont-gm are needed: apt-get install fluidsynth fluid-soundfont-gm")
    programs = list(range(128)) + [gm_render.DRUMS] * 8
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, program in enumerate(programs):
            for j in range(renders_per_program):
                wav = gm_render.render(program, float(rng.uniform(6, 12)), 1000 * i + j, Path(tmp) / "r.wav")
                x = _read(wav)
                parts.append(x)
                items.add_windows(x, 44100, 1, f"gm/{program}", 0, rng, count=1)
    for e in range(ensembles):
        pick = rng.choice(len(parts), size=int(rng.integers(2, 6)), replace=False)
        n = min(len(parts[i]) for i in pick)
        mix = sum(parts[i][:n] * 10.0 ** (rng.uniform(-9, 3) / 20.0) for i in pick)
        items.add(mix, 44100, 1, f"gm-ensemble/{e}", 0)
    return {"gm_programs": 128, "gm_drum_renders": 8 * renders_per_program, "gm_ensembles": ensembles,
            "soundfont": str(gm_render.SOUNDFONT)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    ap.add_argument("--out", type=Path, default=Path(".train/eq"))
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    items = Items()
    sources = add_corpus(items, args.corpus, rng)
    sources.update(add_sfx(items, args.corpus))
    sources.update(add_gm_renders(items, rng))
    args.out.mkdir(parents=True, exist_ok=True)
    items.save(args.out / "features.npz", sources)
    kinds = np.bincount(np.asarray(items.rows["kind"]), minlength=3)
    print(f"{len(items.rows['kind'])} items (speech {kinds[0]}, music {kinds[1]}, other {kinds[2]}) "
          f"-> {args.out / 'features.npz'}")


if __name__ == "__main__":
    main()
