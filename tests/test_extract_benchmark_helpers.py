"""Pure helpers of the extraction benchmark: the two-query overlap rule, the outsource set's licence lookup."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SR = 44100


def load(name: str):
    """The benchmark script ``name`` as a module (benchmarks/ is not a package)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def burst(start_s: float, seconds: float, total_s: float = 5.0) -> np.ndarray:
    """Unit-power noise from ``start_s`` for ``seconds`` in ``total_s`` of silence, 44.1 kHz float32."""
    x = np.zeros(int(total_s * SR), np.float32)
    a = int(start_s * SR)
    x[a:a + int(seconds * SR)] = np.random.default_rng(0).standard_normal(int(seconds * SR))
    return x


def test_active_frames_follow_the_30_db_rule():
    bench = load("extract_quality")
    x = burst(1.0, 1.0) + 0.01 * burst(3.0, 1.0)      # -40 dB tail: inactive
    on = bench.active(x)
    assert on.shape == (250,)                          # 20 ms frames of 5 s
    assert abs(on.sum() - 50) <= 1


def test_two_long_sounds_must_share_a_second():
    bench = load("extract_quality")
    assert bench.overlapping(burst(0.0, 3.0), burst(1.5, 3.0))          # 1.5 s together
    assert not bench.overlapping(burst(0.0, 3.0), burst(2.5, 2.5))      # 0.5 s < 1 s


def test_short_sounds_need_half_the_shorter_ones_activity():
    bench = load("extract_quality")
    assert bench.overlapping(burst(1.0, 0.4), burst(1.1, 3.0))          # 0.3 s of 0.4 s
    assert not bench.overlapping(burst(1.0, 0.4), burst(1.3, 3.0))      # 0.1 s of 0.4 s
    assert not bench.overlapping(burst(0.0, 0.4), burst(4.0, 0.4))      # apart: never


def test_licence_is_the_last_matching_copyright_stanza():
    outsource = load("lass_outsource")
    text = ("Format: x\n\nFiles: *\nCopyright: a\nLicense: GPL-2+\n\n"
            "Files: *.ogg\n docs/*\nCopyright: b\nLicense: CC-BY-SA-3.0\n text of the licence\n\n"
            "Files: mods/doors/sounds/*\nCopyright: c\nLicense: CC-BY-3.0\n")
    stanzas = outsource.copyright_stanzas(text)
    assert outsource.licence(stanzas, "mods/doors/sounds/open.ogg") == "CC-BY-3.0"
    assert outsource.licence(stanzas, "mods/fire/sounds/fire.ogg") == "CC-BY-SA-3.0"
    assert outsource.licence(stanzas, "src/main.cpp") == "GPL-2+"
