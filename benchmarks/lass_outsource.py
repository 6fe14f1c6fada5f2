"""Out-of-source targets for the language-queried extraction benchmark.

    .venv/bin/python benchmarks/lass_outsource.py [--cache .train/outsource]

Recordings from Debian packages that neither the LASS training data nor the
corpus used (``benchmarks/extract_quality.py --targets outsource``): exactly
``PACKAGES`` (pinned versions, .deb sha256 checked). Each .deb is fetched with
``apt-get download PKG=VERSION`` into ``CACHE/debs`` and unpacked with
``dpkg-deb -x`` into ``CACHE/PKG/root``; sounds packed in archives (GCompris'
Qt ``.rcc`` resource files, OpenArena's ``.pk3`` zips) are unpacked into
``CACHE/PKG/unpacked/ARCHIVE/MEMBER``.

Selection is the hand-written ``TABLE`` (path pattern → concepts of the
model's concept table, most specific first; the first matching rule wins, a
rule with no concepts skips). Patterns are ``fnmatch`` patterns on the path
relative to ``CACHE/PKG``. A selected file is kept when soundfile reads it
(else PyAV converts it to a .wav beside it), it lasts ≥ 0.3 s and its peak is
above -40 dBFS. ``CACHE/manifest.csv`` lists path (relative to ``CACHE``),
package, version, licence (the last ``Files:`` stanza of the package's
debian/copyright matching the file's source path), concepts (``;``-joined)
and duration (s).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import struct
import subprocess
import sys
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".train" / "outsource"
AUDIO = (".ogg", ".wav", ".flac", ".mp3", ".opus")
MIN_SECONDS = 0.3
MIN_PEAK = 0.01     # -40 dBFS: quieter files are treated as near-silent
FIELDS = ("path", "package", "version", "licence", "concepts", "duration")


@dataclass(frozen=True)
class Package:
    """A pinned Debian package: ``version``, the .deb's ``sha256``, and how installed paths map to source paths."""

    name: str
    version: str
    sha256: str
    source_prefix: tuple[str, str] = ("", "")   # (installed / member prefix, source-tree prefix) for licences
    arch: str = "all"


PACKAGES = (
    Package("gcompris-qt-data", "3.1-2", "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f",
            ("gcompris/", "")),
    Package("lmms-common", "1.2.2+dfsg1-6", "7d9aa55dd05f11edc57104203ee1c350e3e41f8936ab3741da2bb1158fd46c37",
            ("usr/share/lmms/", "data/")),
    Package("minetest-data", "5.6.1+dfsg+~1.9.0mt8+dfsg-2",
            "91371dd2bd51cfcd4fa60c138667989a47047dfe1a47f7523b9ad1782d397585",
            ("usr/share/games/minetest/games/minetest_game/", "mtg/")),
    Package("openarena-data", "0.8.5split-14", "fa68862434f02a826b7ef22008f25f406623abf4e37113c1bfab5460065483c8"),
)

# package → (pattern relative to CACHE/PKG, concepts). First match wins; () = skip on purpose.
# Only what the file name / upstream description says the sound is; synthetic blips, UI sounds,
# voice prompts and sounds without a fitting concept are left out.
GC = "unpacked/*/gcompris/src/activities/"
LM = "root/usr/share/lmms/samples/"
MT = "root/usr/share/games/minetest/games/minetest_game/mods/"
OA = "unpacked/*/sound/"
TABLE: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    # GCompris: farm animals, orchestra instruments, the sound-memory game's field recordings
    "gcompris-qt-data": (
        (GC + "explore_farm_animals/*/cow.ogg", ("cow mooing",)),
        (GC + "explore_farm_animals/*/dog.ogg", ("dog barking", "dog")),
        (GC + "explore_farm_animals/*/duck.ogg", ("duck quacking",)),
        (GC + "explore_farm_animals/*/horse.ogg", ("horse neighing", "horse")),
        (GC + "explore_farm_animals/*/owl.ogg", ("owl hooting", "owl")),
        (GC + "explore_farm_animals/*/pig.ogg", ("pig grunting", "pig")),
        (GC + "explore_farm_animals/*/sheep.ogg", ("sheep bleating", "sheep")),
        (GC + "explore_farm_animals/*/chickens.ogg", ("chickens clucking", "hen")),
        (GC + "instruments/*/accordion.ogg", ("accordion",)),
        (GC + "instruments/*/banjo.ogg", ("banjo",)),
        (GC + "instruments/*/cello.ogg", ("cello",)),
        (GC + "instruments/*/clarinet.ogg", ("clarinet",)),
        (GC + "instruments/*/cymbal.ogg", ("crash cymbal", "cymbal")),
        (GC + "instruments/*/drum_kit.ogg", ("drum kit", "drums")),
        (GC + "instruments/*/electric_guitar.ogg", ("electric guitar",)),
        (GC + "instruments/*/flute_traversiere.ogg", ("flute",)),
        (GC + "instruments/*/guitar.ogg", ("nylon-string acoustic guitar", "guitar")),
        (GC + "instruments/*/harmonica.ogg", ("harmonica",)),
        (GC + "instruments/*/harp.ogg", ("orchestral harp",)),
        (GC + "instruments/*/horn.ogg", ("french horn",)),
        (GC + "instruments/*/maracas.ogg", ("maracas",)),
        (GC + "instruments/*/organ.ogg", ("organ", "church organ")),
        (GC + "instruments/*/piano.ogg", ("piano", "acoustic grand piano")),
        (GC + "instruments/*/saxophone.ogg", ("alto sax", "tenor sax")),
        (GC + "instruments/*/snare_drum.ogg", ("snare drum", "acoustic snare drum")),
        (GC + "instruments/*/tambourine.ogg", ("tambourine",)),
        (GC + "instruments/*/timpani.ogg", ("timpani",)),
        (GC + "instruments/*/triangle.ogg", ("open triangle",)),
        (GC + "instruments/*/trombone.ogg", ("trombone",)),
        (GC + "instruments/*/trumpet.ogg", ("trumpet",)),
        (GC + "instruments/*/tuba.ogg", ("tuba",)),
        (GC + "instruments/*/violin.ogg", ("violin",)),
        (GC + "melody/*/xylofon_son*.wav", ("xylophone",)),
        (GC + "memory-sound/*/LRBark_*", ("dog barking", "dog")),
        (GC + "memory-sound/*/LRApplauses_*", ("audience applauding", "applause")),
        (GC + "memory-sound/*/LRDoor_Open_*", ("door opening",)),
        (GC + "memory-sound/*/LRFactory_noise_*", ("factory machinery",)),
        (GC + "memory-sound/*/LRFrogsInPond*", ("frogs croaking",)),
        (GC + "memory-sound/*/LRRain_in_garden_*", ("rain falling",)),
        (GC + "memory-sound/*/LRTrain_slowing_down_*", ("train passing by",)),
        (GC + "memory-sound/*/guitar_*", ("guitar",)),
        (GC + "canal_lock/*/water_fill.wav", ("water flowing",)),
        (GC + "guessnumber/*/helicopter.wav", ("helicopter flying", "helicopter")),
        (GC + "mining/*/pickaxe.wav", ("pickaxe striking rock",)),
        (GC + "watercycle/*/harbor*.wav", ("harbour ambience",)),
    ),
    # LMMS: drum-machine and acoustic one-shots, instrument samples, drum loops, synth basses
    "lmms-common": (
        (LM + "drums/bassdrum_acoustic*", ("acoustic bass drum", "bass drum")),
        (LM + "drums/bassdrum*", ("bass drum",)),
        (LM + "drums/kick*", ("bass drum",)),
        (LM + "drums/snare_acoustic*", ("acoustic snare drum", "snare drum")),
        (LM + "drums/snare_electro*", ("electric snare drum", "snare drum")),
        (LM + "drums/snare_rim*", ()),
        (LM + "drums/snare*", ("snare drum",)),
        (LM + "drums/hihat_closed*", ("closed hi-hat", "hi-hat")),
        (LM + "drums/hihat_opened*", ("open hi-hat", "hi-hat")),
        (LM + "drums/hihat_foot_pedal*", ("pedal hi-hat", "hi-hat")),
        (LM + "drums/crash*", ("crash cymbal", "cymbal")),
        (LM + "drums/ride*", ("ride cymbal", "cymbal")),
        (LM + "drums/tom_hi*", ("high tom", "tom")),
        (LM + "drums/tom_low*", ("low tom", "tom")),
        (LM + "drums/tom*", ("tom",)),
        (LM + "drums/clap*", ("hand clap",)),
        (LM + "drums/sidestick*", ("side stick",)),
        (LM + "drums/clav*", ("claves",)),
        (LM + "drums/wood*", ("woodblock",)),
        (LM + "beats/rave_kick*", ("bass drum",)),
        (LM + "beats/rave_hihat*", ("hi-hat",)),
        (LM + "beats/rave_snare*", ("snare drum",)),
        (LM + "beats/*", ("drum kit", "drums")),
        (LM + "instruments/church_organ*", ("church organ", "organ")),
        (LM + "instruments/e_organ*", ("organ",)),
        (LM + "instruments/cello*", ("cello",)),
        (LM + "instruments/bassslap*", ("slap bass", "bass")),
        (LM + "instruments/steel_guitar_heavy_distorted*", ("distortion guitar", "electric guitar")),
        (LM + "instruments/steel_guitar_*distorted*", ("overdriven guitar", "electric guitar")),
        (LM + "instruments/steel_guitar*", ("steel-string acoustic guitar", "guitar")),
        (LM + "instruments/trumpet*", ("trumpet",)),
        (LM + "instruments/flute*", ("flute",)),
        (LM + "instruments/violin_pizzicato*", ("pizzicato strings", "violin")),
        (LM + "instruments/violin*", ("violin",)),
        (LM + "instruments/piano*", ("piano", "acoustic grand piano")),
        (LM + "instruments/e_piano*", ("electric piano",)),
        (LM + "instruments/harpsichord*", ("harpsichord",)),
        (LM + "basses/*", ("synth bass", "bass")),
        (LM + "latin/latin_brass*", ("brass section", "brass")),
        (LM + "misc/applause*", ("applause", "audience applauding")),
        (LM + "misc/raving_crowd*", ("crowd cheering", "crowd")),
        (LM + "misc/breath*", ("breath noise",)),
        (LM + "effects/explode*", ("explosion",)),
    ),
    # Minetest: fire, water, lava, explosions, footsteps, digging, doors
    "minetest-data": (
        (MT + "fire/sounds/fire_extinguish_flame*", ("fire being extinguished",)),
        (MT + "fire/sounds/fire_flint_and_steel*", ()),
        (MT + "fire/sounds/fire_*", ("fire crackling", "fire")),
        (MT + "env_sounds/sounds/env_sounds_water*", ("water flowing", "water")),
        (MT + "env_sounds/sounds/env_sounds_lava*", ("bubbling lava rumble",)),
        (MT + "tnt/sounds/tnt_explode*", ("explosion",)),
        (MT + "tnt/sounds/tnt_gunpowder_burning*", ("fuse burning",)),
        (MT + "default/sounds/default_wood_footstep*", ("single footstep on wood", "footsteps")),
        (MT + "default/sounds/default_gravel_footstep*", ("single footstep on gravel", "footsteps")),
        (MT + "default/sounds/default_grass_footstep*", ("single footstep on grass", "footsteps")),
        (MT + "default/sounds/default_snow_footstep*", ("footstep in snow", "footsteps")),
        (MT + "default/sounds/default_break_glass*", ("glass shattering",)),
        (MT + "default/sounds/default_chest_open*", ("wooden chest opening",)),
        (MT + "default/sounds/default_dig_cracky*", ("pickaxe striking rock",)),
        (MT + "default/sounds/default_furnace_active*", ("furnace roaring",)),
        (MT + "default/sounds/default_cool_lava*", ("steam hissing",)),
        (MT + "doors/sounds/doors_door_open*", ("door opening",)),
    ),
    # OpenArena: weapons, explosions, ambiences, pain sounds, human voice commands (rott)
    "openarena-data": (
        (OA + "weapons/machinegun/machgf*", ("machine gun firing",)),
        (OA + "weapons/machinegun/ric*", ("bullet ricochet",)),
        (OA + "weapons/shotgun/sshotf*", ("shotgun firing",)),
        (OA + "weapons/rocket/rocklf*", ("rocket launcher firing",)),
        (OA + "weapons/rocket/rocklx*", ("explosion",)),
        (OA + "weapons/grenade/grenlf*", ("grenade launcher firing",)),
        (OA + "weapons/proxmine/wstbexpl*", ("explosion",)),
        (OA + "weapons/plasma/hyprbf*", ("plasma gun firing",)),
        (OA + "weapons/railgun/railgf*", ("railgun firing",)),
        (OA + "weapons/vulcan/vulcanf*", ("minigun firing", "gatling gun firing")),
        (OA + "items/kam_explode*", ("large explosion", "explosion")),
        (OA + "items/tele*", ("futuristic teleport",)),
        (OA + "world/fire*", ("fire crackling", "fire")),
        (OA + "world/waterfall*", ("waterfall",)),
        (OA + "world/wind*", ("wind blowing",)),
        (OA + "world/drops*", ("water dripping in a cave",)),
        (OA + "world/fan*", ("electric fan running",)),
        (OA + "world/machinerydrone*", ("industrial machine running",)),
        (OA + "world/growl*", ("monster growling",)),
        (OA + "world/neonhum*", ("electrical hum",)),
        (OA + "world/lava_amb*", ("bubbling lava rumble",)),
        (OA + "player/watr_in*", ("splash into water",)),
        (OA + "player/sarge/death*", ("man screaming as he dies",)),
        (OA + "player/sarge/pain*", ("man grunting in pain",)),
        (OA + "voices/rott/*", ("speech", "human voice")),
    ),
}


