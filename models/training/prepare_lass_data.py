"""Build the training set for language-queried extraction: labelled 16 kHz clips + caption embeddings.

Audio is stored as 8-bit mu-law (one byte per sample) so that the code plus
data stays under the training machine's 60 MiB; mixtures are built on the GPU.
Each clip carries one or more concepts (e.g. "violin" and "strings"); each
concept has captions from training templates, embedded here with our numpy
MiniLM (restora.models.text_encoder), so the training machine needs no text
model.

Sources: ../shared/corpus/sfx (label + category), corpus noise_env,
instrument samples, rendered stems and speech (train split), General MIDI
renders of all 128 programs and 47 percussion pieces (fluidsynth with the
FluidR3 GM, TimGM6mb and MuseScore General Lite soundfonts, ``--gm-fonts``;
the first, FluidR3 by default, gets ``--gm-renders`` renders per sound, the others one), and
labelled sounds from further pinned Debian packages (debian_sounds.py,
DEBIAN_SOUNDS.md; ``--no-debian`` leaves them and the two Debian soundfonts out).

Output ``lass.npz``: ``audio`` uint8 [samples] (mu-law, μ=255), ``offsets`` /
``lengths`` [clips], ``clip_concept`` [pairs, 2] (clip, concept),
``source`` [clips] (0 sfx, 1 corpus, 2 GM render, 3 Debian packages), ``concepts`` (JSON list),
``caption_emb`` int8 [captions, 384] with ``caption_scale`` float32 [captions, 1]
(``lass_captions.pack_embeddings``), ``caption_concept`` [captions],
``captions`` (JSON list). Also ``lass_val.npz`` (the corpus's val split, held-out
caption templates) and ``rirs.npz`` (``rir`` [n, 16000] float16, train split).

Run: ``python -m restora.models.training.prepare_lass_data --corpus ../shared/corpus --out .train/lass``
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from restora.dsp.resample import resample
from restora.models.training import debian_sounds, gm_names, gm_render, lass_captions

RATE = 16000
MU = 255.0


def mu_law(x: np.ndarray) -> np.ndarray:
    """float [-1, 1] → uint8 mu-law codes."""
    y = np.sign(x) * np.log1p(MU * np.minimum(np.abs(x), 1.0)) / np.log1p(MU)
    return np.round((y + 1.0) * 127.5).astype(np.uint8)


def loudest(x: np.ndarray, seconds: float, rate: int = RATE) -> np.ndarray:
    """The ``seconds``-long window of ``x`` [frames] at ``rate`` Hz with the most energy (hops of 0.1 s)."""
    n = int(seconds * rate)
    if len(x) <= n:
        return x
    hop = rate // 10
    power = np.convolve(x ** 2, np.ones(hop), "valid")[::hop]
    width = n // hop
    energy = np.convolve(power, np.ones(width), "valid")
    start = int(np.argmax(energy)) * hop
    return x[start:start + n]


class Clips:
    def __init__(self) -> None:
        self.audio, self.concepts, self.source = [], [], []
        self.names: dict[str, int] = {}

    def add(self, x: np.ndarray, rate: int, concepts: list[str], source: int, seconds: float) -> None:
        x = x.mean(axis=1) if x.ndim == 2 else x
        x = resample(x.astype(np.float32), rate, RATE) if rate != RATE else x.astype(np.float32)
        x = loudest(x, seconds)
        peak = np.abs(x).max() if len(x) else 0.0
        if len(x) < RATE // 2 or peak < 1e-3:
            return
        self.audio.append(mu_law(x * (0.9 / peak)))
        self.concepts.append([self.names.setdefault(c, len(self.names)) for c in dict.fromkeys(concepts) if c])
        self.source.append(source)


def clean(label: str) -> str:
    return re.sub(r"\s*\(.*?\)", "", label.split(";")[0]).strip().lower()


INSTRUMENT_RULES = (("ride", "ride cymbal"), ("crash", "crash cymbal"), ("hatopen", "open hi-hat"),
                    ("hatclosed", "closed hi-hat"), ("hatpedal", "pedal hi-hat"), ("hat", "hi-hat"),
                    ("kick", "bass drum"), ("snare", "snare drum"), ("tom", "tom"), ("cowbell", "cowbell"),
                    ("clap", "hand clap"), ("bell", "ride bell"), ("splash", "splash cymbal"),
                    ("cymbal", "cymbal"), ("tabla", "tabla"), ("guit", "electric guitar"), ("bass", "synth bass"))


def instrument_concepts(label: str) -> list[str]:
    key = label.lower().replace(" ", "").replace("drumkit;", "")
    for word, concept in INSTRUMENT_RULES:
        if word in key:
            drums = [] if concept in ("electric guitar", "synth bass") else ["drums"]
            return [concept] + drums
    return []


STEM_CONCEPTS = {"drums": ["drums"], "bass": ["bass"], "piano": ["piano"], "soprano": ["singing voice", "choir"],
                 "alto": ["singing voice", "choir"], "tenor": ["singing voice", "choir"],
                 "bass_voice": ["singing voice", "choir"]}


def add_corpus(clips: Clips, corpus: Path, split: str = "train") -> None:
    speech_seen = 0
    for r in csv.DictReader(open(corpus / "manifest.csv")):
        if r["split"] != split:
            continue
        kind = r["kind"]
        if kind == "noise_env":
            concepts, seconds = [clean(r["label"])], 3.0
        elif kind == "instrument_sample":
            concepts, seconds = instrument_concepts(r["label"]), 2.0
        elif kind == "music_stem_rendered":
            concepts, seconds = STEM_CONCEPTS.get(r["label"].split(";")[0], []), 4.0
        elif kind == "speech_clean":
            speech_seen += 1
            if split == "train" and (speech_seen - 1) % 4:  # a quarter of the clips: speech is plentiful
                continue
            concepts, seconds = ["speech", "human voice"], 2.0
        else:
            continue
        if concepts:
            x, sr = sf.read(corpus / r["path"], dtype="float32")
            clips.add(x, sr, concepts, 1, seconds)


def add_sfx(clips: Clips, corpus: Path, seconds: float) -> None:
    for r in csv.DictReader(open(corpus / "sfx" / "manifest.csv")):
        x, sr = sf.read(corpus / "sfx" / r["path"], dtype="float32")
        clips.add(x, sr, [clean(r["label"]), lass_captions.SFX_CATEGORIES.get(r["category"], "")], 0, seconds)


def add_debian(clips: Clips, cache_dir: Path, seconds: float) -> None:
    """Labelled sounds of the pinned Debian packages (fetched into ``cache_dir`` on first use), source 3."""
    for path, concepts, _package in debian_sounds.labelled_files(debian_sounds.fetch(cache_dir)):
        x, sr = sf.read(path, dtype="float32")
        clips.add(x, sr, concepts, 3, seconds)


def add_gm(clips: Clips, renders: int, seconds: float, fonts: dict[str, Path] | None = None,
           extra_renders: int = 1) -> None:
    """General MIDI renders (source 2): every program, every percussion piece and whole kits, once per soundfont.

    ``fonts`` is ``{name: soundfont file}`` (gm_render.soundfont_paths), the
    first font getting ``renders`` renders per sound and the others
    ``extra_renders`` (to bound the data size; the point of the others is a
    different sample set, not more phrases). Default: FluidR3 alone.
    """
    fonts = fonts or {"fluidr3": gm_render.SOUNDFONT}
    for i, soundfont in enumerate(fonts.values()):
        # Seeds are offset per font, so no two fonts play the same phrase (font 0 keeps the old seeds).
        _add_gm_font(clips, renders if i == 0 else extra_renders, seconds, soundfont, 100000 * i)


def _add_gm_font(clips: Clips, renders: int, seconds: float, soundfont: Path, seed0: int) -> None:
    """``renders`` phrases per program, per percussion piece and 4x that many drum-kit grooves, with one soundfont."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "r.wav"

        def take(concepts: list[str], keep: float, program: int, length: float, seed: int, **kw) -> None:
            gm_render.render(program, length, seed0 + seed, wav, RATE, soundfont=soundfont, **kw)
            x, sr = sf.read(wav, dtype="float32")
            clips.add(x, sr, concepts, 2, keep)

        for program in range(128):
            for k in range(renders):
                take(list(gm_names.program_concepts(program)), seconds, program, seconds + 1.0, 7000 + 10 * program + k)
        for note, name in gm_names.PERCUSSION.items():
            for k in range(renders):
                take([name, "drums", "percussion"], 2.0, gm_render.DRUMS, 2.5, 9000 + 10 * note + k, drum_note=note)
        for k in range(renders * 4):
            take(["drums", "drum kit", "percussion"], seconds, gm_render.DRUMS, seconds + 1.0, 9900 + k)


