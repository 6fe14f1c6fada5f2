"""``restora batch --engine ray`` on a real local Ray instance: same results as the local engine,
workers killed mid-file, --skip-existing, and the messages when Ray is missing or misused.

Runs the CLI in this process (so it joins the module's Ray instance instead of starting one per test).
"""

from __future__ import annotations

import csv
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_cli import interruptible
from test_cli import run_in_process as restora

SR = 44100


def tone(path: Path, seconds=1.5, freq=440.0, channels=2, subtype="PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * freq * t)
    sf.write(path, np.repeat(x[:, None], channels, axis=1), SR, subtype=subtype)
    return path


def make_inputs(root: Path) -> None:
    tone(root / "a.wav")
    tone(root / "b.wav", freq=220.0, channels=1)
    tone(root / "sub" / "c.flac", freq=330.0)
    (root / "sub" / "broken.wav").write_text("not audio")
    (root / "notes.txt").write_text("ignored")


def gain_preset(tmp: Path) -> Path:
    preset = tmp / "gain.json"
    preset.write_text(json.dumps({"restora_preset": 1, "name": "g", "nodes": [
        {"id": "g", "type": "gain", "params": {"gain_db": -3}}], "outputs": {"main": "g"}}))
    return preset


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob(".*")]


def report_rows(report: Path, out: Path) -> list[dict]:
    rows = []
    for row in csv.DictReader(report.open()):
        row.pop("real_time_factor")  # timing
        row["outputs"] = row["outputs"].replace(str(out), "OUT")
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def test_ray_engine_equals_local_engine(ray_instance, tmp_path, capsys):
    src = tmp_path / "in"
    make_inputs(src)
    outs, reports = {}, {}
    for engine in ("local", "ray"):
        outs[engine], reports[engine] = tmp_path / f"out-{engine}", tmp_path / f"{engine}.csv"
        rc, _, err = restora(capsys, "batch", src, "-o", outs[engine], "--preset", "loudness-podcast",
                             "--engine", engine, "--report", reports[engine])
        assert rc == 4, err  # broken.wav failed, the others done
        assert "Traceback" not in err
    assert sorted(files(outs["ray"])) == ["a.wav", "b.wav", "sub/c.flac"]
    assert files(outs["ray"]) == files(outs["local"])
    ray_rows = report_rows(reports["ray"], outs["ray"])
    assert ray_rows == report_rows(reports["local"], outs["local"])
    assert [r["status"] for r in ray_rows] == ["ok", "ok", "failed", "ok"]
    assert ray_rows[0]["lufs_after"] and ray_rows[0]["outputs"] == "OUT/a.wav"


