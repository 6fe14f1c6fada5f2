"""Background renderer and render cache: what a user hears from live preview."""

from __future__ import annotations

import errno
import itertools
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from restora.app.render import RenderController
from restora.app.render_cache import LaneCache
from restora.app.source import SourceAudio
from restora.errors import ModelError
from restora.graph.file_job import process_array
from restora.graph.lanes import DEFAULT_FADE_S, LaneAssembler, lane_preset, lanes_for
from restora.graph.node import Node
from restora.graph.preset import preset_from_dict
from restora.graph.registry import register_node_type
from restora.graph.runner import GraphRun, array_blocks

RATE = 8000
_names = itertools.count()


def _preset(nodes, outputs=None):
    outputs = outputs or {"main": nodes[-1]["id"]}
    return preset_from_dict({"restora_preset": 1, "name": "t", "nodes": nodes, "outputs": outputs}, "test")


def _gain(db, node_id="g", input="input"):
    return {"id": node_id, "type": "gain", "input": input, "params": {"gain_db": db}}


def _noise(seconds, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((int(seconds * RATE), channels)) * 0.1).astype(np.float32)


class _Gate(Node):
    """Passes audio through, but holds the render thread once ``budget`` blocks were processed."""

    calls = 0
    budget = 10 ** 9

    def process(self, block):
        cls = type(self)
        cls.calls += 1
        while cls.calls > cls.budget:
            time.sleep(0.002)
        return {"main": block}

    @classmethod
    def allow(cls, blocks):
        cls.budget = cls.calls + blocks


class _Smooth(Node):
    """A stateful one-pole low-pass with a 0.5 s time constant (state starts at 0)."""

    def start(self, sample_rate, channels):
        super().start(sample_rate, channels)
        self.a = 1.0 / (0.5 * sample_rate)
        self.y = np.zeros(channels)

    def process(self, block):
        out = np.empty_like(block)
        for i, x in enumerate(block):
            self.y = self.y + self.a * (x - self.y)
            out[i] = self.y
        return {"main": out}


def _register(cls, **attrs):
    name = f"test-{cls.__name__.strip('_').lower()}-{next(_names)}"
    register_node_type(name, type(cls.__name__, (cls,), dict(attrs, type_name=name)))
    return name


@pytest.fixture
def gate():
    name = _register(_Gate)
    from restora.graph.registry import node_class
    cls = node_class(name)
    yield name, cls
    cls.budget = 10 ** 9


@pytest.fixture
def ctrl(qtbot):
    c = RenderController(block_frames=1024)
    yield c
    c.shutdown()


def _wait(ctrl, timeout=30):
    assert ctrl.wait_idle(timeout), "render did not finish"


def _render(ctrl, audio, preset, focus=0, scope=None):
    ctrl.set_source(SourceAudio.from_array(audio, RATE))
    ctrl.set_focus(focus)
    ctrl.set_preset(preset, scope)
    _wait(ctrl)
    return {name: ctrl.read(name, 0, len(audio)) for name in ctrl.lane_names()}


def _held(qtbot, cls):
    qtbot.waitUntil(lambda: cls.calls > cls.budget, timeout=20000)


# -- results ---------------------------------------------------------------

def test_a_full_render_equals_offline_processing(ctrl):
    audio = _noise(3)
    preset = _preset([{"id": "hp", "type": "highpass", "params": {"cutoff_hz": 300}}, _gain(-6, input="hp")])
    got = _render(ctrl, audio, preset)
    ref, _ = process_array(preset, audio, RATE)
    assert ctrl.lane_names() == ["main", "removed"] and ctrl.fraction() == 1.0
    np.testing.assert_allclose(got["main"], ref["main"], atol=1e-6)
    np.testing.assert_allclose(got["removed"], audio - ref["main"], atol=1e-6)
    np.testing.assert_array_equal(ctrl.lane_data("removed"), got["removed"])
    np.testing.assert_array_equal(ctrl.read("removed", 1000, 300), got["removed"][1000:1300])