# -- fetching and unpacking ------------------------------------------------------
def fetch(pkg: Package, cache: Path) -> Path:
    """The verified .deb of ``pkg`` in ``cache/debs`` (downloaded with apt-get if missing)."""
    from restora.models.training.debian_sounds import download_deb

    try:
        return download_deb(pkg, cache / "debs")
    except ValueError as exc:  # a changed or damaged .deb: say so, no traceback
        raise SystemExit(str(exc)) from None


def rcc_members(blob: bytes) -> dict[str, bytes]:
    """Files of a Qt binary resource (.rcc): member path → bytes (zlib members inflated, zstd ones left out).

    Layout: "qres", version, then offsets of the tree, the data and the names (big-endian u32); tree
    nodes are 14 bytes (22 from version 2: + last-modified) — name offset u32, flags u16, then for a
    directory (flag 2) child count and first child index, else locale u32 and data offset u32.
    """
    version, tree, data, names = struct.unpack(">4I", blob[4:20])
    node_size = 14 if version < 2 else 22

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset:names + offset + 2])
        return blob[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    out: dict[str, bytes] = {}
    stack = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[at:at + 6])
        path = prefix + name(name_offset) if index else ""
        if flags & 2:
            count, first = struct.unpack(">II", blob[at + 6:at + 14])
            stack += [(child, path + "/" if path else "") for child in range(first, first + count)]
            continue
        (offset,) = struct.unpack(">I", blob[at + 10:at + 14])
        (size,) = struct.unpack(">I", blob[data + offset:data + offset + 4])
        payload = blob[data + offset + 4:data + offset + 4 + size]
        if flags & 1:                    # zlib, preceded by the inflated size
            out[path] = zlib.decompress(payload[4:])
        elif not flags & 4:              # 4 = zstd: no decoder needed for the files we use
            out[path] = payload
    return out


