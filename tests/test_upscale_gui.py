"""The upscale node in the GUI palette: listed, added, its parameters rendered and editable."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt

from restora.app.chain import ChainModel
from restora.app.graph_editor import GraphEditor
from restora.app.param_widgets import TextParamWidget
from restora.app.settings import Settings
from restora.graph.node import ParameterError


@pytest.fixture
def editor(qtbot, tmp_path):
    widget = GraphEditor(ChainModel(), settings=Settings(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)))
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_upscale_is_in_the_palette_and_its_params_render(qtbot, editor):
    listed = [editor.palette.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(editor.palette.list.count())]
    assert "upscale" in listed
    editor.palette.select_type("upscale")
    editor.palette.add_button.click()
    node_id = editor.selected_node_id()
    widgets = editor.param_panel.widgets
    assert {"target_rate", "cutoff", "method"} <= set(widgets)
    assert widgets["target_rate"].value() == 48000 and widgets["method"].value() == "fold"
    cutoff = widgets["cutoff"]
    assert isinstance(cutoff, TextParamWidget) and cutoff.value() == "auto"
    cutoff.edit.setFocus()
    cutoff.edit.selectAll()
    qtbot.keyClicks(cutoff.edit, "8000")
    qtbot.keyClick(cutoff.edit, Qt.Key.Key_Return)
    assert editor.chain.node(node_id).params["cutoff"] == "8000"
    with pytest.raises(ParameterError):  # checked when set, not only when the chain runs
        editor.chain.set_param(node_id, "cutoff", "loud")
    assert editor.chain.node(node_id).params["cutoff"] == "8000"
