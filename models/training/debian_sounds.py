"""Labelled, mostly real-recorded sounds from pinned Debian data packages (more *sources* for LASS training).

The extraction model generalises badly to recording chains it never saw, so
this adds sound effects, ambiences, foley and drum samples from Debian
packages that the corpus does not use. Every package is pinned by version and
by the sha256 of its .deb; ``fetch`` downloads them with ``apt-get download``
and unpacks them with ``dpkg-deb -x``. ``labelled_files`` walks the unpacked
trees and labels files only through the hand-written ``RULES`` table (path
pattern -> concepts); a file that no rule names is not used, so music, speech
prompts and UI blips stay out by default.

Never used here (see DEBIAN_SOUNDS.md): every source of the corpus manifests,
fluid-soundfont-gm, and the held-out test-set packages in ``EXCLUDED``.
Licences and attribution: ``models/training/DEBIAN_SOUNDS.md``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from restora.models.store import sha256_of

AUDIO_SUFFIXES = (".wav", ".ogg", ".flac", ".aiff")
MIN_SECONDS = 0.3  # shorter files are clicks and blips, not sounds a user would ask for


@dataclass(frozen=True)
class Package:
    """One pinned .deb: ``archives`` are zip files inside it (Quake-style .pk3) whose sound/ members we unpack."""

    name: str
    version: str
    arch: str
    sha256: str
    licence: str
    archives: tuple[str, ...] = ()


PACKAGES = (
    Package("hydrogen-drumkits", "2017.09.19~dfsg-1", "all",
            "6ea3c6df9a67762e2362f946c695e619859126b19fbccf32a2e8f07dfd03b2f4",
            "per kit: GPL-2 / GPL-2+ / CC-BY-SA-3.0 / CC-BY-SA-3.0-us"),
    Package("nexuiz-data", "2.5.2-12", "all",
            "5d4a4e293d9382be3b8edf6ec2d9f39d2a16f49467618b2316fbfa400acecf0e", "GPL-2+",
            ("usr/share/games/nexuiz/data/data.pk3",)),
    Package("ardentryst", "1.71-9", "all",
            "7a01180285a4acaa980b18118127c60ac0377f4e2bcd69244b1feb7de5fc566f", "CC-BY-SA-3.0 (Sounds/)"),
    Package("btanks-data", "0.9.8083-9", "all",
            "fbe1a476d95c68fe73d87715f4f0aecc1bc5428a979cd19451722665c9dbb5ae", "GPL-2 with the Battle Tanks exception"),
    Package("warmux-data", "1:11.04.1+repack2-4", "all",
            "cceec72afcc9d5b0515149eb505bf0d883bd47399e602b30a805cafa2d91eb70", "GPL-2+"),
    Package("simutrans-pak64", "121.0-1", "all",
            "46c8420e162941e6d87382b43c508b1dbf48015fcd782f0c4425952ba72745cc", "Artistic-1.0"),
    Package("7kaa-data", "2.15.5+dfsg-1", "all",
            "a30127479ec1ac172c94718de93470789d14efd3ca14ca3e832ea72a8a909725", "GPL-2+"),
    Package("freedink-data", "1.08.20190120-2", "all",
            "5c3f0c22958364460057d9df5318a9a2a0fb84b9174cab57a9d50ad03a73d66c",
            "zlib-style (Dink Smallwood data) + GPL-3+/CC-BY-3.0/CC0 replacements"),
    Package("foobillardplus-data", "3.43~svn170+dfsg-7", "all",
            "48adfd599afdbcbc008fffdf982c5bb18ac62286dc012ac88e9b8abc556a28f4", "GPL-2"),
    Package("tuxfootball", "0.3.1-7", "amd64",
            "bf633b85135bc39d56282cb6be25787fbdeebf22062351508dfdafc5e3c1a083", "GPL-2+"),
    Package("extremetuxracer-data", "0.8.2-1", "all",
            "8ce6c82e6fb89549d284f43f6c4b0a9d82e6c0e5da753bee0ef419276a21470c", "GPL-2+"),
    Package("caveexpress-data", "2.5.2-1", "all",
            "b12d0d164ec53c37d37eb9755ac09635bc489ff000351fedeaa75e98cae82390", "CC-BY-SA-4.0 (*.ogg)"),
    Package("sound-icons", "0.1-8", "all",
            "cbb7defa9cab0c86c9151e72c6c8a99a0ed21d244bc4c7cffdde7a0e4d9fa5b3", "GPL-2+"),
    Package("trackballs-data", "1.3.4-1", "all",
            "ebc05f997c12896d8a0016990efbf01445b65b66f1eb45759a6277426cc13dac", "GPL-2+"),
    Package("sdl-ball-data", "1.02-2", "all",
            "6763e988833c1b3434ed78e8d74e76299395649f28ecc1710a41bb087f1e9ec2", "GPL-3 / GPL-3+"),
    Package("enigma-data", "1.20-dfsg.1-2.2", "all",
            "e4cb966d16047353cdbe188e50e4e91edc20d7b3473ea0320d24689078ceed27", "GPL-2+"),
)

# Reserved for the out-of-source test set, or already in the corpus: must never be fetched here.
EXCLUDED = frozenset({"gcompris-qt-data", "lmms-common", "minetest-data", "openarena-data", "fluid-soundfont-gm",
                      "hydrogen-data", "sonic-pi-samples", "tuxpaint-stamps-default", "ktuberling-data",
                      "klettres-data", "wesnoth-1.16-data", "wesnoth-1.16-music", "freedoom", "guitarix-common",
                      "jconvolver-config-files", "openttd-openmsx", "openttd-opensfx", "0ad-data", "cube2-data",
                      "endless-sky-data", "flightgear-data-base", "freeciv-data", "freecol", "freedroidrpg-data",
                      "frozen-bubble-data", "hedgewars-data", "lincity-ng-data", "megaglest-data", "pingus-data",
                      "redeclipse-data", "scorched3d-data", "supertux-data", "supertuxkart-data", "torcs-data",
                      "unknown-horizons", "warzone2100-data", "widelands-data"})

# Broad categories, named as in lass_captions.SFX_CATEGORIES so the two sources share them.
ANIMAL, VEHICLE, MACHINE, WATER, STEPS, FIRE = "animal", "vehicle", "machine", "water", "footsteps", "fire"
WEATHER, AMBIENCE, INSTRUMENT, CROWD = "weather", "ambience", "musical instrument", "crowd"
IMPACT, WEAPON, VOICE = "impact", "weapon", "human voice"
DRUMS, PERC, CYMBAL, HIHAT = "drums", "percussion", "cymbal", "hi-hat"
SKIP = ()  # a rule with no concepts drops the files it matches

# package -> ((regex searched in the lower-case path relative to the unpacked package, concepts), ...).
# The first matching rule wins, so skips and specific rules come before general ones.
RULES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "hydrogen-drumkits": (
        # Electronic kits and pre-made loops are not real-recorded single hits.
        (r"drumkits/(audiophob|electricempirekit|hardelectro1|varibreaks|rumpf_kit)", SKIP),
        # The Black Pearl holds the very recordings of hydrogen-data's GMRockKit, which the corpus already
        # uses (found by comparing the audio), and Gimme A Hand's hand clap is that kit's clap.
        (r"drumkits/the black pearl", SKIP),
        (r"gimme a hand 1\.0/handclap", SKIP),
        (r"-(soft|softest|med)\.wav$", SKIP),  # quieter velocity layers of the same hit
        (r"forzeestereo/.*-[123]\.wav$", SKIP),  # likewise: keep the softest and loudest layer
        (r"/bl_\d", SKIP),  # BJA_Pacific 'BL': undocumented piece
        (r"waterglass", ("water glass", PERC)),
        (r"djembe", ("djembe", PERC)),
        (r"(dununba|kenkeni|sangban)\d* bell", ("bell", PERC)),
        (r"(dununba|kenkeni|sangban)\d* head", ("dunun drum", PERC)),
        (r"bongohi", ("high bongo", PERC)),
        (r"bongolo", ("low bongo", PERC)),
        (r"cajon", ("cajon", PERC)),
        (r"clave", ("claves", PERC)),
        (r"maraca", ("maracas", PERC)),
        (r"tambourine", ("tambourine", PERC)),
        (r"woodblock", ("woodblock", PERC)),
        (r"fingersnap", ("finger snapping",)),
        (r"(cowbell|/cb\d?_|/mc_cb)", ("cowbell", PERC)),
        (r"agogohigh", ("high agogo", PERC)),
        (r"agogolow", ("low agogo", PERC)),
        (r"clap", ("hand clap",)),
        (r"china", ("chinese cymbal", CYMBAL, DRUMS)),
        (r"splash", ("splash cymbal", CYMBAL, DRUMS)),
        (r"(ride.?bell|ride.?cup|paistebell)", ("ride bell", DRUMS)),
        (r"(crash|/cc_|/cra_)", ("crash cymbal", CYMBAL, DRUMS)),
        (r"(ride|/rc_|/rd\d?_)", ("ride cymbal", CYMBAL, DRUMS)),
        (r"(hatopen|hihat-open|hhopen|/ho_|openhat|semi-?open)", ("open hi-hat", HIHAT, DRUMS)),
        (r"(hatpedal|hihatfoot|pedalhihat|hhpedal|/hh_p)", ("pedal hi-hat", HIHAT, DRUMS)),
        (r"(hat|/hh)", ("closed hi-hat", HIHAT, DRUMS)),
        (r"(sidestick|/stick|rimclick|/rim_|/rs_)", ("side stick", DRUMS)),
        (r"(snare|/sd_|/sr_|/sn\d?_)", ("snare drum", DRUMS)),
        (r"(tom|/ft_|/t[12]_|/tm\d?_)", ("tom", DRUMS)),
        (r"(kick|bassdrum|/bd)", ("bass drum", DRUMS)),
    ),
    "nexuiz-data": (
        (r"sound/misc/metalfootstep", ("footsteps walking on metal", STEPS)),
        (r"sound/misc/footstep", ("footsteps", STEPS)),
        (r"sound/misc/gib_splat", ("squelch",)),
        # The same recording as openarena-data's world/machinerydrone01 (test set): found by comparing audio.
        (r"sound/ambient/machinerydrone", SKIP),
        (r"sound/ambient/machine\d", ("industrial machine running", MACHINE)),
        (r"sound/ambient/fan", ("electric fan running", MACHINE)),
        (r"sound/ambient/sparks", ("electric sparks crackling",)),
        (r"sound/ambient/transformer", ("electrical hum",)),
        (r"sound/ambient/water", ("water flowing", WATER)),
        (r"sound/weather/rain", ("rain falling", WEATHER)),
        (r"desertfactory/cricket", ("crickets chirping", ANIMAL)),
        (r"desertfactory/steam", ("steam hissing",)),
        (r"desertfactory/wind", ("wind blowing", WEATHER)),
        (r"desertfactory/pipewater", ("water flowing", WATER)),
        (r"desertfactory/generator", ("generator running", MACHINE)),
        (r"desertfactory/radiostatic", ("radio static",)),
        (r"desertfactory/machinevat", ("liquid bubbling in a vat",)),
        (r"player/(fricka|pyria-skadi)/player/(pain|death)", ("woman groaning in pain", VOICE)),
        (r"player/(marine|soldier|specop|insurrectionist)/player/(pain|death)", ("man grunting in pain", VOICE)),
        (r"weapons/shotgun_fire", ("shotgun firing", WEAPON)),
        (r"weapons/uzi_fire", ("submachine gun firing", WEAPON)),
        (r"weapons/campingrifle_fire", ("rifle shot", WEAPON)),
        (r"weapons/ric\d", ("bullet ricochet", WEAPON)),
        (r"weapons/rocket_fire", ("rocket launcher firing", WEAPON)),
        (r"weapons/(rocket_impact|grenade_impact)", ("explosion",)),
    ),
    "ardentryst": (
        (r"_step_dirt", ("footsteps walking on dirt", STEPS)),
        (r"_step_grass", ("footsteps walking on grass", STEPS)),
        (r"_step_snow", ("footsteps walking on snow", STEPS)),
        (r"_step_concrete", ("footsteps walking on concrete", STEPS)),
        (r"sounds/(nyx|pyr)/\w+_pain", ("grunt", VOICE)),
        (r"sounds/rain_loop", ("rain falling", WEATHER)),
        (r"sounds/cavewind", ("wind blowing", WEATHER)),
        (r"sounds/fire_loop", SKIP),  # the same recording as minetest-data's fire_small (test set)
        (r"sounds/flame_whoosh", ("torch whoosh", FIRE)),
        (r"sounds/woodhit", ("wood impact", IMPACT)),
        (r"sounds/stone\.", ("stone impact", IMPACT)),
        (r"sounds/quake", ("earthquake rumble",)),
        (r"sounds/drink", ("drinking",)),
        (r"sounds/weaponswing", ("swoosh",)),
        (r"sounds/(hit|hitslice|cut\d?)\.", ("sword strike", WEAPON)),
    ),
    "btanks-data": (
        (r"sounds/cow\.", ("cow mooing", ANIMAL)),
        (r"sounds/helicopter", ("helicopter flying", VEHICLE)),
        (r"sounds/train", ("train passing by", VEHICLE)),
        (r"sounds/engine-start", ("engine starting", VEHICLE)),
        (r"sounds/tank-move", ("tank tracks rolling", VEHICLE)),
        (r"sounds/(old-)?nuke-explosion", ("large explosion", "explosion")),
        (r"sounds/(building-|vehicle-)?explosion", ("explosion",)),
        (r"sounds/fire\.", ("fire burning", FIRE)),
        (r"sounds/man-steps", ("footsteps", STEPS)),
        (r"sounds/laugh", ("man laughing", VOICE)),
        (r"sounds/cannon\d", ("cannon firing", WEAPON)),
        (r"sounds/shot\.", ("gunshot", WEAPON)),
        (r"ambient/city", ("city street ambience", AMBIENCE)),
        (r"ambient/country", ("countryside ambience", AMBIENCE)),
        (r"ambient/forest", ("forest ambience with birds", AMBIENCE)),
        (r"ambient/swamp", ("swamp ambience", AMBIENCE)),
    ),
    "warmux-data": (
        (r"weapons/(explosion\d|dynamite_exp)", ("explosion",)),
        (r"weapons/dynamite_fuze", ("fuse burning",)),
        (r"weapons/shotgun", ("shotgun firing", WEAPON)),
        (r"weapons/m16\.", ("rifle shot", WEAPON)),
        (r"weapons/gun\.", ("pistol shot", WEAPON)),
        (r"weapons/ricoche", ("bullet ricochet", WEAPON)),
        (r"weapons/aircraft_flying", ("propeller plane flying", VEHICLE)),
        (r"weapons/airhammer_used", ("jackhammer", MACHINE)),
        (r"weapons/anvil_collision", ("metal clang", IMPACT)),
        (r"weapons/blowtorch", ("blowtorch hissing",)),
        (r"weapons/baseball", ("baseball bat hit", IMPACT)),
        (r"weapons/slap", ("slap",)),
        (r"voices/(death|injured_)", ("cartoon voice groaning in pain", VOICE)),
    ),
    "simutrans-pak64": (
        (r"sound/water\.", ("water lapping", WATER)),
        (r"sound/seagulls", ("seagull crying", ANIMAL)),
        (r"sound/horse", ("horse", ANIMAL)),
        (r"sound/boat-horn", ("ship horn", VEHICLE)),
        (r"sound/bus\.", ("bus engine", VEHICLE)),
        (r"sound/truck", ("truck engine running", VEHICLE)),
        (r"sound/steam\.", ("steam locomotive running", VEHICLE)),
        (r"sound/diesel", ("diesel locomotive", VEHICLE)),
        (r"sound/planelow", ("propeller plane flying", VEHICLE)),
        (r"sound/comet-jet", ("jet airliner flying overhead", VEHICLE)),
        (r"sound/crossing", ("railway crossing bell ringing",)),
        (r"sound/buzzsaw", ("circular saw cutting wood", MACHINE)),
        (r"sound/jackhammer", ("jackhammer", MACHINE)),
        (r"sound/forest", ("forest ambience with birds", AMBIENCE)),
        (r"sound/tropic", ("jungle ambience", AMBIENCE)),
        (r"sound/gavel", ("gavel banging",)),
        (r"sound/cash", ("cash register",)),
        (r"sound/explosion", ("explosion",)),
    ),
    "7kaa-data": (
        (r"sound/fire\.", ("fire crackling", FIRE)),
        (r"sound/quake\.", ("earthquake rumble",)),
        (r"sound/rain\.", ("rain falling", WEATHER)),
        (r"sound/thunder\.", ("thunder rumbling", WEATHER)),
        (r"sound/wind\.", ("wind blowing", WEATHER)),
    ),
    "freedink-data": (
        (r"sound/bird1", ("bird chirping", ANIMAL)),
        (r"sound/fire\.", ("fire crackling", FIRE)),
        (r"sound/burn\.", ("fire burning", FIRE)),
        (r"sound/grunt\d", ("grunt", VOICE)),
        (r"sound/punch", ("punch", IMPACT)),
        (r"sound/sword2", ("sword strike", WEAPON)),
        (r"sound/bow1", ("bow and arrow", WEAPON)),
        (r"sound/stairs", ("footsteps walking on stairs", STEPS)),
        (r"sound/wscream", ("woman screaming", VOICE)),
    ),
    "foobillardplus-data": (
        (r"data/applause", ("applause", CROWD)),
        (r"data/ooh\.", ("crowd oohing", CROWD)),
        (r"data/(ballinhole|oneballontable|shuffleballs|balloutoftable)", ("billiard balls",)),
    ),
    "tuxfootball": (
        (r"sound/crowdboo", ("crowd booing", CROWD)),
        (r"sound/crowdcheer", ("crowd cheering", CROWD)),
        (r"sound/crowdooh", ("crowd oohing", CROWD)),
        (r"sound/refwhistle", ("referee whistle", "whistle")),
        (r"sound/kick\.", ("ball being kicked", IMPACT)),
        (r"sound/bounce\.", ("ball bouncing", IMPACT)),
    ),
    "extremetuxracer-data": (
        (r"sounds/grass_slide", ("sliding on grass",)),
        (r"sounds/ice_slide", ("sliding on ice",)),
        (r"sounds/leaves_slide", ("sliding through leaves",)),
        (r"sounds/mud_slide", ("sliding through mud",)),
        (r"sounds/rock_slide", ("sliding on rock",)),
        (r"sounds/snow_slide", ("sliding on snow",)),
        (r"sounds/tree_hit", ("hitting a tree", IMPACT)),
    ),
    "caveexpress-data": (
        (r"sounds/crate-hit", ("wooden crate hit", IMPACT)),
        (r"sounds/water-impact", ("splash into water", WATER)),
        (r"sounds/water-leave", ("climbing out of water", WATER)),
        (r"sounds/tile-waterfall", ("waterfall", WATER)),
        (r"sounds/tile-geyser", ("geyser erupting", WATER)),
        (r"sounds/npc-cave-swimming", ("swimming", WATER)),
        (r"sounds/npc-cave-walk", ("footsteps", STEPS)),
    ),
    "sound-icons": (
        (r"/cembalo-", ("harpsichord", INSTRUMENT)),
        (r"/klavichord-", ("clavichord", INSTRUMENT)),
        (r"/electric-piano-", ("electric piano", INSTRUMENT)),
        (r"/piano-", ("piano", INSTRUMENT)),
        (r"/guitar-", ("guitar", INSTRUMENT)),
        (r"/trumpet-", ("trumpet", INSTRUMENT)),
        (r"/violoncello-", ("cello", INSTRUMENT)),
        (r"/xylofon", ("xylophone", INSTRUMENT)),
        (r"/glass-water", ("water glass",)),
        (r"/canary", ("canary singing", ANIMAL)),
    ),
    "trackballs-data": (
        (r"sfx/capuch", ("monkeys screeching", ANIMAL)),
        (r"sfx/(crazy|evil)laugh", ("man laughing", VOICE)),
        (r"sfx/machine_loop", ("industrial machine running", MACHINE)),
    ),
    "sdl-ball-data": (
        (r"snd/glass-brick-break", ("glass shattering",)),
    ),
    "enigma-data": (
        (r"enigma/shatter", ("glass shattering",)),
        (r"enigma/dropinwater", ("splash into water", WATER)),
        (r"enigma/explosion[12]", ("explosion",)),
        (r"enigma/quake", ("earthquake rumble",)),
    ),
}


def _deb_name(pkg: Package) -> str:
    # apt-get download writes the epoch's ':' as '%3a'
    return f"{pkg.name}_{pkg.version.replace(':', '%3a')}_{pkg.arch}.deb"


def download_deb(pkg, debs: Path) -> Path:
    """The pinned .deb in ``debs`` (downloaded if missing), checked against its sha256.

    ``pkg`` needs ``name``, ``version``, ``arch`` and ``sha256``; the out-of-source
    benchmark set (benchmarks/lass_outsource.py) fetches its packages with this too.
    """
    deb = debs / _deb_name(pkg)
    if not deb.exists():
        debs.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=debs, check=True)
    got = sha256_of(deb)
    if got != pkg.sha256:
        raise ValueError(f"{deb}: sha256 {got} is not the pinned {pkg.sha256}; the archive changed or the "
                         f"download is damaged. Delete the file to fetch it again, or re-pin {pkg.name} "
                         f"in its PACKAGES table after checking what changed.")
    return deb


def _unpack_archive(archive: Path, dest: Path) -> None:
    """Sound files of a zip/pk3 into ``dest`` (only ``sound/`` members: the rest is maps and textures)."""
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            if member.lower().startswith("sound/") and member.lower().endswith(AUDIO_SUFFIXES):
                z.extract(member, dest)


def fetch_package(pkg: Package, cache_dir: Path) -> Path:
    """Download, verify and unpack one pinned package into ``cache_dir/NAME``; the unpacked directory.

    An unpacked tree is reused when its ``.done`` marker names the pinned sha256,
    so a second run costs nothing. Also used by gm_render for its soundfont packages.
    """
    if pkg.name in EXCLUDED:
        raise ValueError(f"{pkg.name} is excluded from training data")
    cache_dir = Path(cache_dir)
    target = cache_dir / pkg.name
    marker = target / ".done"
    if not (marker.exists() and marker.read_text().strip() == pkg.sha256):
        deb = download_deb(pkg, cache_dir / "debs")
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        for archive in pkg.archives:
            _unpack_archive(target / archive, target / (archive + ".d"))
            (target / archive).unlink()  # the unpacked sounds are all we use
        marker.write_text(pkg.sha256 + "\n")
    return target


def fetch(cache_dir: Path) -> dict[str, Path]:
    """Download, verify and unpack every package of ``PACKAGES`` under ``cache_dir``; ``{package: unpacked dir}``."""
    return {pkg.name: fetch_package(pkg, cache_dir) for pkg in PACKAGES}


def concepts_for(package: str, relpath: str) -> tuple[str, ...]:
    """Concepts of the first rule of ``package`` matching ``relpath`` (lower-cased); () when none or a skip."""
    key = relpath.lower()
    for pattern, concepts in RULES.get(package, ()):
        if re.search(pattern, key):
            return concepts
    return ()


def _long_enough(path: Path) -> bool:
    try:
        return sf.info(str(path)).duration >= MIN_SECONDS
    except RuntimeError:  # a format libsndfile cannot read: not usable anyway
        return False


def labelled_files(extracted: dict[str, Path]) -> list[tuple[Path, list[str], str]]:
    """``(path, concepts, package)`` for every file a rule labels, at least MIN_SECONDS long.

    Byte-identical copies (the same sound shipped twice, e.g. under two names or
    two themes) are kept once, so no clip weighs double.
    """
    out, seen = [], set()
    for package, root in sorted(extracted.items()):
        for path in sorted(Path(root).rglob("*")):
            if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file() or path.is_symlink():
                continue
            concepts = concepts_for(package, path.relative_to(root).as_posix())
            if not concepts or not _long_enough(path):
                continue
            digest = sha256_of(path)
            if digest in seen:
                continue
            seen.add(digest)
            out.append((path, list(concepts), package))
    return out


def main() -> None:
    """Fetch and label everything; print the counts per package and per concept."""
    import argparse
    from collections import Counter

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--cache", type=Path, default=Path(".train/debian_sounds"))
    args = ap.parse_args()
    files = labelled_files(fetch(args.cache))
    seconds = sum(min(sf.info(str(p)).duration, 2.0) for p, _, _ in files)
    print(f"{len(files)} files, {seconds / 60:.1f} min at up to 2 s each")
    for name, n in sorted(Counter(pkg for _, _, pkg in files).items()):
        print(f"  {name}: {n}")
    for concept, n in sorted(Counter(c for _, cs, _ in files for c in cs).items()):
        print(f"  {n:4d} {concept}")


if __name__ == "__main__":
    main()
