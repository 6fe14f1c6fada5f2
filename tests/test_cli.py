"""The ``restora`` command as a user runs it: exit codes, messages, files left behind.

Runs the CLI in a subprocess (as a user would) for the error table, so that
"no traceback" is checked on real stderr output.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 44100


def restora(*args, cwd=None, timeout=300):
    """Run the CLI; returns (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "restora.cli.main", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def tone(path: Path, seconds=2.0, sr=SR, channels=2, amp=0.3, subtype="PCM_16"):
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.repeat(x[:, None], channels, axis=1), sr, subtype=subtype)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bad_inputs(tmp: Path) -> list[tuple[str, list, int, str]]:
    """(case, extra CLI args, expected exit code, words the message must contain)."""
    good = tone(tmp / "good.wav")
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "text.wav").write_text("this is not audio\n" * 20)
    truncated = tmp / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:30])
    nan = tmp / "nan.wav"
    data = np.zeros((SR, 1), np.float32)
    data[SR // 2] = np.nan
    sf.write(nan, data, SR, subtype="FLOAT")
    zero = tmp / "zero.wav"
    sf.write(zero, np.zeros((0, 1), np.float32), SR)
    exists = tmp / "exists.wav"
    exists.write_bytes(b"keep me")
    return [
        ("missing", ["process", tmp / "nope.wav", "-o", tmp / "o.wav"], 3, "nope.wav"),
        ("empty", ["process", tmp / "empty.wav", "-o", tmp / "o.wav"], 3, "empty.wav"),
        ("not audio", ["process", tmp / "text.wav", "-o", tmp / "o.wav"], 3, "text.wav"),
        ("truncated", ["process", truncated, "-o", tmp / "o.wav"], 3, "truncated.wav"),
        ("NaN samples", ["process", nan, "-o", tmp / "o.wav"], 3, "nan.wav"),
        ("0-length", ["process", zero, "-o", tmp / "o.wav"], 3, "zero.wav"),
        ("output is input", ["process", good, "-o", good, "--overwrite"], 3, "is the input"),
        ("output exists", ["process", good, "-o", exists], 3, "already exists"),
        ("absurd parameter", ["process", good, "-o", tmp / "o.wav", "--set", "level.target_lufs=400"], 2,
         "out of range"),
        ("bad --set", ["process", good, "-o", tmp / "o.wav", "--set", "nonsense"], 2, "NODE_ID.PARAM=VALUE"),
        ("unknown option", ["process", good, "-o", tmp / "o.wav", "--bogus"], 2, "unrecognized arguments"),
        ("absurd sample rate", ["process", good, "-o", tmp / "o.wav", "--sample-rate", "5"], 2, "out of range"),
        ("a folder as input", ["process", tmp, "-o", tmp / "o.wav"], 3, str(tmp.name)),
    ]


def run_in_process(capsys, *args):
    """Like restora() but in this process (fast); SystemExit from argparse counts as the code."""
    from restora.cli.main import main

    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:
        rc = exc.code
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_bad_inputs_give_clear_messages_and_leave_nothing(tmp_path, capsys):
    for case, args, code, words in bad_inputs(tmp_path):
        args = args + ["--preset", "loudness-podcast"]
        before = snapshot(tmp_path)
        rc, out, err = run_in_process(capsys, *args)
        assert rc == code, f"{case}: exit {rc}, stderr: {err}"
        assert "Traceback" not in err, f"{case}: traceback shown"
        assert words in err, f"{case}: message {err!r} lacks {words!r}"
        assert snapshot(tmp_path) == before, f"{case}: files changed"


def test_unknown_preset_and_broken_preset_file(tmp_path):
    good = tone(tmp_path / "good.wav")
    rc, _, err = restora("process", good, "-o", tmp_path / "o.wav", "--preset", "no-such")
    assert rc == 2 and "unknown preset 'no-such'" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"restora_preset": 1, "nodes": [{"id": "level", "type": "loudness-normalize",'
                      ' "params": {"target_lufs": "loud"}}], "outputs": {"main": "level"}}')
    rc, _, err = restora("process", good, "-o", tmp_path / "o.wav", "--preset", broken)
    assert rc == 2 and "node 'level'" in err and "target_lufs" in err and "Traceback" not in err


def test_process_keeps_rate_depth_channels_and_length(tmp_path):
    src = tone(tmp_path / "in.wav", seconds=1.2345, sr=96000, channels=2, subtype="PCM_24")
    rc, _, err = restora("process", src, "-o", tmp_path / "out.wav", "--preset", "loudness-podcast")
    assert rc == 0, err
    info = sf.info(tmp_path / "out.wav")
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (96000, 2, "PCM_24", 118512)


def test_overrides_format_and_report(tmp_path):
    src = tone(tmp_path / "in.wav")
    report = tmp_path / "r.json"
    rc, _, err = restora("process", src, "-o", tmp_path / "out", "--format", "flac", "--bit-depth", "16",
                         "--sample-rate", "48000", "--set", "level.target_lufs=-20",
                         "--preset", "loudness-podcast", "--report", report)
    assert rc == 0, err
    info = sf.info(tmp_path / "out.flac")
    assert (info.format, info.samplerate, info.subtype) == ("FLAC", 48000, "PCM_16")
    assert info.frames == 96000
    data = json.loads(report.read_text())
    assert abs(data["output_meter"]["lufs"] - (-20)) < 0.3
    assert data["input_meter"]["lufs"] is not None and data["input_meter"]["lufs"] != data["output_meter"]["lufs"]


def test_multi_output_graph_writes_a_folder_that_sums_to_input(tmp_path):
    src = tone(tmp_path / "in.wav", subtype="FLOAT")
    preset = tmp_path / "split.json"
    preset.write_text(json.dumps({"restora_preset": 1, "name": "split", "nodes": [
        {"id": "quiet", "type": "gain", "params": {"gain_db": -6}}],
        "outputs": {"target": "quiet", "residual": "quiet.residual"}}))
    rc, _, err = restora("process", src, "-o", tmp_path / "parts", "--preset", preset)
    assert rc == 0, err
    target, _ = sf.read(tmp_path / "parts" / "target.wav")
    residual, _ = sf.read(tmp_path / "parts" / "residual.wav")
    original, _ = sf.read(src)
    np.testing.assert_allclose(target + residual, original, atol=1e-6)


def make_tree(root: Path) -> list[Path]:
    files = [tone(root / "a.wav"), tone(root / "sub" / "b.flac", channels=1) if (root / "sub").mkdir() is None
             else None, root / "sub" / "broken.wav"]
    files[2].write_text("not audio")
    (root / "notes.txt").write_text("ignored")
    return files


def test_batch_mirrors_tree_reports_failures_and_skips_existing(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_tree(src)
    report = tmp_path / "report.csv"
    rc, _, err = restora("batch", src, "-o", out, "--preset", "loudness-podcast", "--report", report)
    assert rc == 4, err
    assert (out / "a.wav").is_file() and (out / "sub" / "b.flac").is_file()
    assert not (out / "sub" / "broken.wav").exists()
    rows = {Path(r["input"]).name: r for r in csv.DictReader(report.open())}
    assert rows["a.wav"]["status"] == "ok" and rows["a.wav"]["lufs_after"]
    assert rows["broken.wav"]["status"] == "failed" and "broken.wav" in rows["broken.wav"]["error"]
    stamp = (out / "a.wav").stat().st_mtime_ns
    rc, _, err = restora("batch", src, "-o", out, "--preset", "loudness-podcast", "--skip-existing",
                         "--report", report)
    assert rc == 4
    rows = {Path(r["input"]).name: r for r in csv.DictReader(report.open())}
    assert rows["a.wav"]["status"] == "skipped" and (out / "a.wav").stat().st_mtime_ns == stamp


def test_batch_multi_output_layout(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "x").mkdir(parents=True)
    tone(src / "x" / "take.wav")
    preset = tmp_path / "split.json"
    preset.write_text(json.dumps({"restora_preset": 1, "name": "split", "nodes": [
        {"id": "g", "type": "gain", "params": {"gain_db": -6}}], "outputs": {"t": "g", "r": "g.residual"}}))
    rc, _, err = restora("batch", src, "-o", out, "--preset", preset)
    assert rc == 0, err
    assert sorted(p.name for p in (out / "x" / "take").iterdir()) == ["r.wav", "t.wav"]


def interruptible() -> None:
    """``preexec_fn`` for a child the test interrupts: SIGINT back to its default. A test run started in the
    background of a non-interactive shell has SIGINT ignored, and a child would inherit that and never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_batch_ctrl_c_leaves_no_partial_output(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        tone(src / f"f{i}.wav", seconds=120, channels=2)
    proc = subprocess.Popen([sys.executable, "-m", "restora.cli.main", "batch", str(src), "-o", str(out),
                             "--preset", "loudness-podcast"], stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    deadline = time.time() + 120
    while time.time() < deadline and not any(out.rglob(".*restora-part*")) if out.exists() else True:
        time.sleep(0.05)
        if time.time() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    leftovers = [p.name for p in out.rglob("*") if p.is_file()] if out.exists() else []
    for name in leftovers:
        assert not name.startswith("."), f"temporary file left: {name}"
        info = sf.info(out / name)
        assert info.frames == 120 * SR  # only complete files stay


def test_version_and_presets_and_models_list():
    rc, out, _ = restora("--version")
    assert rc == 0 and out.startswith("restora ")
    rc, out, _ = restora("presets")
    assert rc == 0 and "dialogue-isolate" in out and "speech, background" in out
    rc, out, _ = restora("models", "list")
    assert rc in (0, 5) and "deepfilternet3" in out


def test_analyze_json_keys(tmp_path):
    src = tone(tmp_path / "in.wav")
    rc, out, err = restora("analyze", src, "--json", "--no-dnsmos")
    assert rc == 0, err
    data = json.loads(out)
    assert set(data) == {"duration_s", "sample_rate", "channels", "lufs", "true_peak_db", "bandwidth_hz", "dnsmos"}
    assert set(data["dnsmos"]) == {"sig", "bak", "ovrl", "p808"}
    assert data["sample_rate"] == SR and data["channels"] == 2 and data["duration_s"] == 2.0
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros((SR, 1), np.float32), SR)
    data = json.loads(restora("analyze", silent, "--json", "--no-dnsmos")[1])
    assert data["lufs"] is None and data["true_peak_db"] is None


def test_bwf_timecode_survives_processing_and_resampling(tmp_path):
    from restora.dsp.audio_io import AudioWriter, Bext, probe

    src = tmp_path / "take.wav"
    with AudioWriter(src, 48000, 1, bit_depth=24, bext=Bext(description="scene 4", time_reference=48000 * 3600),
                     tags={"title": "Scene 4"}) as w:
        w.write(0.1 * np.ones((48000, 1), np.float32))
    rc, _, err = restora("process", src, "-o", tmp_path / "out.wav", "--preset", "loudness-podcast",
                         "--sample-rate", "44100")
    assert rc == 0, err
    info = probe(tmp_path / "out.wav")
    assert info.bext is not None and info.bext.description == "scene 4"
    assert info.bext.time_reference_s(44100) == 3600.0 and info.tags.get("title") == "Scene 4"


def test_batch_with_a_model_preset_in_parallel_with_report(tmp_path):
    # DFN3 hands out empty blocks first (look-ahead); the report's meters must cope.
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name in ("one.wav", "two.flac"):
        sf.write(src / name, (0.05 * rng.standard_normal((SR * 3, 1))).astype(np.float32), SR)
    report = tmp_path / "r.csv"
    rc, _, err = restora("batch", src, "-o", out, "--preset", "dialogue-isolate", "--jobs", "2",
                         "--report", report)
    assert rc == 0, err
    rows = list(csv.DictReader(report.open()))
    assert [Path(r["input"]).name for r in rows] == ["one.wav", "two.flac"]
    assert all(r["status"] == "ok" and r["dnsmos_ovrl_after"] for r in rows)
    assert sorted(p.name for p in (out / "two").iterdir()) == ["background.flac", "speech.flac"]


def test_a_bug_in_a_node_is_one_line_not_a_traceback(tmp_path, capsys):
    from restora.graph.node import Node
    from restora.graph.registry import register_node_type

    class BrokenNode(Node):
        type_name = "test-broken"

        def process(self, block):
            raise RuntimeError("boom")

    register_node_type("test-broken", BrokenNode)
    preset = tmp_path / "broken.json"
    preset.write_text(json.dumps({"restora_preset": 1, "name": "b", "nodes": [{"id": "x", "type": "test-broken"}],
                                  "outputs": {"main": "x"}}))
    good = tone(tmp_path / "good.wav")
    rc, _, err = run_in_process(capsys, "process", good, "-o", tmp_path / "o.wav", "--preset", preset)
    assert rc == 1 and "internal error: RuntimeError: boom" in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists() and not list(tmp_path.glob(".o.wav*"))


@pytest.mark.parametrize("preset", ["gain", "loudness-podcast"])  # writer / disk spool fails first
def test_a_refused_write_mid_file_leaves_nothing(tmp_path, preset):
    import resource

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    src = tone(tmp_path / "in.wav", seconds=5, subtype="FLOAT")
    if preset == "gain":
        preset = tmp_path / "gain.json"
        preset.write_text(json.dumps({"restora_preset": 1, "name": "g", "nodes": [
            {"id": "g", "type": "gain", "params": {"gain_db": -3}}], "outputs": {"main": "g"}}))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-m", "restora.cli.main", "process", str(src), "-o",
                           str(out / "o.wav"), "--preset", str(preset), "--bit-depth", "float"],
                          capture_output=True, text=True, preexec_fn=limit_file_size, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "file-size limit reached" in proc.stderr and "Traceback" not in proc.stderr
    assert list(out.iterdir()) == []


def test_temporary_names_carry_the_host_and_other_hosts_files_are_left_to_them(tmp_path):
    from restora.dsp import partial_files

    host = partial_files.host_tag()
    assert partial_files.part_prefix(tmp_path / "a.wav") == f".a.wav.restora-part-{host}-{os.getpid()}-"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours = tmp_path / f".a.wav.restora-part-{host}-{dead.pid}-abcd"
    theirs = tmp_path / f".b.wav.restora-part-othernode-{dead.pid}-efgh"  # maybe still writing there
    for path in (ours, theirs):
        path.write_bytes(b"half a file")
    assert partial_files.remove_leftovers(tmp_path) == 1 and not ours.exists() and theirs.exists()
    other = tmp_path / f".c.wav.restora-part-othernode-{os.getpid()}-ijkl"
    other.write_bytes(b"half")
    # once the batch owning b.wav has ended, its leftovers go whoever wrote them; c.wav is not its output
    assert partial_files.remove_parts_of([tmp_path / "b.wav"]) == 1 and not theirs.exists() and other.exists()


def test_leftovers_of_a_killed_run_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    src, out = tmp_path / "in", tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    src.mkdir()
    tone(src / "a.wav")
    stale_file = out / "sub" / f".x.wav.restora-part-{dead.pid}-abcd"
    stale_file.write_bytes(b"half a file")
    stale_spool = out / f".restora-spool-{dead.pid}-efgh"
    stale_spool.mkdir()
    (stale_spool / "level.f32").write_bytes(b"\0" * 64)
    live = out / f".y.wav.restora-part-{os.getpid()}-ijkl"  # another run still writing
    live.write_bytes(b"in progress")
    rc, _, err = restora("batch", src, "-o", out, "--preset", "loudness-podcast")
    assert rc == 0, err
    assert not stale_file.exists() and not stale_spool.exists() and live.exists()
    assert (out / "a.wav").is_file()


def test_models_fetch_takes_ids_after_force(capsys):
    from restora.cli.main import main as cli_main

    assert cli_main(["models", "fetch", "--force", "eq-predictor"]) == 0
    with pytest.raises(SystemExit) as exc:
        cli_main(["models", "list", "eq-predictor", "--bogus"])
    assert exc.value.code == 2


def test_help_and_version_load_no_signal_or_model_libraries():
    """``restora --help`` / ``--version`` build the whole parser; that must not import scipy or onnxruntime
    (about a second of start-up in the app bundle before this was kept lazy)."""
    code = ("import sys; from restora.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('scipy', 'onnxruntime', 'soundfile', 'PySide6') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout
