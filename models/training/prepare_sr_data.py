"""Build the super-resolution training set: full-band 48 kHz clips, 16-bit, from the corpus's train split.

Band-limited copies are made on the GPU (sr_pairs.py), so only the clean clips
travel. Storage is 16-bit PCM, not mu-law: mu-law's quantisation noise is
broadband (about 40 dB under the signal), which would fill the very band the
network learns to restore; 16-bit noise lies 90 dB down.

Sources (train split only; ``sr_val.npz`` takes the val split the same way):
speech (``speech_clean`` at >= 32 kHz whose ``hf_db_above_12k`` > -50 dB: real
content above 12 kHz, not a band-limited recording), music mixes, loops,
rendered stems and instrument samples, environmental noise, and corpus sfx
(all 32 kHz: they end at 16 kHz, which ``top_hz`` records) with the same
high-band rule; files below 32 kHz are left out. Each file gives its loudest
window (``SECONDS`` per kind), peak-normalised to 0.9, resampled to 48 kHz
with :func:`restora.dsp.resample.resample`.

The corpus holds only about 4.5 minutes of full-band music, so ``--sources
debian`` adds the pinned Debian game packages of :mod:`debian_sounds`
(fetched and checksummed there; licences in DEBIAN_SOUNDS.md): every track of
at least ``MUSIC_MIN_SECONDS`` at >= 32 kHz (game soundtracks in Ogg Vorbis,
several minutes each; ``MUSIC_SECONDS`` from each) and the Hydrogen drum-kit
samples, each kept only where its own bandwidth reaches ``DEBIAN_MIN_TOP_HZ``
(an Ogg encoded at low quality stops near 11-15 kHz; the cut-offs drawn for it
then stay below 92 % of that, as for every clip).

``--sources renders`` adds rendered music, which the issue names and which
sounds unlike recordings at the top (sample-based instruments often stop at
10-16 kHz): each train-split song of the corpus's ``music_stem_rendered``
stems summed into one mix (no high-band rule: ``top_hz`` records where it
stops), and the MIDI songs of the pinned freedink-data package rendered at
48 kHz with each soundfont of :data:`gm_render.FONTS` (fluidsynth;
``RENDER_SECONDS`` of each, loudest window).

Output ``sr.npz`` (or ``sr_shard<k>.npz`` with ``--shards``, clips dealt
round-robin so each shard mixes all kinds): ``audio`` int16 [samples] at 48 kHz,
``offsets`` / ``lengths`` [clips], ``top_hz`` float32 [clips] (the clip's
bandwidth, :func:`restora.dsp.bandwidth.estimate_bandwidth`; cut-offs are drawn
below it and losses stop at it), ``kind`` int8 [clips] (index into ``KINDS``),
``rate``. With ``--flac`` the samples are stored as ``audio_flac`` (uint8 [bytes]
of one mono 16-bit FLAC stream, lossless, about 60 % of the npz size) instead of
``audio``: more minutes fit in one upload to the GPU machine;
:func:`sr_pairs.load_audio` reads either.

Run: ``python -m restora.models.training.prepare_sr_data --corpus ../shared/corpus --out .train/sr --shards 16``
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from restora.dsp.bandwidth import estimate_bandwidth
from restora.models.store import sha256_of
from restora.models.training import debian_sounds, gm_render
from restora.dsp.resample import resample
from restora.models.training.prepare_lass_data import loudest

RATE = 48000
MIN_RATE = 32000
MIN_HF_DB = -50.0  # hf_db_above_12k of material with real content above 12 kHz (as benchmarks/upscale_quality.py)
KINDS = ("speech", "music", "instrument", "noise", "sfx")
SECONDS = {"speech_clean": ("speech", 3.0), "music_mix": ("music", 30.0), "music_loop": ("music", 10.0),
           "music_stem_rendered": ("music", 8.0), "instrument_sample": ("instrument", 3.0),
           "noise_env": ("noise", 4.0)}
SFX_SECONDS = 1.5
MUSIC_MIN_SECONDS, MUSIC_SECONDS = 30.0, 40.0
DRUM_SECONDS = 2.0
DEBIAN_MIN_TOP_HZ = 12000.0
SOURCES = ("corpus", "sfx", "debian", "renders")
RENDER_SECONDS = 40.0


class Clips:
    """Collects 16-bit 48 kHz clips with their bandwidth and kind."""

    def __init__(self) -> None:
        self.audio, self.top_hz, self.kind = [], [], []

    def add(self, x: np.ndarray, rate: int, kind: str, seconds: float, min_top_hz: float = 0.0) -> None:
        x = x.mean(axis=1) if x.ndim == 2 else x
        x = loudest(x.astype(np.float32), seconds, rate)  # before resampling: less to resample
        x = resample(x, rate, RATE) if rate != RATE else x
        peak = float(np.abs(x).max()) if len(x) else 0.0
        if len(x) < RATE // 4 or peak < 1e-3:
            return
        x = x * (0.9 / peak)
        top = estimate_bandwidth(x, RATE)
        if top is None or top < min_top_hz:
            return
        self.audio.append(np.round(x * 32767.0).astype(np.int16))
        self.top_hz.append(min(top, 0.95 * rate / 2))
        self.kind.append(KINDS.index(kind))

    def minutes(self, chosen=None) -> dict:
        chosen = range(len(self.audio)) if chosen is None else chosen
        out = dict.fromkeys(KINDS, 0.0)
        for i in chosen:
            out[KINDS[self.kind[i]]] += len(self.audio[i]) / RATE / 60
        return {k: round(v, 1) for k, v in out.items()}


def _wanted(rate: str, hf_db: str) -> bool:
    return int(rate) >= MIN_RATE and float(hf_db or -999) > MIN_HF_DB


def add_corpus(clips: Clips, corpus: Path, split: str) -> None:
    for r in csv.DictReader(open(corpus / "manifest.csv")):
        if r["split"] == split and r["kind"] in SECONDS and _wanted(r["sample_rate"], r["hf_db_above_12k"]):
            x, sr = sf.read(corpus / r["path"], dtype="float32")
            clips.add(x, sr, *SECONDS[r["kind"]])


def add_sfx(clips: Clips, corpus: Path, seconds: float) -> None:
    for r in csv.DictReader(open(corpus / "sfx" / "manifest.csv")):
        if _wanted(r["sample_rate"], r["hf_db_above_12k"]):
            x, sr = sf.read(corpus / "sfx" / r["path"], dtype="float32")
            clips.add(x, sr, "sfx", seconds)


def _debian_files(cache_dir: Path):
    """``(path, kind, seconds)`` of the Debian music tracks and drum samples, each distinct file once."""
    seen = set()
    for package, root in sorted(debian_sounds.fetch(cache_dir).items()):
        for path in sorted(Path(root).rglob("*")):
            if path.suffix.lower() not in debian_sounds.AUDIO_SUFFIXES or not path.is_file() or path.is_symlink():
                continue
            try:
                info = sf.info(str(path))
            except RuntimeError:
                continue
            drums = package == "hydrogen-drumkits" and info.duration >= 0.5
            if drums and not debian_sounds.concepts_for(package, path.relative_to(root).as_posix()):
                continue  # the extraction data's skips: kits the corpus already holds, electronic loops
            if info.samplerate < MIN_RATE or not (drums or info.duration >= MUSIC_MIN_SECONDS):
                continue
            digest = sha256_of(path)
            if digest not in seen:
                seen.add(digest)
                yield path, ("instrument", DRUM_SECONDS) if drums else ("music", MUSIC_SECONDS)


def add_debian(clips: Clips, cache_dir: Path) -> None:
    """Game soundtracks and drum-kit samples of the pinned Debian packages with content up to 12 kHz or more."""
    for path, (kind, seconds) in _debian_files(cache_dir):
        x, sr = sf.read(path, dtype="float32")
        clips.add(x, sr, kind, seconds, DEBIAN_MIN_TOP_HZ)


def add_stem_mixes(clips: Clips, corpus: Path, split: str) -> None:
    """Each song's rendered stems of ``split``, summed (mono) into one mix."""
    songs: dict[str, list[Path]] = {}
    for r in csv.DictReader(open(corpus / "manifest.csv")):
        if r["split"] == split and r["kind"] == "music_stem_rendered" and int(r["sample_rate"]) >= MIN_RATE:
            songs.setdefault(r["group"], []).append(corpus / r["path"])
    for _song, paths in sorted(songs.items()):
        parts = [sf.read(p, dtype="float32", always_2d=True) for p in paths]
        if len({sr for _, sr in parts}) != 1:
            continue
        length = min(len(x) for x, _ in parts)
        clips.add(sum(x[:length].mean(axis=1) for x, _ in parts), parts[0][1], "music", RENDER_SECONDS)