def test_rendering_starts_at_the_playhead_then_covers_everything(ctrl, qtbot, gate):
    name, cls = gate
    audio = _noise(8)
    focus = 5 * RATE
    preset = _preset([{"id": "gate", "type": name}, _gain(-6, input="gate")])
    cls.allow(16)  # 12 blocks of warm-up (1.5 s) + 4 kept
    ctrl.set_source(SourceAudio.from_array(audio, RATE))
    ctrl.set_focus(focus)
    ctrl.set_preset(preset)
    _held(qtbot, cls)
    covered = ctrl.covered()
    assert len(covered) == 1 and covered[0][0] == focus < covered[0][1]
    assert ctrl.read("main", 0, 100) is None and not ctrl.is_idle()
    cls.allow(10 ** 6)
    _wait(ctrl)
    assert ctrl.covered() == ((0, len(audio)),)
    ref, _ = process_array(preset, audio, RATE)
    np.testing.assert_array_equal(ctrl.read("main", 0, len(audio)), ref["main"])


def test_segment_joins_of_a_stateful_node_are_continuous(ctrl):
    t = np.arange(8 * RATE) / RATE
    audio = (1.0 + 0.1 * np.sin(2 * np.pi * t)).astype(np.float32)[:, None]
    preset = _preset([{"id": "s", "type": _register(_Smooth)}])
    focus = 5 * RATE
    got = _render(ctrl, audio, preset, focus=focus)["main"][:, 0]
    ref = process_array(preset, audio, RATE)[0]["main"][:, 0]
    assert ctrl.covered() == ((0, len(audio)),)
    # The segment rendered from the playhead started cold 1.5 s earlier: it differs
    # from the offline result there, so a hard cut would jump by several hundredths.
    assert abs(got[focus + 50] - ref[focus + 50]) > 0.02
    assert np.max(np.abs(np.diff(got))) < 0.005
    np.testing.assert_array_equal(got[:focus - 100], ref[:focus - 100])


def test_a_scope_keeps_the_original_outside_and_fades_like_an_export(ctrl):
    audio = _noise(6)
    preset = _preset([_gain(-12)])
    scope = (2 * RATE, 4 * RATE)
    got = _render(ctrl, audio, preset, focus=3 * RATE, scope=scope)
    np.testing.assert_array_equal(got["main"][:scope[0]], audio[:scope[0]])
    np.testing.assert_array_equal(got["main"][scope[1]:], audio[scope[1]:])
    assert not got["removed"][:scope[0]].any() and not got["removed"][scope[1]:].any()
    parts = []
    asm = LaneAssembler(lanes_for(preset), lambda s, d: parts.append(d["main"]), scope=scope,
                        fade_frames=int(DEFAULT_FADE_S * RATE))
    GraphRun(lane_preset(preset), RATE, 2, asm.sinks, block_frames=4096).run(array_blocks(audio, 4096), len(audio))
    np.testing.assert_allclose(got["main"], np.concatenate(parts), atol=1e-7)
    assert ctrl.fraction() == 1.0
    # The removed lane is computed from the original: exactly input - main, silent outside the scope.
    np.testing.assert_array_equal(got["removed"], audio - got["main"])
    np.testing.assert_array_equal(ctrl.lane_data("removed"), audio - got["main"])
    inside = ctrl.read("removed", 3 * RATE, 100)
    np.testing.assert_allclose(inside, audio[3 * RATE:3 * RATE + 100] * (1 - 10 ** (-12 / 20)), atol=1e-7)


# -- generations -------------------------------------------------------------

def test_a_new_preset_cancels_the_old_render_and_wins(ctrl, qtbot, gate):
    name, cls = gate
    audio = _noise(8)
    cls.allow(14)
    ctrl.set_source(SourceAudio.from_array(audio, RATE))
    ctrl.set_preset(_preset([{"id": "gate", "type": name}, _gain(-20, input="gate")]))
    _held(qtbot, cls)
    ctrl.set_preset(_preset([_gain(-6)]))
    cls.allow(10 ** 6)
    _wait(ctrl)
    assert cls.calls <= 16  # the old render stopped at the next block
    np.testing.assert_allclose(ctrl.read("main", 0, len(audio)), audio * 10 ** (-6 / 20), atol=1e-7)


def test_reads_fall_back_to_the_previous_render_until_the_new_one_covers_them(ctrl, qtbot, gate):
    name, cls = gate
    audio = _noise(8)
    old = _render(ctrl, audio, _preset([_gain(-6)]))["main"]
    cls.allow(16)
    ctrl.set_focus(4 * RATE)
    ctrl.set_preset(_preset([{"id": "gate", "type": name}, _gain(-12, input="gate")]))
    _held(qtbot, cls)
    new_start, new_stop = ctrl.covered()[0]
    np.testing.assert_array_equal(ctrl.read("main", 0, 1000), old[:1000])
    np.testing.assert_allclose(ctrl.read("main", new_start, 1000), audio[new_start:new_start + 1000] * 10 ** (-12 / 20),
                               atol=1e-7)
    assert ctrl.read("main", new_stop, 1000) is not None  # still the old render: no silence
    cls.allow(10 ** 6)
    _wait(ctrl)
    np.testing.assert_allclose(ctrl.read("main", 0, len(audio)), audio * 10 ** (-12 / 20), atol=1e-7)


def test_only_the_previous_render_is_kept_as_fallback(ctrl, qtbot, gate):
    name, cls = gate
    audio = _noise(8)
    _render(ctrl, audio, _preset([_gain(-6)]))
    cls.allow(16)
    ctrl.set_focus(4 * RATE)
    ctrl.set_preset(_preset([{"id": "gate", "type": name}, _gain(-12, input="gate")]))
    _held(qtbot, cls)
    partial_start = ctrl.covered()[0][0]
    # A third preset while the second is held: nothing of it is rendered yet.
    ctrl.set_preset(_preset([{"id": "gate", "type": name}, _gain(-20, input="gate")]))
    assert ctrl.covered() == ()
    np.testing.assert_allclose(ctrl.read("main", partial_start, 500),
                               audio[partial_start:partial_start + 500] * 10 ** (-12 / 20), atol=1e-7)
    assert ctrl.read("main", 0, 500) is None  # the first render (-6 dB) was dropped
    cls.allow(10 ** 6)
    _wait(ctrl)
    np.testing.assert_allclose(ctrl.read("main", 0, len(audio)), audio * 10 ** (-20 / 20), atol=1e-7)


def _gated_render(ctrl, qtbot, gate, seconds: float, blocks: int) -> np.ndarray:
    """Start rendering ``seconds`` of noise through the gate node and hold it after ``blocks`` blocks."""
    name, cls = gate
    audio = _noise(seconds)
    cls.allow(blocks)
    ctrl.set_source(SourceAudio.from_array(audio, RATE))
    ctrl.set_preset(_preset([{"id": "gate", "type": name}]))
    _held(qtbot, cls)
    return audio


def test_moving_the_playhead_outside_the_render_restarts_it_there(ctrl, qtbot, gate):
    _, cls = gate
    audio = _gated_render(ctrl, qtbot, gate, 10, 8)
    jump = 7 * RATE
    ctrl.set_focus(jump, seek=True)
    cls.allow(20)
    _held(qtbot, cls)
    spans = ctrl.covered()
    assert spans[0][0] == 0 and spans[0][1] < 2 * RATE
    assert any(a == jump for a, _ in spans)
    cls.allow(10 ** 6)
    _wait(ctrl)
    np.testing.assert_array_equal(ctrl.read("main", 0, len(audio)), audio)


