"""The processing-graph editor: palette, chain list, parameters, presets and node info.

:class:`GraphEditor` is a view of a :class:`~restora.app.chain.ChainModel`: user
actions call the model's (undoable) edit methods, and every widget is updated
from the model's signals only, so undo/redo show up exactly like edits.

Keyboard: in the chain list, Space toggles a node (checked = enabled,
unchecked = bypassed), Alt+Up / Alt+Down move it, Delete removes it; in the
palette, Enter adds the highlighted node type after the selected node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QMessageBox, QPushButton, QScrollArea, QSplitter,
                               QToolButton, QVBoxLayout, QWidget)

from restora.app.chain import ChainModel
from restora.app.node_info import NodeInfoPanel, type_summary
from restora.app.param_widgets import ParamPanel
from restora.app.settings import Settings
from restora.errors import RestoraError
from restora.graph.node import ParameterError
from restora.graph.preset import builtin_names, load_preset
from restora.graph.registry import node_types

ID_ROLE = Qt.ItemDataRole.UserRole
_PRESET_PLACEHOLDER = "Built-in preset…"
LEARNS_NOISE = frozenset({"de-noise-profile"})  # node types with a learn_start_s / learn_end_s range
MIN_LEARN_S = 0.1


class NodeList(QListWidget):
    """The chain, one checkable row per node; emits keyboard edit requests."""

    move_requested = Signal(int)  # -1 = up, +1 = down
    remove_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setAccessibleName("Processing chain")
        self.setToolTip("Checked nodes run, unchecked are bypassed. "
                        "Alt+Up/Alt+Down move the selected node, Delete removes it; drag to reorder.")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        alt = event.modifiers() & Qt.KeyboardModifier.AltModifier
        if alt and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.move_requested.emit(-1 if event.key() == Qt.Key.Key_Up else 1)
        elif event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.remove_requested.emit()
        else:
            super().keyPressEvent(event)


class Palette(QWidget):
    """Every node type the engine offers, filterable; emits ``add_requested(type_name)``."""

    add_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search node types")
        self.search.setAccessibleName("Search node types")
        self.list = QListWidget()
        self.list.setAccessibleName("Node types")
        self.refresh()
        self.add_button = QPushButton("&Add")
        self.add_button.setAccessibleName("Add node")
        self.add_button.setToolTip("Insert the highlighted node type after the selected node")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (QLabel("Node types"), self.search, self.list, self.add_button):
            layout.addWidget(widget)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._add_current)
        self.list.itemActivated.connect(self._add_current)
        self.add_button.clicked.connect(self._add_current)

    def refresh(self) -> None:
        """List the node types again (a model was added or removed), keeping the search filter."""
        self.list.clear()
        for type_name in node_types():
            summary = type_summary(type_name)
            item = QListWidgetItem(f"{type_name} — {summary}" if summary else type_name)
            item.setData(ID_ROLE, type_name)
            item.setToolTip(summary)
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        if hasattr(self, "search"):
            self._filter(self.search.text())

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(bool(needle) and needle not in item.text().lower())
        current = self.list.currentItem()
        if current is None or current.isHidden():
            visible = [self.list.item(r) for r in range(self.list.count()) if not self.list.item(r).isHidden()]
            self.list.setCurrentItem(visible[0] if visible else None)

    def select_type(self, type_name: str) -> None:
        """Highlight ``type_name`` (clearing the search)."""
        self.search.clear()
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == type_name:
                self.list.setCurrentRow(row)

    def current_type(self) -> str | None:
        """The highlighted, visible node type."""
        item = self.list.currentItem()
        return None if item is None or item.isHidden() else item.data(ID_ROLE)

    def _add_current(self, *_args) -> None:
        type_name = self.current_type()
        if type_name:
            self.add_requested.emit(type_name)


class GraphEditor(QWidget):
    """Edit a :class:`ChainModel`. Signal ``selected_node_changed(node_id)`` ("" when none).

    ``settings`` (the app's Settings; the user's when None) keeps recent texts
    such as extract queries. ``undo_action`` and ``redo_action`` are QActions on the model's undo stack
    for the host window's Edit menu (they carry no shortcut here, so the window
    can own Ctrl+Z without ambiguity).
    """

    selected_node_changed = Signal(str)

    def __init__(self, chain: ChainModel, parent: QWidget | None = None,
                 settings: Settings | None = None) -> None:
        super().__init__(parent)
        self.chain = chain
        self._rebuilding = False
        self.palette = Palette()
        self.node_list = NodeList()
        self.param_panel = ParamPanel(settings=settings)
        self.info_panel = NodeInfoPanel()
        self.status_label = QLabel()
        self.status_label.setAccessibleName("Editor messages")
        self.learn_button = QPushButton("Learn noise from &selection")
        self.learn_button.setAccessibleName("Learn noise from selection")
        self.learn_button.setToolTip("Use the selected time range (noise only) as this node's noise profile")
        self.learn_button.setVisible(False)
        #: ``selection() -> (start_s, end_s) | None``: the window's time selection (set by the host window).
        self.selection_provider: Callable[[], tuple[float, float] | None] = lambda: None
        self.undo_action = chain.undo_stack.createUndoAction(self, "Undo")
        self.redo_action = chain.undo_stack.createRedoAction(self, "Redo")
        self._build_layout()
        self._connect()
        self._rebuild_list()

    # -- layout -------------------------------------------------------------
    def _build_layout(self) -> None:
        chain_column = QWidget()
        column = QVBoxLayout(chain_column)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("Chain (first to last)"))
        column.addWidget(self.node_list, 1)
        details = QSplitter(Qt.Orientation.Vertical)
        params = QWidget()
        params_column = QVBoxLayout(params)
        params_column.setContentsMargins(0, 0, 0, 0)
        params_column.addWidget(self.param_panel, 1)
        params_column.addWidget(self.learn_button)
        details.addWidget(params)
        # Scrolled, so the card's long lines never squeeze the parameter form.
        info_scroll = QScrollArea()
        info_scroll.setWidgetResizable(True)
        info_scroll.setFrameShape(QScrollArea.NoFrame)
        info_scroll.setWidget(self.info_panel)
        details.addWidget(info_scroll)
        details.setStretchFactor(0, 3)  # the form needs the room; the card is a few lines
        details.setStretchFactor(1, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (self.palette, chain_column, details):
            splitter.addWidget(widget)
        splitter.setStretchFactor(2, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(self._presets_row())
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status_label)
        self.setAccessibleName("Processing graph editor")

    def _presets_row(self) -> QHBoxLayout:
        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName("Built-in presets")
        self.preset_combo.addItem(_PRESET_PLACEHOLDER)
        self.preset_combo.addItems(builtin_names())
        self.load_button = QPushButton("&Load…")
        self.load_button.setAccessibleName("Load preset file")
        self.save_button = QPushButton("&Save…")
        self.save_button.setAccessibleName("Save preset file")
        row = QHBoxLayout()
        row.addWidget(QLabel("Presets:"))
        for widget in (self.preset_combo, self.load_button, self.save_button):
            row.addWidget(widget)
        for action in (self.undo_action, self.redo_action):
            button = QToolButton()
            button.setDefaultAction(action)
            row.addWidget(button)
        row.addStretch(1)
        return row

    def _connect(self) -> None:
        self.learn_button.clicked.connect(self.learn_noise_from_selection)
        self.chain.structure_changed.connect(self._rebuild_list)
        self.chain.param_changed.connect(self._value_changed)
        self.palette.add_requested.connect(self.add_node)
        self.node_list.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.node_list.itemChanged.connect(self._item_checked)
        self.node_list.move_requested.connect(self.move_selected)
        self.node_list.remove_requested.connect(self.remove_selected)
        self.node_list.model().rowsMoved.connect(self._rows_dragged)
        self.param_panel.param_edited.connect(self._param_edited)
        self.param_panel.mix_edited.connect(self._mix_edited)
        self.param_panel.gesture_ended.connect(self.chain.end_gesture)
        self.preset_combo.activated.connect(self._builtin_picked)
        self.load_button.clicked.connect(self._ask_load)
        self.save_button.clicked.connect(self._ask_save)

    # -- selection ----------------------------------------------------------
    def selected_node_id(self) -> str | None:
        """The id of the selected node, or None."""
        item = self.node_list.currentItem()
        return None if item is None else item.data(ID_ROLE)

    def select_node(self, node_id: str | None) -> None:
        """Select ``node_id`` in the chain list (None clears the selection)."""
        for row in range(self.node_list.count()):
            if self.node_list.item(row).data(ID_ROLE) == node_id:
                self.node_list.setCurrentRow(row)
                return
        self.node_list.setCurrentItem(None)

    def _selection_changed(self) -> None:
        if self._rebuilding:
            return
        node_id = self.selected_node_id()
        spec = self.chain.node(node_id) if node_id else None
        self.param_panel.show_node(spec)
        self.info_panel.set_node(spec)
        self.learn_button.setVisible(spec is not None and spec.type in LEARNS_NOISE)
        self.selected_node_changed.emit(node_id or "")

    def learn_noise_from_selection(self) -> None:
        """Set the selected noise-profile node's learning range to the time selection (and drop a loaded
        profile file, which would take precedence)."""
        node_id = self.selected_node_id()
        selection = self.selection_provider()
        if not node_id or self.chain.node(node_id).type not in LEARNS_NOISE:
            return
        if selection is None or selection[1] - selection[0] < MIN_LEARN_S:
            self.status_label.setText(f"Select at least {MIN_LEARN_S:g} s of noise alone in the spectrogram first.")
            return
        start, end = (round(t, 3) for t in selection)
        # The end first when the range moves later, so the range in between never runs backwards.
        order = ("learn_end_s", "learn_start_s") if start > self.chain.node(node_id).params.get("learn_end_s", 1.0) \
            else ("learn_start_s", "learn_end_s")
        self.chain.undo_stack.beginMacro(f"Learn noise from {start:g}-{end:g} s")  # one undo step
        try:
            self.chain.set_param(node_id, "profile", "")
            for name in order:
                self.chain.set_param(node_id, name, start if name == "learn_start_s" else end)
        except ParameterError as exc:
            self.status_label.setText(f"Cannot learn from {start:g}-{end:g} s: {exc}")
            return
        finally:
            self.chain.undo_stack.endMacro()
        self.status_label.setText(f"{node_id} learns the noise from {start:g}-{end:g} s.")

    # -- model -> widgets ---------------------------------------------------
    def _rebuild_list(self) -> None:
        previous = self.selected_node_id()
        old_row = self.node_list.currentRow()
        self._rebuilding = True
        try:
            self.node_list.clear()
            for spec in self.chain.nodes():
                item = QListWidgetItem()
                item.setData(ID_ROLE, spec.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsDragEnabled)
                self._show_item(item, spec.id, spec.type, spec.bypass)
                self.node_list.addItem(item)
        finally:
            self._rebuilding = False
        ids = self.chain.node_ids()
        if previous in ids:
            self.select_node(previous)
        elif ids:
            self.node_list.setCurrentRow(max(0, min(old_row, len(ids) - 1)))
        # Same id, new content (undo of a preset load): the panels must be rebuilt.
        self._selection_changed()

    @staticmethod
    def _show_item(item: QListWidgetItem, node_id: str, type_name: str, bypass: bool) -> None:
        item.setText(node_id if node_id == type_name else f"{node_id} ({type_name})")
        item.setCheckState(Qt.CheckState.Unchecked if bypass else Qt.CheckState.Checked)
        state = "bypassed" if bypass else "enabled"
        item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{node_id}, {type_name}, {state}")
        item.setToolTip(type_summary(type_name))

    def _value_changed(self, node_id: str, name: str) -> None:
        spec = self.chain.node(node_id)
        if name == "bypass":
            self._rebuilding = True
            try:
                for row in range(self.node_list.count()):
                    item = self.node_list.item(row)
                    if item.data(ID_ROLE) == node_id:
                        self._show_item(item, spec.id, spec.type, spec.bypass)
            finally:
                self._rebuilding = False
        if node_id == self.selected_node_id():
            value = spec.mix if name == "mix" else spec.params.get(name)
            self.param_panel.set_value(name, value)
            self.info_panel.set_node(spec)

    # -- widgets -> model ---------------------------------------------------
    def add_node(self, type_name: str) -> str:
        """Insert ``type_name`` after the selected node (at the end if none) and select it."""
        current = self.selected_node_id()
        index = None if current is None else self.chain.index_of(current) + 1
        node_id = self.chain.add_node(type_name, index)
        self.select_node(node_id)
        return node_id

    def remove_selected(self) -> None:
        """Remove the selected node; its neighbour becomes selected."""
        node_id = self.selected_node_id()
        if node_id:
            self.chain.remove_node(node_id)

    def move_selected(self, delta: int) -> None:
        """Move the selected node ``delta`` places (negative = earlier)."""
        node_id = self.selected_node_id()
        if node_id:
            self.chain.move_node(node_id, self.chain.index_of(node_id) + delta)

    def _item_checked(self, item: QListWidgetItem) -> None:
        if not self._rebuilding:
            bypass = item.checkState() != Qt.CheckState.Checked
            self.chain.set_bypass(item.data(ID_ROLE), bypass)

    def _rows_dragged(self, _parent: QModelIndex, start: int, _end: int, _dest: QModelIndex, row: int) -> None:
        if self._rebuilding:
            return
        # The list is still inside its drop handler: rebuild it afterwards.
        QTimer.singleShot(0, self._sync_order_from_list)

    def _sync_order_from_list(self) -> None:
        shown = [self.node_list.item(r).data(ID_ROLE) for r in range(self.node_list.count())]
        current = self.chain.node_ids()
        for index, node_id in enumerate(shown):
            trial = [i for i in current if i != node_id]
            trial.insert(index, node_id)
            if trial == shown and shown != current:
                self.chain.move_node(node_id, index)
                self.select_node(node_id)
                return
        if shown != current:
            self._rebuild_list()

    def _param_edited(self, name: str, value: object) -> None:
        node_id = self.param_panel.node_id
        try:
            self.chain.set_param(node_id, name, value)
            self.status_label.clear()
        except ParameterError as exc:
            self.status_label.setText(f"{node_id}: {exc}")
            self.param_panel.set_value(name, self.chain.node(node_id).params.get(name))

    def _mix_edited(self, fraction: float) -> None:
        node_id = self.param_panel.node_id
        try:
            self.chain.set_mix(node_id, fraction)
        except ParameterError as exc:
            self.status_label.setText(f"{node_id}: {exc}")
            self.param_panel.set_value("mix", self.chain.node(node_id).mix)

    # -- presets ------------------------------------------------------------
    def load_builtin(self, name: str) -> bool:
        """Load a built-in preset by name; False (and a message box) on failure."""
        return self._load(name, f"built-in preset {name}")

    def load_preset_file(self, path: str | Path) -> bool:
        """Load a preset file (what "Load…" does after its dialog); errors go to a message box."""
        return self._load(Path(path), str(path))

    def _load(self, what: str | Path, shown: str) -> bool:
        try:
            preset = load_preset(what)
        except (RestoraError, OSError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot load preset", f"Cannot load {shown}:\n{exc}")
            return False
        self.chain.load_preset(preset)
        self.status_label.setText(f"Loaded preset {preset.name}")
        return True

    def save_preset_file(self, path: str | Path) -> bool:
        """Save the chain as a preset file (what "Save…" does after its dialog)."""
        try:
            self.chain.save_preset(path)
        except (RestoraError, OSError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot save preset", f"Cannot save {path}:\n{exc}")
            return False
        self.status_label.setText(f"Saved preset {path}")
        return True

    def _builtin_picked(self, index: int) -> None:
        if index > 0:
            self.load_builtin(self.preset_combo.itemText(index))
        self.preset_combo.setCurrentIndex(0)

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load preset", "", "Restora presets (*.json);;All files (*)")
        if path:
            self.load_preset_file(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", f"{self.chain.name or 'preset'}.json",
                                              "Restora presets (*.json)")
        if path:
            if not path.endswith(".json"):
                path += ".json"
            self.save_preset_file(path)

    def set_stats(self, stats: dict) -> None:
        """Pass measured speeds ``{node_id: {"rtf", "provider"}}`` to the node info panel."""
        self.info_panel.set_stats(stats)
