"""Export and batch from the GUI: what gets written, what is left after errors and cancels."""

from __future__ import annotations

import errno
import hashlib
import json
import sys
import threading

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from restora.app.batch_dialog import BatchDialog
from restora.app.export_dialog import ExportDialog
from restora.app.export_job import (BatchItem, default_destinations, eta_seconds, export_lanes,
                                    overall_fraction)
from restora.app.jobs import Job
from restora.errors import AudioOutputError, Cancelled, UsageError
from restora.graph.file_job import OutputOptions, process_array
from restora.graph.node import Node
from restora.graph.preset import load_preset
from restora.graph.registry import register_node_type

RATE = 16000
FLOAT = OutputOptions(bit_depth="float")


class GateNode(Node):
    """Passes audio through, but holds its first block until the test opens ``gate``."""

    type_name = "test-gate"
    gate = threading.Event()
    entered = threading.Event()

    def process(self, block):
        GateNode.entered.set()
        GateNode.gate.wait(20)
        return {"main": block}


register_node_type("test-gate", GateNode)


@pytest.fixture(autouse=True)
def isolated_settings(qapp, tmp_path):
    """QSettings under tmp_path and a test organisation: the user's settings are never touched."""
    names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QCoreApplication.setOrganizationName("restora-tests")
    QCoreApplication.setApplicationName("export-batch")
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    GateNode.gate.clear()
    GateNode.entered.clear()
    yield
    GateNode.gate.set()
    QCoreApplication.setOrganizationName(names[0])
    QCoreApplication.setApplicationName(names[1])


@pytest.fixture
def errors(monkeypatch):
    """Messages the dialogs would show in a warning box (patched, so nothing blocks)."""
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    return shown


def _preset(tmp_path, nodes=None, outputs=None, name="p"):
    nodes = nodes or [{"id": "g", "type": "gain", "params": {"gain_db": -6}},
                      {"id": "h", "type": "highpass", "input": "g", "params": {"cutoff_hz": 200}}]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"restora_preset": 1, "name": name, "nodes": nodes,
                                "outputs": outputs or {"main": nodes[-1]["id"]}}))
    return load_preset(path)


def _gate_preset(tmp_path):
    return _preset(tmp_path, [{"id": "slow", "type": "test-gate"}], name="gate")


def _audio(seconds=1.5, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((int(seconds * RATE), channels)) * 0.1).astype(np.float32)


def _write(path, audio, subtype="FLOAT"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, RATE, subtype=subtype)
    return path


def _read(path):
    return sf.read(path, dtype="float32", always_2d=True)[0]