def archive_members(path: Path) -> dict[str, bytes]:
    """Audio members of an .rcc or .pk3 (zip) archive: member path → bytes."""
    if path.suffix == ".rcc":
        members = rcc_members(path.read_bytes())
    else:
        with zipfile.ZipFile(path) as z:
            members = {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
    return {k: v for k, v in members.items() if k.lower().endswith(AUDIO)}


def unpack(pkg: Package, deb: Path, cache: Path) -> Path:
    """``cache/PKG`` with the .deb in ``root/`` and its .rcc / .pk3 audio in ``unpacked/ARCHIVE/``."""
    base = cache / pkg.name
    done = base / ".unpacked"
    if done.exists():
        return base
    (base / "root").mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(base / "root")], check=True)
    for archive in sorted([*base.rglob("*.rcc"), *base.rglob("*.pk3")]):
        for member, data in archive_members(archive).items():
            target = base / "unpacked" / archive.stem / member
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    done.touch()
    return base


# -- licences --------------------------------------------------------------------
def copyright_stanzas(text: str) -> list[tuple[list[str], str]]:
    """(Files patterns, License short name) of each ``Files:`` stanza of a DEP-5 debian/copyright."""
    out = []
    for para in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key:
                if key != "License":     # a License field's further lines are its text, not its name
                    fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            out.append((fields["Files"].split(), fields["License"]))
    return out


def licence(stanzas: list[tuple[list[str], str]], source_path: str) -> str:
    """The licence of ``source_path``: the last stanza whose pattern matches (DEP-5: later stanzas win)."""
    found = ""
    for patterns, name in stanzas:
        if any(fnmatch.fnmatchcase(source_path, p) for p in patterns):
            found = name
    return found