def test_a_worker_killed_mid_file_is_replaced_and_the_file_retried(ray_instance, tmp_path, capsys, caplog,
                                                                    monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    for name in ("a.wav", "b.wav", "c.wav"):
        tone(src / name, seconds=2.0)
    marker = tmp_path / "kill"
    marker.write_text("b.wav\n")
    monkeypatch.setenv("RESTORA_TEST_KILL_WORKER", str(marker))
    caplog.set_level(logging.INFO, logger="restora")
    rc, _, err = restora(capsys, "batch", src, "-o", out, "--preset", gain_preset(tmp_path), "--engine", "ray",
                         "--report", tmp_path / "r.csv")
    assert rc == 0, err
    assert not marker.exists()  # the hook fired: a worker died on b.wav
    assert "b.wav: the worker died" in caplog.text and "attempt 2 of 3" in caplog.text
    assert [r["status"] for r in csv.DictReader((tmp_path / "r.csv").open())] == ["ok"] * 3
    assert sorted(files(out)) == ["a.wav", "b.wav", "c.wav"] and hidden(out) == []
    expected, _ = sf.read(src / "b.wav")
    got, _ = sf.read(out / "b.wav")
    np.testing.assert_allclose(got, expected * 10 ** (-3 / 20), atol=1e-4)


def test_a_file_that_kills_every_worker_fails_and_the_others_complete(ray_instance, tmp_path, capsys,
                                                                      monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    for name in ("a.wav", "b.wav", "c.wav"):
        tone(src / name)
    marker = tmp_path / "kill"
    marker.write_text("b.wav\nalways\n")
    monkeypatch.setenv("RESTORA_TEST_KILL_WORKER", str(marker))
    rc, _, err = restora(capsys, "batch", src, "-o", out, "--preset", gain_preset(tmp_path), "--engine", "ray",
                         "--report", tmp_path / "r.csv")
    assert rc == 4, err
    assert "Traceback" not in err
    rows = {Path(r["input"]).name: r for r in csv.DictReader((tmp_path / "r.csv").open())}
    assert rows["a.wav"]["status"] == rows["c.wav"]["status"] == "ok"
    assert rows["b.wav"]["status"] == "failed" and "died 3 times" in rows["b.wav"]["error"]
    assert sorted(files(out)) == ["a.wav", "c.wav"]
    assert hidden(out) == []  # the last attempt's half-written file is gone too


def test_skip_existing_with_ray(ray_instance, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    tone(src / "a.wav")
    tone(src / "sub" / "b.wav")
    preset = gain_preset(tmp_path)
    rc, _, err = restora(capsys, "batch", src, "-o", out, "--preset", preset, "--engine", "ray")
    assert rc == 0, err
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    assert len(stamps) == 2
    tone(src / "new.wav")
    report = tmp_path / "r.csv"
    rc, _, err = restora(capsys, "batch", src, "-o", out, "--preset", preset, "--engine", "ray",
                         "--skip-existing", "--report", report)
    assert rc == 0, err
    rows = {Path(r["input"]).name: r["status"] for r in csv.DictReader(report.open())}
    assert rows == {"a.wav": "skipped", "b.wav": "skipped", "new.wav": "ok"}
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps and (out / "new.wav").is_file()


def test_engine_ray_without_ray_says_how_to_install(tmp_path, capsys, monkeypatch):
    src = tmp_path / "in"
    tone(src / "a.wav")
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" raises ImportError
    rc, _, err = restora(capsys, "batch", src, "-o", tmp_path / "out", "--preset", gain_preset(tmp_path),
                         "--engine", "ray")
    assert rc == 2 and "pip install 'restora[cluster]'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_address_nothing_answers_on_fails_fast(tmp_path, capsys):
    import socket
    import time

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    src = tmp_path / "in"
    tone(src / "a.wav")
    started = time.monotonic()
    rc, _, err = restora(capsys, "batch", src, "-o", tmp_path / "out", "--preset", gain_preset(tmp_path),
                         "--engine", "ray", "--address", f"127.0.0.1:{port}")
    assert rc == 2 and "no Ray cluster answers" in err and "Traceback" not in err
    assert time.monotonic() - started < 30 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", [["--address", "auto"], ["--cpus-per-job", "2"], ["--gpus-per-job", "1"]])
def test_ray_options_need_engine_ray(tmp_path, capsys, option):
    src = tmp_path / "in"
    tone(src / "a.wav")
    rc, _, err = restora(capsys, "batch", src, "-o", tmp_path / "out", "--preset", gain_preset(tmp_path), *option)
    assert rc == 2 and option[0] in err and "--engine ray" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_ctrl_c_with_ray_cancels_and_leaves_no_partial_output(tmp_path):
    # Its own process (and Ray instance, started by the command): SIGINT as a user's Ctrl-C.
    pytest.importorskip("ray")
    src, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "r.csv"
    for i in range(3):
        tone(src / f"f{i}.wav", seconds=60)
    proc = subprocess.Popen([sys.executable, "-m", "restora.cli.main", "batch", str(src), "-o", str(out),
                             "--preset", "loudness-podcast", "--engine", "ray", "--report", str(report)],
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    deadline = time.time() + 90
    while time.time() < deadline and not (out.is_dir() and any(out.glob(".*restora-part*"))):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and hidden(out) == []
    statuses = {Path(r["input"]).name: r["status"] for r in csv.DictReader(report.open())}
    assert "cancelled" in statuses.values()
    for name in files(out):
        assert statuses[name] == "ok" and sf.info(out / name).frames == 60 * SR  # only complete files stay
