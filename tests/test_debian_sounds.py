"""Labelling rules of the Debian sound packages, on a fake unpacked tree (no network, no ../shared)."""

import numpy as np
import pytest
import soundfile as sf

from restora.models.training import debian_sounds as ds

RATE = 16000


def _wav(path, seconds, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.3 * np.random.default_rng(seed).standard_normal(int(seconds * RATE)).astype(np.float32)
    sf.write(path, x, RATE)


@pytest.mark.parametrize("package, relpath, concepts", [
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/ForzeeStereo/HiHatOpen-4.wav",
     ("open hi-hat", "hi-hat", "drums")),
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/ForzeeStereo/HiHatFoot-0.wav",
     ("pedal hi-hat", "hi-hat", "drums")),
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/ColomboAcousticDrumkit/crash16i__ride_cup4.flac",
     ("ride bell", "drums")),
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/Millo_MultiLayered3/sd_01.flac",
     ("snare drum", "drums")),
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/circAfrique v4/Djembe2 Slap.wav", ("djembe", "percussion")),
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/Gimme A Hand 1.0/BongoLo-Hard.wav",
     ("low bongo", "percussion")),
    ("nexuiz-data", "usr/share/games/nexuiz/data/data.pk3.d/sound/misc/metalfootstep03.wav",
     ("footsteps walking on metal", "footsteps")),
    ("nexuiz-data", "usr/share/games/nexuiz/data/data.pk3.d/sound/player/fricka/player/pain50.ogg",
     ("woman groaning in pain", "human voice")),
    ("nexuiz-data", "usr/share/games/nexuiz/data/data.pk3.d/sound/player/marine/player/death2.ogg",
     ("man grunting in pain", "human voice")),
    ("ardentryst", "usr/share/games/ardentryst/Sounds/PYR/PYR_STEP_SNOW2.ogg", ("footsteps walking on snow", "footsteps")),
    ("btanks-data", "usr/share/games/btanks/data/sounds/cow.ogg", ("cow mooing", "animal")),
    ("simutrans-pak64", "usr/share/games/simutrans/pak/sound/seagulls.wav", ("seagull crying", "animal")),
    ("7kaa-data", "usr/share/games/7kaa/SOUND/THUNDER.WAV", ("thunder rumbling", "weather")),
    ("tuxfootball", "usr/share/games/tuxfootball/sound/crowdcheer.wav", ("crowd cheering", "crowd")),
    ("sound-icons", "usr/share/sounds/sound-icons/violoncello-7.wav", ("cello", "musical instrument")),
])
def test_representative_paths_get_their_concepts(package, relpath, concepts):
    assert ds.concepts_for(package, relpath) == concepts


@pytest.mark.parametrize("package, relpath", [
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/ElectricEmpireKit/EE_Kick_Hard_1.flac"),  # electronic
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/Gimme A Hand 1.0/Cowbell-Soft.wav"),  # velocity copy
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/The Black Pearl 1.0/PearlKick-Hard.wav"),  # = corpus
    ("nexuiz-data", "usr/share/games/nexuiz/data/data.pk3.d/sound/player/marine/coms/incoming.ogg"),  # speech
    ("nexuiz-data", "usr/share/games/nexuiz/data/data.pk3.d/sound/misc/menu1.wav"),  # UI
    ("btanks-data", "usr/share/games/btanks/data/tunes/glory.ogg"),  # music
    ("warmux-data", "usr/share/games/warmux/music/ingame/circux.ogg"),  # music
    ("sound-icons", "usr/share/sounds/sound-icons/prompt.wav"),  # UI
    ("unknown-package", "sounds/dog.wav"),  # no rules, no files
])
def test_excluded_paths_get_no_concepts(package, relpath):
    assert ds.concepts_for(package, relpath) == ()