def source_path(pkg: Package, rel: str) -> str:
    """The upstream source path of a file at ``rel`` (relative to ``CACHE/PKG``), for debian/copyright."""
    parts = rel.split("/")
    inner = "/".join(parts[1:] if parts[0] == "root" else parts[2:])   # drop "root/" or "unpacked/ARCHIVE/"
    old, new = pkg.source_prefix
    return new + inner[len(old):] if old and inner.startswith(old) else inner


# -- selection -------------------------------------------------------------------
def concepts_for(package: str, rel: str) -> tuple[str, ...]:
    """The concepts ``TABLE`` gives the file at ``rel`` of ``package`` (() = not selected)."""
    for pattern, concepts in TABLE.get(package, ()):
        if fnmatch.fnmatchcase(rel, pattern):
            return concepts
    return ()


def readable(path: Path) -> Path | None:
    """``path`` if soundfile reads it, else a PyAV-converted .wav beside it (None: neither works)."""
    try:
        sf.info(path)
        return path
    except RuntimeError:
        pass
    wav = path.with_suffix(path.suffix + ".wav")
    if not wav.exists():
        try:
            import av
            with av.open(str(path)) as container:
                frames = [f.to_ndarray() for f in container.decode(audio=0)]
                rate = container.streams.audio[0].rate
            x = np.concatenate([f if f.ndim == 2 else f[None] for f in frames], axis=1).astype(np.float32)
            sf.write(wav, x.mean(axis=0), rate)
        except Exception:       # noqa: BLE001 - any decoder failure means "skip this file"
            return None
    return wav


def audible(path: Path) -> float:
    """Duration (s) of the audio at ``path`` if it lasts ≥ ``MIN_SECONDS`` with a peak ≥ ``MIN_PEAK``, else 0."""
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    seconds = len(x) / rate
    return seconds if seconds >= MIN_SECONDS and float(np.max(np.abs(x), initial=0.0)) >= MIN_PEAK else 0.0


def select(pkg: Package, base: Path, cache: Path, known: set[str]) -> tuple[list[dict], int]:
    """Manifest rows for ``pkg``'s files the table selects; also the count of selected-but-rejected files."""
    stanzas = copyright_stanzas((base / "root/usr/share/doc" / pkg.name / "copyright").read_text())
    rows, rejected = [], 0
    for path in sorted(p for p in base.rglob("*") if p.suffix.lower() in AUDIO and p.is_file()):
        rel = path.relative_to(base).as_posix()
        concepts = concepts_for(pkg.name, rel)
        unknown = set(concepts) - known
        if unknown:
            raise SystemExit(f"{rel}: {sorted(unknown)} not in the model's concept table")
        if not concepts:
            continue
        usable = readable(path)
        seconds = audible(usable) if usable else 0.0
        if not seconds:
            rejected += 1
            continue
        rows.append({"path": usable.relative_to(cache).as_posix(), "package": pkg.name, "version": pkg.version,
                     "licence": licence(stanzas, source_path(pkg, rel)), "concepts": ";".join(concepts),
                     "duration": f"{seconds:.3f}"})
    return rows, rejected


def known_concepts() -> set[str]:
    """Names in the model's concept table (models/weights/lass_concepts.npz)."""
    with np.load(ROOT / "models" / "weights" / "lass_concepts.npz", allow_pickle=True) as table:
        return {str(n) for n in table["names"]}


def build(cache: Path = CACHE) -> Path:
    """Fetch, verify, unpack and select every package; write and return ``cache/manifest.csv``."""
    known = known_concepts()
    rows = []
    for pkg in PACKAGES:
        base = unpack(pkg, fetch(pkg, cache), cache)
        got, rejected = select(pkg, base, cache, known)
        print(f"{pkg.name} {pkg.version}: {len(got)} recordings ({rejected} selected but too short / silent "
              f"/ unreadable)", flush=True)
        rows += got
    manifest = cache / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(summary(rows))
    return manifest


def summary(rows: list[dict]) -> str:
    """Counts per query concept (the first) and per package licence, total duration."""
    by_concept = Counter(r["concepts"].split(";")[0] for r in rows)
    by_licence = Counter(f"{r['package']}: {r['licence']}" for r in rows)
    minutes = sum(float(r["duration"]) for r in rows) / 60
    return "\n".join([f"{len(rows)} recordings, {len(by_concept)} concepts, {minutes:.1f} min",
                      ", ".join(f"{c} {n}" for c, n in sorted(by_concept.items())),
                      "; ".join(f"{k} {n}" for k, n in sorted(by_licence.items()))])


def main() -> int:
    """Build the out-of-source target set and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    build(parser.parse_args().cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