def test_playback_overtaking_a_slow_render_does_not_restart_it(ctrl, qtbot, gate):
    _, cls = gate
    audio = _gated_render(ctrl, qtbot, gate, 10, 8)
    ctrl.set_focus(7 * RATE)  # the playhead ran past the render: not a seek
    cls.allow(20)
    _held(qtbot, cls)
    spans = ctrl.covered()
    assert len(spans) == 1 and spans[0][0] == 0  # one render, carried on from the start
    cls.allow(10 ** 6)
    _wait(ctrl)
    np.testing.assert_array_equal(ctrl.read("main", 0, len(audio)), audio)


def test_no_preset_means_no_lanes(ctrl, qtbot):
    ctrl.set_source(SourceAudio.from_array(_noise(1), RATE))
    with qtbot.waitSignal(ctrl.lanes_changed) as sig:
        ctrl.set_preset(_preset([_gain(-6)], {"clean": "g", "noise": "g.residual"}))
    assert sig.args == [["clean", "noise"]]
    ctrl.set_preset(None)
    assert ctrl.lanes == [] and ctrl.read("clean", 0, 10) is None and ctrl.is_idle()


# -- whole-file nodes, errors, measurements --------------------------------

def test_a_whole_file_node_renders_with_progress_to_the_end(ctrl, qtbot):
    audio = _noise(4, seed=3)
    preset = _preset([{"id": "ln", "type": "loudness-normalize", "params": {"target_lufs": -20}}])
    seen = []
    ctrl.progress.connect(seen.append)
    ctrl.set_source(SourceAudio.from_array(audio, RATE))
    with qtbot.waitSignal(ctrl.idle, timeout=60000):
        ctrl.set_preset(preset)
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] == 1.0, timeout=5000)
    assert any(0 < f < 1 for f in seen)
    ref, _ = process_array(preset, audio, RATE)
    np.testing.assert_allclose(ctrl.read("main", 0, len(audio)), ref["main"], atol=1e-6)


class _Broken(Node):
    error: Exception = RuntimeError("boom")

    def process(self, block):
        raise self.error


@pytest.mark.parametrize("error, message", [
    (ModelError("model 'x' is not installed: run restora models fetch x"),
     "model 'x' is not installed: run restora models fetch x"),
    (ValueError("bad shape"), "Processing failed: bad shape"),
])
def test_a_failing_node_reports_a_plain_message(ctrl, qtbot, error, message):
    preset = _preset([{"id": "b", "type": _register(_Broken, error=error)}])
    ctrl.set_source(SourceAudio.from_array(_noise(1), RATE))
    with qtbot.waitSignal(ctrl.failed, timeout=20000) as sig:
        ctrl.set_preset(preset)
    assert sig.args == [message]
    _wait(ctrl)
    assert ctrl.read("main", 0, 10) is None
    ctrl.set_preset(_preset([_gain(-6)]))  # the controller keeps working
    _wait(ctrl)
    assert ctrl.fraction() == 1.0


def test_level_matching_undoes_a_gain_on_the_main_lane_only(ctrl):
    assert ctrl.level_match_gain("main") == 1.0
    _render(ctrl, _noise(2), _preset([_gain(-6)]))
    assert ctrl.level_match_gain("main") == pytest.approx(10 ** (6 / 20), rel=1e-4)
    assert ctrl.level_match_gain("removed") == 1.0


def test_node_stats_report_speed_and_provider_for_every_node(ctrl, qtbot):
    stats = []
    ctrl.node_stats.connect(stats.append)
    _render(ctrl, _noise(2), _preset([{"id": "hp", "type": "highpass"}, _gain(-6, input="hp")]))
    qtbot.waitUntil(lambda: bool(stats) and set(stats[-1]) == {"hp", "g"}, timeout=5000)
    for entry in stats[-1].values():
        assert entry["rtf"] > 0 and entry["provider"] is None


# -- decoding and project caches ----------------------------------------------

