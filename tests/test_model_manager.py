"""The model manager dialog driven like a user would (pytest-qt, offscreen): drop a file, see it, remove it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

import byo_models
from restora.app.graph_editor import Palette
from restora.app.model_manager import ModelManagerDialog


@pytest.fixture
def dialog(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORA_MODELS", str(tmp_path / "store"))
    widget = ModelManagerDialog()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _ids(dialog):
    return [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]


def _drop(widget, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    widget.dropEvent(event)


def test_dropping_an_onnx_file_adds_it_and_the_palette_offers_it(dialog, qtbot, tmp_path):
    byo_models.write_waveform_gain(tmp_path / "air.onnx", channels=1)
    palette = Palette()
    qtbot.addWidget(palette)
    dialog.models_changed.connect(palette.refresh)
    assert "gtcrn" in _ids(dialog) and "air" not in _ids(dialog)
    dialog.rate.setValue(16000)  # the file does not say its rate
    with qtbot.waitSignal(dialog.models_changed, timeout=60000):
        _drop(dialog, tmp_path / "air.onnx")
    assert "air" in _ids(dialog) and "Added 'air'" in dialog.status.text()
    listed = [palette.list.item(r).text() for r in range(palette.list.count())]
    assert any(text.startswith("model:air") for text in listed)


def test_a_rejected_file_is_one_sentence_and_the_dialog_stays_usable(dialog, qtbot, tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model at all")
    dialog.add_file(tmp_path / "junk.onnx")
    qtbot.waitUntil(lambda: "was not added" in dialog.status.text(), timeout=30000)
    assert "junk.onnx was not added" in dialog.status.text() and "Traceback" not in dialog.status.text()
    assert "junk" not in _ids(dialog)
    assert dialog.add_button.isEnabled()


def test_a_card_file_supplies_the_contract(dialog, qtbot, tmp_path):
    import json

    byo_models.write_waveform_gain(tmp_path / "c.onnx", channels=1)
    (tmp_path / "c.json").write_text(json.dumps({"format": 1, "licence": "CC0", "contract": {"sample_rate": 22050}}))
    dialog.card.setText(str(tmp_path / "c.json"))
    with qtbot.waitSignal(dialog.models_changed, timeout=60000):
        dialog.add_file(tmp_path / "c.onnx")
    row = _ids(dialog).index("c")
    assert dialog.table.item(row, 2).text() == "22050" and dialog.card.text() == ""


def test_remove_asks_and_bundled_models_stay(dialog, qtbot, tmp_path):
    byo_models.write_waveform_gain(tmp_path / "g.onnx", channels=1)
    dialog.rate.setValue(8000)
    with qtbot.waitSignal(dialog.models_changed, timeout=60000):
        dialog.add_file(tmp_path / "g.onnx")
    questions = []
    dialog.confirm = lambda text: questions.append(text) or True
    dialog.table.selectRow(_ids(dialog).index("g"))
    with qtbot.waitSignal(dialog.models_changed, timeout=5000):
        dialog.remove_selected()
    assert questions and "g" not in _ids(dialog)
    dialog.table.selectRow(_ids(dialog).index("gtcrn"))
    dialog.remove_selected()
    assert "cannot be removed" in dialog.status.text() and "gtcrn" in _ids(dialog)


def test_an_added_model_is_a_node_in_the_editor_with_its_card(dialog, qtbot, tmp_path):
    from restora.app.chain import ChainModel
    from restora.app.graph_editor import GraphEditor
    from restora.app.node_info import card_text, model_id_for

    byo_models.write_waveform_two_stem(tmp_path / "split.onnx", channels=2)
    dialog.rate.setValue(8000)
    dialog.stems.setText("drums,bass")
    with qtbot.waitSignal(dialog.models_changed, timeout=60000):
        dialog.add_file(tmp_path / "split.onnx")
    editor = GraphEditor(ChainModel())
    qtbot.addWidget(editor)
    editor.palette.select_type("model:split")
    editor.palette.add_button.click()
    assert editor.selected_node_id() is not None
    assert model_id_for("model:split") == "split"
    text = card_text("split")
    assert "added by you: waveform contract" in text and "stems: drums, bass" in text