def add_midi_renders(clips: Clips, cache_dir: Path) -> None:
    """The freedink-data MIDI songs rendered at 48 kHz with every soundfont of gm_render.FONTS."""
    root = debian_sounds.fetch_package(next(p for p in debian_sounds.PACKAGES if p.name == "freedink-data"),
                                       cache_dir)
    fonts = gm_render.soundfont_paths(gm_render.FONTS, cache_dir)
    with tempfile.TemporaryDirectory() as tmp:
        for midi in sorted(Path(root).rglob("*.mid")):
            for name, font in fonts.items():
                wav = gm_render.render_file(midi, Path(tmp) / f"{midi.stem}_{name}.wav", RATE, font)
                x, sr = sf.read(wav, dtype="float32")
                clips.add(x, sr, "music", RENDER_SECONDS)


def _flac_bytes(audio: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    sf.write(buf, audio, RATE, format="FLAC", subtype="PCM_16")
    return np.frombuffer(buf.getvalue(), np.uint8)


def _arrays(clips: Clips, chosen) -> dict:
    chosen = list(chosen)
    lengths = np.array([len(clips.audio[i]) for i in chosen], np.int64)
    return dict(audio=np.concatenate([clips.audio[i] for i in chosen]),
                offsets=np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths=lengths,
                top_hz=np.array([clips.top_hz[i] for i in chosen], np.float32),
                kind=np.array([clips.kind[i] for i in chosen], np.int8), rate=RATE, kinds=json.dumps(KINDS))


def save(clips: Clips, path: Path, shards: int = 1, minutes: float | None = None, flac: bool = False) -> list[str]:
    """Write ``path`` (or ``<stem>_shard<k>.npz`` for ``shards`` > 1); one summary line per file.

    ``minutes``: keep every n-th clip so that about this much audio is written (a smaller held-out set).
    ``flac``: store the samples as ``audio_flac`` (module docstring).
    """
    total = sum(len(a) for a in clips.audio) / RATE / 60
    every = max(int(np.ceil(total / minutes)), 1) if minutes else 1
    groups = [range(0, len(clips.audio), every)] if shards == 1 else \
        [range(k, len(clips.audio), shards) for k in range(shards)]
    lines = []
    for k, chosen in enumerate(groups):
        out = path if shards == 1 else path.with_name(f"{path.stem}_shard{k}.npz")
        arrays = _arrays(clips, chosen)
        if flac:
            arrays["audio_flac"] = _flac_bytes(arrays.pop("audio"))
        np.savez_compressed(out, **arrays)
        lines.append(f"{len(chosen)} clips, minutes {clips.minutes(chosen)} -> {out} "
                     f"({out.stat().st_size / 2**20:.1f} MiB)")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    ap.add_argument("--out", type=Path, default=Path(".train/sr"))
    ap.add_argument("--sfx-seconds", type=float, default=SFX_SECONDS)
    ap.add_argument("--val-minutes", type=float, default=1.5, help="about this much of the val split is kept")
    ap.add_argument("--shards", type=int, default=1, help="deal the training clips into this many files")
    ap.add_argument("--sources", default=",".join(SOURCES), help=f"comma list of {', '.join(SOURCES)}")
    ap.add_argument("--debian-cache", type=Path, default=Path(".train/debian_sounds"),
                    help="where the pinned Debian packages are downloaded and unpacked")
    ap.add_argument("--flac", action="store_true", help="store samples as FLAC inside the npz (smaller uploads)")
    args = ap.parse_args(argv)
    sources = set(args.sources.split(","))
    if not sources <= set(SOURCES):
        ap.error(f"--sources takes {', '.join(SOURCES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    val = Clips()
    add_corpus(val, args.corpus, "val")
    print("val:", *save(val, args.out / "sr_val.npz", minutes=args.val_minutes, flac=args.flac), sep="\n  ")
    clips = Clips()
    if "corpus" in sources:
        add_corpus(clips, args.corpus, "train")
    if "sfx" in sources:
        add_sfx(clips, args.corpus, args.sfx_seconds)
    if "debian" in sources:
        add_debian(clips, args.debian_cache)
    if "renders" in sources:
        add_stem_mixes(clips, args.corpus, "train")
        add_midi_renders(clips, args.debian_cache)
    print("train minutes per kind:", clips.minutes())
    print("train:", *save(clips, args.out / "sr.npz", args.shards, flac=args.flac), sep="\n  ")


if __name__ == "__main__":
    main()
