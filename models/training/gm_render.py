"""Render short random pieces for any General MIDI program with fluidsynth and one of several GM soundfonts.

Reproducible: the notes come from a seeded generator; fluidsynth renders the
MIDI file offline (``fluidsynth -ni -F``). Needs ``apt-get install fluidsynth
fluid-soundfont-gm`` and the ``mido`` package (the ``[train]`` extra).

Soundfonts (``FONTS``; more than one so the extraction model hears each
instrument from more than one sample set):

- ``fluidr3``: FluidR3_GM.sf2 of fluid-soundfont-gm (MIT), the installed
  system file ``SOUNDFONT``; ``render(soundfont=None)`` uses it.
- ``timgm6mb``: TimGM6mb.sf2 of timgm6mb-soundfont 1.3-5 (GPL-2, Tim
  Brechbill), a small 6 MB GM set with its own samples.
- ``musescore``: MuseScore_General_Lite.sf3 of
  musescore-general-soundfont-small 0.2.1-1 (MIT, parts CC0/public domain,
  S. Christian Collins): Ogg-compressed SoundFont 3, which fluidsynth 2.x
  renders. It builds on Michael Cowgill's mono edit of Fluid R3: about 25
  of the 128 melodic presets have other samples (the AKAI "Splendid Grand"
  piano, S. Christian Collins's own), the rest are re-edited mono Fluid
  samples, so this font is only partly a new source.

The two Debian fonts are pinned by version and .deb sha256 and fetched with
``debian_sounds.fetch_package`` (``soundfont_paths``). Details and licences:
``DEBIAN_SOUNDS.md``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from restora.models.training.debian_sounds import Package, fetch_package

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
FONTS = ("fluidr3", "timgm6mb", "musescore")  # fluidr3 first: the default, and the one already installed
# name -> (pinned Debian package, soundfont file inside it)
FONT_PACKAGES = {
    "timgm6mb": (Package("timgm6mb-soundfont", "1.3-5", "all",
                         "034abdfb296d9353433513dad5dbdcab46425ee6008fc02fe7039b46e75edc54", "GPL-2"),
                 "usr/share/sounds/sf2/TimGM6mb.sf2"),
    "musescore": (Package("musescore-general-soundfont-small", "0.2.1-1", "all",
                          "65f9c1cb658c49e8713d2c95238d5d26868f520341f74a4fe26248a8f763c739",
                          "MIT (parts CC0 / public domain)"),
                  "usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
}
DRUMS = -1  # pseudo program: the GM percussion channel
# Comfortable MIDI note ranges per GM family (programs 8 at a time).
FAMILY_RANGES = {0: (36, 96), 1: (60, 96), 2: (36, 84), 3: (40, 84), 4: (28, 52), 5: (36, 96), 6: (48, 84),
                 7: (36, 84), 8: (48, 84), 9: (55, 96), 10: (36, 84), 11: (48, 84), 12: (36, 84), 13: (36, 84),
                 14: (36, 84), 15: (36, 84)}
POLYPHONIC = {0, 2, 3, 5, 6, 11}  # pianos, organs, guitars, strings, ensembles, synth pads: chords
SCALE = np.array([0, 2, 4, 5, 7, 9, 11])


def available() -> bool:
    """True when fluidsynth and the GM soundfont are installed."""
    return shutil.which("fluidsynth") is not None and SOUNDFONT.exists()


def soundfont_paths(names: tuple[str, ...] | list[str] = FONTS, cache_dir: Path | None = None) -> dict[str, Path]:
    """``{name: soundfont file}`` for ``names`` (of ``FONTS``), in that order.

    ``fluidr3`` is the system file; the others are Debian packages fetched,
    verified and unpacked under ``cache_dir`` on first use. With ``cache_dir``
    None nothing is fetched, so only ``fluidr3`` can be asked for.
    """
    out = {}
    for name in names:
        if name == "fluidr3":
            out[name] = SOUNDFONT
        elif name not in FONT_PACKAGES:
            raise ValueError(f"unknown soundfont {name!r}; known: {', '.join(FONTS)}")
        elif cache_dir is None:
            raise ValueError(f"soundfont {name!r} needs a Debian package, and fetching is off")
        else:
            pkg, member = FONT_PACKAGES[name]
            out[name] = fetch_package(pkg, cache_dir) / member
    return out


def _notes(program: int, seconds: float, rng: np.random.Generator,
           drum_note: int | None = None) -> list[tuple[float, float, int, int]]:
    """``(start_s, length_s, midi_note, velocity)`` events of a random diatonic phrase (or one drum piece)."""
    if drum_note is not None:
        lo, hi, chords = drum_note, drum_note, False
    elif program == DRUMS:
        lo, hi, chords = 35, 81, False
    else:
        lo, hi = FAMILY_RANGES[program // 8]
        chords = program // 8 in POLYPHONIC
    key, beat = int(rng.integers(0, 12)), 60.0 / rng.uniform(70, 160)
    pitches = [p for p in range(lo, hi + 1) if (p - key) % 12 in SCALE or program == DRUMS]
    events, t, idx = [], 0.0, len(pitches) // 2
    while t < seconds - 0.25:
        length = beat * float(rng.choice([0.25, 0.5, 1.0, 2.0] if program != DRUMS else [0.25, 0.5]))
        idx = int(np.clip(idx + rng.integers(-3, 4), 0, len(pitches) - 1))
        chord = [0, 2, 4] if chords and rng.random() < 0.5 else [0]
        velocity = int(rng.integers(50, 120))
        for step in chord:
            note = pitches[min(idx + step, len(pitches) - 1)] if program != DRUMS else pitches[int(rng.integers(len(pitches)))]
            events.append((t, length * rng.uniform(0.6, 1.0), note, velocity))
        t += length
    return events


def write_midi(program: int, seconds: float, seed: int, path: Path, drum_note: int | None = None) -> None:
    """A one-track MIDI file playing a random phrase on ``program`` (0..127, or DRUMS; ``drum_note``: that piece only)."""
    import mido

    rng = np.random.default_rng(seed)
    channel = 9 if program == DRUMS else 0
    ticks, tempo = 480, 500000  # 120 bpm: one beat = 0.5 s = 480 ticks
    msgs = []
    for start, length, note, vel in _notes(program, seconds, rng, drum_note):
        msgs.append((start, mido.Message("note_on", note=note, velocity=vel, channel=channel)))
        msgs.append((start + length, mido.Message("note_off", note=note, velocity=0, channel=channel)))
    msgs.sort(key=lambda m: (m[0], m[1].type == "note_on"))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo)])
    if program != DRUMS:
        track.append(mido.Message("program_change", program=program, channel=channel))
    now = 0
    for t, msg in msgs:
        tick = int(round(t * ticks / 0.5))
        track.append(msg.copy(time=tick - now))
        now = tick
    mid = mido.MidiFile(ticks_per_beat=ticks)
    mid.tracks.append(track)
    mid.save(path)


def render(program: int, seconds: float, seed: int, wav_path: Path, sample_rate: int = 44100,
           drum_note: int | None = None, soundfont: Path | None = None) -> Path:
    """Render a random phrase for ``program`` to a 16-bit WAV at ``sample_rate`` Hz (stereo, fluidsynth's reverb off).

    With ``program=DRUMS`` and ``drum_note`` (35..81) only that percussion piece plays.
    ``soundfont``: the .sf2/.sf3 file to play it with (None: FluidR3, ``SOUNDFONT``).
    """
    midi = wav_path.with_suffix(".mid")
    write_midi(program, seconds, seed, midi, drum_note)
    render_file(midi, wav_path, sample_rate, soundfont)
    midi.unlink()
    return wav_path


def render_file(midi: Path, wav_path: Path, sample_rate: int = 44100, soundfont: Path | None = None) -> Path:
    """Render the MIDI file ``midi`` to a 16-bit stereo WAV at ``sample_rate`` Hz (fluidsynth, reverb and chorus off)."""
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(sample_rate),
                    "-F", str(wav_path), str(soundfont or SOUNDFONT), str(midi)], check=True, capture_output=True)
    return wav_path