def test_a_source_still_decoding_is_rendered_as_it_arrives(ctrl):
    audio = _noise(6)
    src = SourceAudio("<memory>", RATE, 2, len(audio), np.zeros_like(audio))
    ctrl.set_source(src)
    ctrl.set_preset(_preset([_gain(-6)]))
    progressed = []

    def loader():
        for start in range(0, len(audio), 8192):
            src.data[start:start + 8192] = audio[start:start + 8192]
            src.decoded = min(len(audio), start + 8192)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and ctrl.fraction() * len(audio) < src.decoded - 1024:
                time.sleep(0.002)
            progressed.append(ctrl.fraction() * len(audio) >= src.decoded - 1024)
        src.complete = True
        src.finished.set()

    thread = threading.Thread(target=loader)
    thread.start()
    thread.join()
    assert all(progressed) and len(progressed) == 6
    _wait(ctrl)
    np.testing.assert_allclose(ctrl.read("main", 0, len(audio)), audio * 10 ** (-6 / 20), atol=1e-7)


def test_project_cache_round_trips_and_ignores_stale_renders(ctrl, qtbot, tmp_path):
    audio = _noise(3)
    wav = tmp_path / "take.raw"
    wav.write_bytes(audio.tobytes())
    preset = _preset([_gain(-6)])
    ctrl.set_source(SourceAudio.from_array(audio, RATE, wav))
    ctrl.set_preset(preset)
    _wait(ctrl)
    assert ctrl.save_cache(tmp_path / "cache")
    again = RenderController(block_frames=1024)
    try:
        again.set_source(SourceAudio.from_array(audio, RATE, wav))
        again.set_preset(preset)
        assert again.load_cache(tmp_path / "cache")
        _wait(again)
        np.testing.assert_array_equal(again.read("main", 0, len(audio)), ctrl.read("main", 0, len(audio)))
        assert again.level_match_gain("main") == pytest.approx(ctrl.level_match_gain("main"))
        again.set_preset(_preset([_gain(-7)]))
        assert not again.load_cache(tmp_path / "cache")
        again.set_preset(preset)
        os.utime(wav, ns=(1, 1))  # the source file changed
        again.set_source(SourceAudio.from_array(audio, RATE, wav))
        assert not again.load_cache(tmp_path / "cache")
    finally:
        again.shutdown()


# -- scratch files ------------------------------------------------------------

def _scratch_files(root):
    return sorted(p for p in root.glob("restora-render-*/*"))


def test_file_backed_lanes_equal_lanes_in_ram(qtbot, tmp_path):
    audio = _noise(4)
    preset = _preset([{"id": "hp", "type": "highpass", "params": {"cutoff_hz": 300}}, _gain(-6, input="hp")])
    results = []
    for limit in (10 ** 9, 0):  # everything in RAM, then everything in files
        c = RenderController(block_frames=1024, scratch_dir=tmp_path, ram_limit_bytes=limit)
        try:
            got = _render(c, audio, preset, focus=2 * RATE, scope=(RATE, 3 * RATE))
            assert isinstance(c.lane_data("main"), np.memmap) == (limit == 0)
            assert len(_scratch_files(tmp_path)) == (1 if limit == 0 else 0)  # main only: removed is computed
            results.append((got, c.lane_data("removed"), c.level_match_gain("main")))
        finally:
            c.shutdown()
    (ram, ram_removed, ram_gain), (mapped, mapped_removed, mapped_gain) = results
    for name in ram:
        np.testing.assert_array_equal(mapped[name], ram[name])
    np.testing.assert_array_equal(mapped_removed, ram_removed)
    assert mapped_gain == ram_gain