def test_labelled_files_walks_a_fake_tree(tmp_path):
    snd = tmp_path / "btanks-data" / "usr/share/games/btanks/data"
    _wav(snd / "sounds/cow.wav", 1.0, seed=1)
    _wav(snd / "sounds/helicopter.wav", 2.0, seed=2)
    _wav(snd / "sounds/train.wav", 0.2, seed=3)  # too short
    _wav(snd / "tunes/glory.wav", 3.0, seed=4)  # music: no rule
    (snd / "sounds/explosion.txt").write_text("not audio")
    # The same bytes twice (two themes shipping one file): kept once.
    _wav(tmp_path / "sdl-ball-data/default/snd/glass-brick-break.wav", 1.0, seed=5)
    _wav(tmp_path / "sdl-ball-data/dio-sound-theme/snd/glass-brick-break.wav", 1.0, seed=5)
    extracted = {"btanks-data": tmp_path / "btanks-data", "sdl-ball-data": tmp_path / "sdl-ball-data"}
    got = {(p.name, tuple(c), pkg) for p, c, pkg in ds.labelled_files(extracted)}
    assert got == {("cow.wav", ("cow mooing", "animal"), "btanks-data"),
                   ("helicopter.wav", ("helicopter flying", "vehicle"), "btanks-data"),
                   ("glass-brick-break.wav", ("glass shattering",), "sdl-ball-data")}


def test_table_is_pinned_and_never_uses_excluded_packages():
    names = [p.name for p in ds.PACKAGES]
    assert len(names) == len(set(names)) and not set(names) & ds.EXCLUDED
    assert {"gcompris-qt-data", "lmms-common", "minetest-data", "openarena-data"} <= ds.EXCLUDED
    assert set(ds.RULES) == set(names)
    for p in ds.PACKAGES:
        assert len(p.sha256) == 64 and int(p.sha256, 16) >= 0 and p.version and p.licence
    for rules in ds.RULES.values():
        for _pattern, concepts in rules:
            assert all(c == c.lower().strip() and c for c in concepts)


def test_a_changed_deb_is_refused_with_a_clear_error(tmp_path):
    pkg = ds.PACKAGES[0]
    (tmp_path / ds._deb_name(pkg)).write_bytes(b"not the pinned file")
    with pytest.raises(ValueError, match="sha256"):
        ds.download_deb(pkg, tmp_path)


def test_gm_render_plays_the_chosen_soundfont(tmp_path, monkeypatch):
    pytest.importorskip("mido")
    from restora.models.training import gm_render

    commands = []
    monkeypatch.setattr(gm_render.subprocess, "run", lambda cmd, **kw: commands.append(cmd))
    font = tmp_path / "Other.sf3"
    gm_render.render(40, 1.0, 1, tmp_path / "a.wav", 16000, soundfont=font)
    gm_render.render(gm_render.DRUMS, 1.0, 1, tmp_path / "b.wav", 16000, drum_note=38)
    # fluidsynth takes the soundfont just before the MIDI file; None means the system FluidR3.
    assert commands[0][-2:] == [str(font), str(tmp_path / "a.mid")]
    assert commands[1][-2] == str(gm_render.SOUNDFONT)


def test_debian_soundfonts_are_pinned_and_fetched_only_when_allowed(tmp_path):
    from restora.models.training import gm_render

    assert gm_render.soundfont_paths(["fluidr3"]) == {"fluidr3": gm_render.SOUNDFONT}
    with pytest.raises(ValueError, match="fetching is off"):
        gm_render.soundfont_paths(["timgm6mb"])
    with pytest.raises(ValueError, match="unknown soundfont"):
        gm_render.soundfont_paths(["nosuchfont"], tmp_path)
    assert set(gm_render.FONT_PACKAGES) | {"fluidr3"} == set(gm_render.FONTS)
    for pkg, member in gm_render.FONT_PACKAGES.values():
        assert len(pkg.sha256) == 64 and pkg.name not in ds.EXCLUDED and member.endswith((".sf2", ".sf3"))
    # An unpacked tree whose marker names the pinned sha256 is reused: no download.
    pkg, member = gm_render.FONT_PACKAGES["timgm6mb"]
    (tmp_path / pkg.name).mkdir()
    (tmp_path / pkg.name / ".done").write_text(pkg.sha256 + "\n")
    assert gm_render.soundfont_paths(["timgm6mb"], tmp_path) == {"timgm6mb": tmp_path / pkg.name / member}