def _files(folder):
    """Every file under ``folder`` (hidden temporary files included), relative names."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _fingerprint(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


# -- export_lanes -------------------------------------------------------------------

def test_exported_main_lane_equals_processing_in_memory(tmp_path):
    audio = _audio()
    src = _write(tmp_path / "in.wav", audio)
    preset = _preset(tmp_path)
    out = tmp_path / "out" / "main.wav"
    written = export_lanes(src, preset, {"main": out}, FLOAT, block_frames=5000)
    assert written == {"main": out}
    expected = process_array(preset, audio, RATE)[0]["main"]
    np.testing.assert_allclose(_read(out), expected, atol=1e-6)
    assert sf.info(out).subtype == "FLOAT" and sf.info(out).samplerate == RATE


def test_several_lanes_and_removed_is_input_minus_main(tmp_path):
    audio = _audio()
    src = _write(tmp_path / "in.wav", audio)
    preset = _preset(tmp_path, outputs={"main": "h", "gained": "g"})
    dests = default_destinations(src, ["main", "gained", "removed"], tmp_path / "stems", "wav")
    assert dests["removed"] == tmp_path / "stems" / "in-removed.wav"
    export_lanes(src, preset, dests, FLOAT)
    main, gained, removed = (_read(dests[n]) for n in ("main", "gained", "removed"))
    np.testing.assert_allclose(gained, audio * 10 ** (-6 / 20), atol=1e-6)
    np.testing.assert_allclose(removed, audio - main, atol=1e-6)
    assert np.abs(removed).max() > 0.01  # the highpass did take something away


def test_selection_export_keeps_the_original_outside_the_scope(tmp_path):
    audio = _audio(seconds=2.0)
    src = _write(tmp_path / "in.wav", audio)
    preset = _preset(tmp_path)
    out = tmp_path / "sel.wav"
    export_lanes(src, preset, {"main": out}, FLOAT, scope=(8000, 24000))
    got = _read(out)
    np.testing.assert_array_equal(got[:8000], audio[:8000])
    np.testing.assert_array_equal(got[24000:], audio[24000:])
    processed = process_array(preset, audio, RATE)[0]["main"]
    np.testing.assert_allclose(got[9000:23000], processed[9000:23000], atol=1e-6)


def test_bit_depth_and_rate_follow_the_options_else_the_source(tmp_path):
    src = _write(tmp_path / "in.wav", _audio(), subtype="PCM_16")
    preset = _preset(tmp_path)
    export_lanes(src, preset, {"main": tmp_path / "same.flac"}, OutputOptions())
    export_lanes(src, preset, {"main": tmp_path / "other.wav"}, OutputOptions(bit_depth=24, sample_rate=8000))
    assert (sf.info(tmp_path / "same.flac").subtype, sf.info(tmp_path / "same.flac").samplerate) == ("PCM_16", RATE)
    info = sf.info(tmp_path / "other.wav")
    assert (info.subtype, info.samplerate) == ("PCM_24", 8000)
    assert abs(info.frames - len(_audio()) // 2) <= 2


def test_cancelled_export_leaves_no_file_and_no_temporary_file(tmp_path):
    src = _write(tmp_path / "in" / "in.wav", _audio(seconds=3.0))
    out = tmp_path / "out"
    cancel = threading.Event()

    def progress(fraction):
        cancel.set()  # cancel as soon as the first block has been written

    with pytest.raises(Cancelled):
        export_lanes(src, _preset(tmp_path), default_destinations(src, ["main", "removed"], out, "wav"),
                     FLOAT, cancel=cancel, progress=progress, block_frames=4000)
    assert not out.exists() or _files(out) == []


def test_disk_full_is_a_plain_error_and_leaves_nothing(tmp_path, monkeypatch):
    src = _write(tmp_path / "in.wav", _audio())
    out = tmp_path / "out"
    out.mkdir()

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", full)
    with pytest.raises(AudioOutputError, match="disk full"):
        export_lanes(src, _preset(tmp_path), {"main": out / "a.wav", "removed": out / "b.wav"}, FLOAT)
    assert _files(out) == []


def test_the_input_is_never_modified_nor_overwritten(tmp_path):
    src = _write(tmp_path / "in.wav", _audio())
    before = _fingerprint(src)
    preset = _preset(tmp_path)
    export_lanes(src, preset, {"main": tmp_path / "out.wav"}, FLOAT)
    with pytest.raises(AudioOutputError, match="input file"):
        export_lanes(src, preset, {"main": src}, OutputOptions(overwrite=True))
    assert _fingerprint(src) == before
    assert _files(tmp_path) == ["in.wav", "out.wav", "p.json"]


def test_unknown_lane_and_bad_selection_are_refused(tmp_path):
    src = _write(tmp_path / "in.wav", _audio())
    preset = _preset(tmp_path)
    with pytest.raises(UsageError, match="no output 'vocals'"):
        export_lanes(src, preset, {"vocals": tmp_path / "v.wav"}, FLOAT)
    with pytest.raises(UsageError, match="selection"):
        export_lanes(src, preset, {"main": tmp_path / "m.wav"}, FLOAT, scope=(5000, 5000))
    assert not (tmp_path / "m.wav").exists()


def test_default_destinations_one_file_or_a_folder(tmp_path):
    src = tmp_path / "take.flac"
    assert default_destinations(src, ["main"], tmp_path / "x.wav", "flac") == {"main": tmp_path / "x.flac"}
    several = default_destinations(src, ["main", "removed"], tmp_path / "x.wav", None)
    assert several == {"main": tmp_path / "take-main.flac", "removed": tmp_path / "take-removed.flac"}
    with pytest.raises(UsageError):
        default_destinations(src, [], tmp_path, "wav")


def test_batch_progress_and_eta_come_from_processed_audio_seconds():
    items = [BatchItem(None, 30.0, "done", fraction=1.0), BatchItem(None, 60.0, "queued", fraction=0.5),
             BatchItem(None, 90.0, "queued"), BatchItem(None, 500.0, "skipped")]
    assert overall_fraction(items) == pytest.approx(60 / 180)
    assert eta_seconds(items, elapsed_s=20.0) == pytest.approx(40.0)
    assert eta_seconds([BatchItem(None, 10.0)], elapsed_s=5.0) is None


# -- Job ----------------------------------------------------------------------------

def _run_job(qtbot, work, **kwargs):
    job = Job(work, **kwargs)
    got = {"progress": [], "end": None}
    job.progress.connect(got["progress"].append)
    job.finished.connect(lambda r: got.update(end=("finished", r)))
    job.failed.connect(lambda m: got.update(end=("failed", m)))
    job.cancelled.connect(lambda: got.update(end=("cancelled", None)))
    job.start()
    qtbot.waitUntil(lambda: got["end"] is not None, timeout=10000)
    return got


def test_job_errors_become_plain_messages(qtbot):
    def bug(cancel, progress):
        raise ValueError("boom")

    def refused(cancel, progress):
        raise AudioOutputError("cannot write x.wav: disk full")

    def stopped(cancel, progress):
        raise Cancelled("cancelled")

    assert _run_job(qtbot, bug)["end"] == ("failed", "Unexpected error: ValueError: boom")
    assert _run_job(qtbot, refused)["end"] == ("failed", "cannot write x.wav: disk full")
    assert _run_job(qtbot, stopped)["end"] == ("cancelled", None)
    assert _run_job(qtbot, lambda c, p: 42)["end"] == ("finished", 42)


def test_job_progress_is_throttled_so_the_gui_is_not_flooded(qtbot):
    def chatty(cancel, progress):
        for i in range(200_000):
            progress(i / 200_000)
        return "ok"

    got = _run_job(qtbot, chatty)
    assert got["end"] == ("finished", "ok")
    # 200k reports in well under the seconds needed for 100 throttled (20 Hz) events.
    assert 1 <= len(got["progress"]) < 100


def test_many_signal_emits_and_event_loop_turns_do_not_wear_out_true_or_none(qtbot):
    # PySide6 6.12.0 hands back True/None from emit() and void calls without owning
    # them; a long session ends in "Fatal Python error: bool_dealloc" (hence the pin).
    job = Job(lambda c, p: None)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(20_000):
        job.progress.emit(0.5)
        QCoreApplication.processEvents()
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert abs(after[0] - before[0]) < 100 and abs(after[1] - before[1]) < 1000


# -- ExportDialog ----------------------------------------------------------------------

def _export_dialog(qtbot, src, preset, selection=None):
    dialog = ExportDialog(src, preset, ["main", "removed"], RATE, selection)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_export_dialog_writes_the_chosen_file_and_remembers_the_folder(qtbot, tmp_path):
    audio = _audio()
    src = _write(tmp_path / "in.wav", audio)
    preset = _preset(tmp_path)
    dialog = _export_dialog(qtbot, src, preset)
    assert dialog.dest_edit.text() == str(tmp_path / "in-restored.wav")
    assert dialog.rate_combo.currentText() == f"Source ({RATE} Hz)"
    assert dialog.depth_combo.currentData() == "float"  # the source's
    assert dialog.lane_boxes["main"].isChecked() and not dialog.lane_boxes["removed"].isChecked()
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    dialog.set_destination(out_dir / "clean.wav")
    with qtbot.waitSignal(dialog.exported, timeout=20000) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == {"main": out_dir / "clean.wav"}
    np.testing.assert_allclose(_read(out_dir / "clean.wav"), process_array(preset, audio, RATE)[0]["main"],
                               atol=1e-6)
    again = _export_dialog(qtbot, src, preset)
    assert again.dest_edit.text() == str(out_dir / "in-restored.wav")


def test_export_dialog_format_rate_and_selection(qtbot, tmp_path):
    t = np.arange(2 * RATE) / RATE
    audio = np.stack([0.5 * np.sin(2 * np.pi * 1000 * t)] * 2, axis=1).astype(np.float32)
    src = _write(tmp_path / "in.wav", audio)
    dialog = _export_dialog(qtbot, src, _preset(tmp_path), selection=(8000, 24000))
    dialog.format_combo.setCurrentText("flac")
    assert dialog.dest_edit.text().endswith("in-restored.flac")
    assert [dialog.depth_combo.itemData(i) for i in range(dialog.depth_combo.count())] == [16, 24]
    dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findData(16))
    dialog.rate_combo.setCurrentIndex(dialog.rate_combo.findData(8000))
    dialog.selection_radio.setChecked(True)
    with qtbot.waitSignal(dialog.exported, timeout=20000):
        dialog.export_button.click()
    info = sf.info(tmp_path / "in-restored.flac")
    assert (info.subtype, info.samplerate) == ("PCM_16", 8000)
    got = _read(tmp_path / "in-restored.flac")
    # 8 kHz frames: the original level outside the selection (0-0.5 s, 1.5-2 s), -6 dB inside.
    rms = [float(np.sqrt(np.mean(got[a:b] ** 2))) for a, b in ((500, 3500), (4500, 11500), (12500, 15500))]
    assert rms == pytest.approx([0.5 / np.sqrt(2), 0.25 / np.sqrt(2), 0.5 / np.sqrt(2)], rel=0.03)


def test_export_dialog_cancel_leaves_no_files_and_stays_open(qtbot, tmp_path):
    src = _write(tmp_path / "in" / "in.wav", _audio())
    out = tmp_path / "out"
    out.mkdir()
    dialog = _export_dialog(qtbot, src, _gate_preset(tmp_path))
    dialog.set_lanes(["main", "removed"])
    dialog.set_destination(out)
    dialog.export_button.click()
    qtbot.waitUntil(GateNode.entered.is_set, timeout=10000)
    assert dialog.busy and dialog.cancel_button.text() == "Cancel"
    dialog.cancel_button.click()
    GateNode.gate.set()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10000)
    assert "cancelled" in dialog.status_label.text()
    assert dialog.isVisible() and dialog.export_button.isEnabled()
    assert _files(out) == []


def test_export_dialog_shows_a_disk_full_error_and_stays_usable(qtbot, tmp_path, monkeypatch, errors):
    src = _write(tmp_path / "in.wav", _audio())
    out = tmp_path / "out"
    out.mkdir()
    before = _fingerprint(src)
    dialog = _export_dialog(qtbot, src, _preset(tmp_path))
    dialog.set_destination(out / "x.wav")
    monkeypatch.setattr(sf.SoundFile, "write",
                        lambda self, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert errors == [f"disk full while writing {out / 'x.wav'}"]
    assert dialog.isVisible() and dialog.export_button.isEnabled() and not dialog.busy
    assert _files(out) == [] and _fingerprint(src) == before


def test_export_dialog_refuses_the_input_as_destination(qtbot, tmp_path, errors):
    src = _write(tmp_path / "in.wav", _audio())
    before = _fingerprint(src)
    dialog = _export_dialog(qtbot, src, _preset(tmp_path))
    dialog.set_destination(src)
    dialog.export_button.click()
    assert errors and "input file" in errors[0]
    assert not dialog.busy and _fingerprint(src) == before


# -- BatchDialog ------------------------------------------------------------------------

def _batch_tree(tmp_path):
    root = tmp_path / "in"
    _write(root / "a.wav", _audio(seconds=0.5, seed=1))
    _write(root / "sub" / "b.wav", _audio(seconds=0.5, seed=2))
    bad = root / "sub" / "c.wav"
    bad.write_bytes(b"RIFF this is not a wave file at all")
    return root


def _batch_dialog(qtbot, provider=lambda: None):
    dialog = BatchDialog(provider)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_batch_processes_good_files_reports_the_bad_one_and_mirrors_the_tree(qtbot, tmp_path):
    root = _batch_tree(tmp_path)
    inputs = {p: _fingerprint(p) for p in root.rglob("*.wav")}
    out = tmp_path / "out"
    preset = _preset(tmp_path)
    dialog = _batch_dialog(qtbot, provider=lambda: preset)
    assert not dialog.isModal()
    dialog.set_folders(root, out)
    with qtbot.waitSignal(dialog.finished_batch, timeout=30000) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    summary = blocker.args[0]
    assert (summary["done"], summary["failed"], summary["cancelled"]) == (2, 1, 0)
    assert dialog.status_of(root / "a.wav").startswith("done in ")
    assert dialog.status_of(root / "sub" / "c.wav").startswith("failed: ")
    assert "c.wav" in dialog.status_of(root / "sub" / "c.wav")
    assert _files(out) == ["a.wav", "sub/b.wav"]
    np.testing.assert_allclose(_read(out / "sub" / "b.wav"),
                               process_array(preset, _read(root / "sub" / "b.wav"), RATE)[0]["main"], atol=1e-6)
    assert dialog.table.rowCount() == 3 and dialog.progress_bar.value() == 1000
    assert {p: _fingerprint(p) for p in root.rglob("*.wav")} == inputs


def test_batch_skip_existing_and_remembered_output_folder(qtbot, tmp_path):
    root = _batch_tree(tmp_path)
    out = tmp_path / "out"
    _write(out / "a.wav", _audio(seconds=0.1))
    dialog = _batch_dialog(qtbot)
    dialog.set_folders(root, out)
    _preset(tmp_path)
    dialog.set_preset(str(tmp_path / "p.json"))
    dialog.skip_check.setChecked(True)
    with qtbot.waitSignal(dialog.finished_batch, timeout=30000) as blocker:
        dialog.start()
    assert (blocker.args[0]["skipped"], blocker.args[0]["done"]) == (1, 1)
    assert dialog.status_of(root / "a.wav") == "skipped: outputs exist"
    assert len(_read(out / "a.wav")) == int(0.1 * RATE)  # untouched
    assert _batch_dialog(qtbot).output_edit.text() == str(out)


def test_cancelled_batch_marks_the_rest_and_leaves_no_half_written_output(qtbot, tmp_path):
    root = _batch_tree(tmp_path)
    out = tmp_path / "out"
    gate = _gate_preset(tmp_path)
    dialog = _batch_dialog(qtbot, provider=lambda: gate)
    dialog.set_folders(root, out)
    dialog.start()
    qtbot.waitUntil(GateNode.entered.is_set, timeout=10000)
    assert dialog.status_of(root / "a.wav").startswith("running")
    assert not dialog.start_button.isEnabled()
    with qtbot.waitSignal(dialog.finished_batch, timeout=20000) as blocker:
        dialog.cancel_button.click()
        GateNode.gate.set()
    assert blocker.args[0]["cancelled"] == 3
    assert [dialog.status_of(p) for p in sorted(root.rglob("*.wav"))] == ["cancelled"] * 3
    assert not out.exists() or _files(out) == []
    assert dialog.start_button.isEnabled()


def test_batch_without_a_chain_or_folder_explains_and_keeps_running(qtbot, tmp_path, errors):
    dialog = _batch_dialog(qtbot)
    dialog.set_folders(tmp_path / "missing", tmp_path / "out")
    dialog.start()
    assert errors[-1].endswith("not a folder")
    root = _batch_tree(tmp_path)
    dialog.set_folders(root, tmp_path / "out")
    dialog.start()
    assert "no chain in the editor" in errors[-1]
    dialog.set_folders(root, root)
    dialog.set_preset("loudness-podcast")
    dialog.start()
    assert "output folder is the input folder" in errors[-1]
    assert not dialog.running and dialog.isVisible()


def test_a_sum_of_lanes_is_written_as_one_file(tmp_path):
    audio = _audio()
    src = _write(tmp_path / "in.wav", audio)
    preset = _preset(tmp_path, outputs={"main": "h", "gained": "g"})
    out = tmp_path / "sum.wav"
    export_lanes(src, preset, {"main+gained": out}, FLOAT)
    parts = process_array(preset, audio, RATE)[0]
    np.testing.assert_allclose(_read(out), parts["main"] + parts["gained"], atol=1e-6)
    with pytest.raises(UsageError, match="drums"):
        export_lanes(src, preset, {"main+drums": tmp_path / "x.wav"}, FLOAT)


def test_export_dialog_sums_the_chosen_lanes_into_one_file(qtbot, tmp_path):
    audio = _audio()
    src = _write(tmp_path / "in.wav", audio)
    preset = _preset(tmp_path)  # one output: lanes main and removed
    dialog = _export_dialog(qtbot, src, preset)
    dialog.lane_boxes["removed"].setChecked(True)
    dialog.sum_check.setChecked(True)
    dialog.set_destination(tmp_path / "both.wav")
    with qtbot.waitSignal(dialog.exported, timeout=20000) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == {"main+removed": tmp_path / "both.wav"}
    np.testing.assert_allclose(_read(tmp_path / "both.wav"), audio, atol=1e-6)  # main + removed = input