def test_dropped_renders_delete_their_files_and_shutdown_the_folder(qtbot, tmp_path):
    audio = _noise(3)
    c = RenderController(block_frames=1024, scratch_dir=tmp_path, ram_limit_bytes=0)
    for db in (-3, -6, -9):
        got = _render(c, audio, _preset([_gain(db)]))
        assert len(_scratch_files(tmp_path)) == 1  # complete: no fallback kept, older files deleted
    folders = list(tmp_path.glob("restora-render-*"))
    assert len(folders) == 1 and str(os.getpid()) in folders[0].name
    c.shutdown()
    assert not folders[0].exists()
    # What was rendered stays readable (the mapping outlives the file), nothing is written anew.
    np.testing.assert_array_equal(c.read("main", 0, len(audio)), got["main"])


def test_a_full_disk_reports_a_plain_message_and_rendering_goes_on(qtbot, tmp_path, monkeypatch):
    audio = _noise(3)
    c = RenderController(block_frames=1024, scratch_dir=tmp_path, ram_limit_bytes=0)
    try:
        before = _render(c, audio, _preset([_gain(-6)]))["main"]

        def full(fd, offset, length):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "posix_fallocate", full)
        with qtbot.waitSignal(c.failed, timeout=20000) as sig:
            c.set_preset(_preset([_gain(-12)]))
        assert re.fullmatch(rf"not enough disk space for the render cache in {re.escape(str(tmp_path))}"
                            r"/restora-render-\d+-\w+: need 1 MB", sig.args[0])
        _wait(c)
        np.testing.assert_array_equal(c.read("main", 0, len(audio)), before)  # playback keeps the last render
        assert len(_scratch_files(tmp_path)) == 1  # no half-made file left behind
        monkeypatch.undo()
        c.set_preset(_preset([_gain(-12)]))
        _wait(c)
        np.testing.assert_allclose(c.read("main", 0, len(audio)), audio * 10 ** (-12 / 20), atol=1e-7)
    finally:
        c.shutdown()


def test_a_new_controller_removes_folders_of_crashed_sessions_only(qtbot, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid in (dead.pid, os.getppid()):
        (tmp_path / f"restora-render-{pid}-x1").mkdir()
        (tmp_path / f"restora-render-{pid}-x1" / "lane-1.f32").write_bytes(b"\0" * 64)
    (tmp_path / "unrelated").mkdir()
    c = RenderController(scratch_dir=tmp_path)
    c.shutdown()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([f"restora-render-{os.getppid()}-x1", "unrelated"])


def test_lane_cache_computes_the_removed_lane_and_does_not_save_it(tmp_path):
    lanes = lanes_for(_preset([_gain(-6)]))
    original = _noise(0.0125, channels=1)  # 100 frames
    cache = LaneCache(lanes, 100, 1, original=original)
    main = original[10:40] * 0.5
    cache.write(10, {"main": main, "removed": np.zeros_like(main)})  # a removed block is ignored
    np.testing.assert_array_equal(cache.read("removed", 10, 30), original[10:40] - main)
    assert cache.read("removed", 0, 20) is None
    np.testing.assert_array_equal(cache.lane_data("removed")[10:40], original[10:40] - main)
    cache.save(tmp_path, "k")
    assert sorted(p.name for p in (tmp_path / "render-k").iterdir()) == ["coverage.json", "lane0.npy"]
    loaded = LaneCache.load(tmp_path, "k", lanes, 100, 1, original=original)
    np.testing.assert_array_equal(loaded.read("removed", 10, 30), original[10:40] - main)
    alone = LaneCache(lanes, 100, 1)
    alone.write(10, {"main": main})
    assert alone.read("main", 10, 30) is not None and alone.read("removed", 10, 30) is None  # no original


def test_lane_cache_reads_only_fully_rendered_ranges():
    lanes = lanes_for(_preset([_gain(-6)]))
    cache = LaneCache(lanes, 100, 1)
    block = np.ones((10, 1), np.float32)
    cache.write(20, {"main": block, "removed": block})
    cache.write(30, {"main": block * 2, "removed": block})
    assert cache.covered() == ((20, 40),)
    assert cache.read("main", 25, 10)[:, 0].tolist() == [1] * 5 + [2] * 5
    assert cache.read("main", 15, 10) is None and cache.read("nope", 20, 5) is None
    assert cache.read("main", 35, 100) is None
    cache.write(40, {"main": np.ones((70, 1), np.float32), "removed": np.ones((70, 1), np.float32)})
    assert len(cache.read("main", 90, 100)) == 10 and cache.fraction() == 0.8


def test_a_partial_cache_loads_only_under_its_own_key(tmp_path):
    lanes = lanes_for(_preset([_gain(-6)]))
    cache = LaneCache(lanes, 100, 1)
    cache.write(10, {"main": np.full((30, 1), 0.5, np.float32), "removed": np.zeros((30, 1), np.float32)})
    cache.save(tmp_path, "abc")
    loaded = LaneCache.load(tmp_path, "abc", lanes, 100, 1)
    assert loaded.covered() == ((10, 40),) and loaded.read("main", 10, 30)[:, 0].tolist() == [0.5] * 30
    assert LaneCache.load(tmp_path, "abd", lanes, 100, 1) is None
    assert LaneCache.load(tmp_path, "abc", lanes, 101, 1) is None


@pytest.mark.slow
def test_deepfilternet3_renders_live_and_reports_its_provider(qtbot):
    try:
        from restora.models.store import require
        require("deepfilternet3")
    except Exception:
        pytest.skip("DeepFilterNet3 is not installed")
    rate = 48000
    audio = (np.random.default_rng(5).standard_normal((3 * rate, 1)) * 0.05).astype(np.float32)
    preset = _preset([{"id": "dn", "type": "deepfilternet3"}])
    ctrl = RenderController()
    stats = []
    ctrl.node_stats.connect(stats.append)
    try:
        ctrl.set_source(SourceAudio.from_array(audio, rate))
        ctrl.set_preset(preset)
        assert ctrl.wait_idle(120)
        ref, _ = process_array(preset, audio, rate)
        np.testing.assert_allclose(ctrl.read("main", 0, len(audio)), ref["main"], atol=1e-4)
        qtbot.waitUntil(lambda: bool(stats) and "dn" in stats[-1], timeout=5000)
        assert stats[-1]["dn"]["rtf"] > 0 and stats[-1]["dn"]["provider"].endswith("ExecutionProvider")
    finally:
        ctrl.shutdown()


def test_a_segment_from_the_playhead_extends_the_band_measured_at_the_file_start(ctrl, qtbot, monkeypatch):
    """upscale's cutoff=auto is measured on the file's start, not on the first seconds of each segment."""
    from scipy import signal

    from restora.graph import nodes_upscale

    monkeypatch.setattr(nodes_upscale, "ANALYSIS_S", 0.5)
    rate = 32000
    rng = np.random.default_rng(3)
    lowpass = [signal.ellip(12, 0.1, 100, fc, fs=rate, output="sos") for fc in (3000, 9000)]
    audio = np.concatenate([signal.sosfilt(lowpass[0], 0.1 * rng.standard_normal((rate, 1)), axis=0),
                            signal.sosfilt(lowpass[1], 0.1 * rng.standard_normal((7 * rate, 1)), axis=0)])
    audio = audio.astype(np.float32)
    stats = []
    ctrl.node_stats.connect(stats.append)
    ctrl.set_source(SourceAudio.from_array(audio, rate))
    ctrl.set_focus(5 * rate)
    ctrl.set_preset(_preset([{"id": "up", "type": "upscale", "params": {"target_rate": rate, "method": "fold"}}]))
    _wait(ctrl)
    qtbot.waitUntil(lambda: bool(stats) and "measurements" in stats[-1].get("up", {}), timeout=5000)
    seen = {s["up"]["measurements"]["cutoff_hz"] for s in stats if "measurements" in s.get("up", {})}
    start = nodes_upscale.measure_cutoff(audio, rate)
    assert 2500 < start < 3500 and seen == {round(start, 1)}