def gm_fonts(names: str, fetch: bool, cache_dir: Path) -> dict[str, Path]:
    """The soundfonts named in ``names`` (comma list of gm_render.FONTS); without ``fetch`` only FluidR3."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not fetch and any(n != "fluidr3" for n in wanted):
        print("--no-debian: GM renders use FluidR3 alone")
        wanted = ["fluidr3"]
    return gm_render.soundfont_paths(wanted, cache_dir if fetch else None)


def caption_table(concepts: list[str], templates=lass_captions.TRAIN_TEMPLATES) -> tuple[list[str], np.ndarray]:
    caps, owner = [], []
    for i, c in enumerate(concepts):
        for text in lass_captions.captions(c, templates):
            caps.append(text)
            owner.append(i)
    return caps, np.asarray(owner, np.int32)


def save_rirs(corpus: Path, path: Path, seconds: float = 1.0) -> str:
    """Room impulse responses of the train split at 16 kHz, from their direct peak, ``seconds`` long: ``rir`` [n, L]."""
    rows = [r for r in csv.DictReader(open(corpus / "manifest.csv")) if r["kind"] in ("rir", "brir")
            and r["split"] == "train"]
    out = np.zeros((len(rows), int(seconds * RATE)), np.float32)
    for i, r in enumerate(rows):
        x, sr = sf.read(corpus / r["path"], dtype="float32", always_2d=True)
        x = resample(x[:, 0], sr, RATE) if sr != RATE else x[:, 0]
        x = x[int(np.argmax(np.abs(x))):][:out.shape[1]]
        out[i, :len(x)] = x / np.abs(x).max()
    np.savez_compressed(path, rir=out.astype(np.float16))
    return f"{len(rows)} room responses -> {path}"


def save(clips: Clips, path: Path, templates, encoder, shards: int = 1) -> str:
    """Write the set (layout in the module docstring); returns a one-line summary.

    With ``shards`` > 1 the clips are dealt round-robin into ``<stem>_shard<k>.npz``
    (audio and clip tables; every shard holds every concept it can) and the
    concepts and captions go to ``<stem>_captions.npz``, so one training run can
    take one shard plus a resume checkpoint within the machine's 60 MiB.
    """
    concepts = list(clips.names)
    caps, owner = caption_table(concepts, templates)
    text = dict(concepts=json.dumps(concepts), **lass_captions.pack_embeddings(encoder.embed(caps)),
                caption_concept=owner, captions=json.dumps(caps))
    if shards == 1:
        np.savez_compressed(path, **_audio_arrays(clips, range(len(clips.audio))), **text)
        return _summary(clips, range(len(clips.audio)), path, len(caps))
    np.savez_compressed(path.with_name(path.stem + "_captions.npz"), **text)
    lines = []
    for k in range(shards):
        shard = path.with_name(f"{path.stem}_shard{k}.npz")
        np.savez_compressed(shard, **_audio_arrays(clips, range(k, len(clips.audio), shards)))
        lines.append(_summary(clips, range(k, len(clips.audio), shards), shard, len(caps)))
    return "; ".join(lines)


def _audio_arrays(clips: Clips, chosen) -> dict:
    chosen = list(chosen)
    lengths = np.array([len(clips.audio[i]) for i in chosen], np.int64)
    pairs = np.array([(j, c) for j, i in enumerate(chosen) for c in clips.concepts[i]], np.int32)
    return dict(audio=np.concatenate([clips.audio[i] for i in chosen]),
                offsets=np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths=lengths, clip_concept=pairs,
                source=np.array([clips.source[i] for i in chosen], np.int8), rate=RATE)


def _summary(clips: Clips, chosen, path: Path, captions: int) -> str:
    seconds = sum(len(clips.audio[i]) for i in chosen) / RATE
    return (f"{len(list(chosen))} clips, {seconds / 60:.1f} min, {len(clips.names)} concepts, "
            f"{captions} captions -> {path} ({path.stat().st_size / 2**20:.1f} MiB)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    ap.add_argument("--out", type=Path, default=Path(".train/lass"))
    ap.add_argument("--sfx-seconds", type=float, default=2.0)
    ap.add_argument("--gm-renders", type=int, default=2)
    ap.add_argument("--gm-seconds", type=float, default=3.0)
    ap.add_argument("--only-rirs", action="store_true", help="write rirs.npz alone")
    ap.add_argument("--shards", type=int, default=1, help="deal the training clips into this many files")
    ap.add_argument("--debian-cache", type=Path, default=Path(".train/debian_sounds"),
                    help="where the Debian sound packages are downloaded and unpacked")
    ap.add_argument("--no-debian", action="store_true",
                    help="fetch no Debian packages: no Debian package sounds, GM renders with FluidR3 alone")
    ap.add_argument("--gm-fonts", default=",".join(gm_render.FONTS),
                    help=f"soundfonts for the GM renders (comma list of {', '.join(gm_render.FONTS)}); the first "
                         "gets --gm-renders renders per sound, the others one")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(save_rirs(args.corpus, args.out / "rirs.npz"))
    if args.only_rirs:
        return
    from restora.models.text_encoder import TextEncoder

    encoder = TextEncoder()
    val = Clips()  # held-out recordings (corpus val split) with held-out caption templates
    add_corpus(val, args.corpus, "val")
    print("val:", save(val, args.out / "lass_val.npz", lass_captions.EVAL_TEMPLATES, encoder))
    clips = Clips()
    add_sfx(clips, args.corpus, args.sfx_seconds)
    add_corpus(clips, args.corpus)
    if not args.no_debian:
        add_debian(clips, args.debian_cache, args.sfx_seconds)
    add_gm(clips, args.gm_renders, args.gm_seconds, gm_fonts(args.gm_fonts, not args.no_debian, args.debian_cache))
    print("train:", save(clips, args.out / "lass.npz", lass_captions.TRAIN_TEMPLATES, encoder, args.shards))


if __name__ == "__main__":
    main()
