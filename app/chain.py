"""The editable processing chain of the open document, with undo/redo.

A chain built in the GUI is linear: node *i* reads node *i−1*'s main output,
the first node reads the file (``"input"``) and the first output is the last
node. A loaded preset keeps its own wiring and outputs (for example
dialogue-isolate's ``background`` stem reading ``speech.residual``) until it is
restructured; adding, removing or moving a node then rewires it linearly,
points the first output at the last node and keeps only the extra outputs
whose nodes still exist.

Every edit is a command on :attr:`ChainModel.undo_stack` (see
:mod:`restora.app.chain_commands`), so views only listen to the signals and
undo/redo update them like any other edit.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from restora.app.chain_commands import ChainState, SnapshotCommand, ValueCommand
from restora.errors import UsageError
from restora.graph.node import Param, ParameterError
from restora.graph.preset import GRAPH_INPUT, NodeSpec, Preset, preset_from_dict
from restora.graph.registry import node_class

DEFAULT_OUTPUT = "processed"
_SOURCE = "the edited chain"


def find_param(type_name: str, name: str) -> Param:
    """The declaration of parameter ``name`` of node type ``type_name``; ParameterError if none."""
    for param in node_class(type_name).PARAMS:
        if param.name == name:
            return param
    raise ParameterError(f"{type_name} has no parameter {name!r}")


def relinked(state: ChainState) -> ChainState:
    """``state`` rewired as a linear chain (see the module docstring)."""
    new = state.copy()
    previous = GRAPH_INPUT
    for spec in new.nodes:
        spec.input, previous = previous, spec.id
    if not new.nodes:
        new.outputs = {}
        return new
    names = list(state.outputs)
    ids = {spec.id for spec in new.nodes}
    outputs = {names[0] if names else DEFAULT_OUTPUT: new.nodes[-1].id}
    for name in names[1:]:
        stream = state.outputs[name]
        if stream == GRAPH_INPUT or stream.split(".")[0] in ids:
            outputs[name] = stream
    new.outputs = outputs
    return new


#: Node types whose ``main`` is not always their ``MAIN_PORT``: extract's main is
#: the residual in ``remove`` mode. Their main lane keeps the chain's output name
#: and every named port (target, residual) gets a lane of its own.
MAIN_PORT_VARIES = frozenset({"extract"})


def _add_stem_outputs(state: ChainState, node_id: str, cls) -> None:
    """Give a multi-output node's extra ports (stems) outputs, so they show as lanes.

    When the chain had only the default output, the main output takes the name
    of the port it repeats (a separator's "vocals"), so no lane is shown twice.
    """
    same = None if cls.type_name in MAIN_PORT_VARIES else cls.MAIN_PORT
    extra = [port for port in cls.OUTPUTS if port not in ("main", same)]
    if not extra:
        return
    names = list(state.outputs)
    if same and (not names or names == [DEFAULT_OUTPUT]):
        state.outputs = {same: state.outputs.get(DEFAULT_OUTPUT, node_id)}
    elif not names:
        state.outputs = {DEFAULT_OUTPUT: node_id}  # the main lane stays first
    for port in extra:
        name = port if port not in state.outputs else f"{node_id}-{port}"
        state.outputs[name] = f"{node_id}.{port}"


class ChainModel(QObject):
    """The graph being edited. All edits are undoable; read access returns copies.

    Signals: ``changed()`` after any edit (including undo/redo),
    ``structure_changed()`` when nodes were added, removed, moved or replaced
    (the lanes may differ), ``param_changed(node_id, name)`` after a value
    edit, where ``name`` is a parameter name, ``"mix"`` or ``"bypass"``.
    """

    changed = Signal()
    structure_changed = Signal()
    param_changed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state = ChainState()
        self._gesture = 0
        self.undo_stack = QUndoStack(self)

    # -- reading ------------------------------------------------------------
    @property
    def name(self) -> str:
        """The name of the loaded preset ("" for a chain built from scratch)."""
        return self._state.name

    def nodes(self) -> list[NodeSpec]:
        """Copies of the nodes in processing order."""
        return copy.deepcopy(self._state.nodes)

    def node_ids(self) -> list[str]:
        """The node ids in processing order."""
        return [spec.id for spec in self._state.nodes]

    def node(self, node_id: str) -> NodeSpec:
        """A copy of node ``node_id``; KeyError if the chain has none."""
        return copy.deepcopy(self._find(node_id))

    def index_of(self, node_id: str) -> int:
        """Position of ``node_id`` in the chain; KeyError if absent."""
        self._find(node_id)
        return self.node_ids().index(node_id)

    def outputs(self) -> dict[str, str]:
        """Output name -> stream, the first being the main result."""
        return dict(self._state.outputs)

    def to_json(self) -> dict | None:
        """The chain as preset JSON, or None when it is empty (no processing)."""
        if not self._state.nodes:
            return None
        preset = Preset(name=self._state.name, nodes=self.nodes(), outputs=self.outputs(),
                        description=self._state.description)
        return preset.to_json()

    def to_preset(self) -> Preset | None:
        """The chain as a validated Preset (as the CLI would load it); None when empty."""
        data = self.to_json()
        return None if data is None else preset_from_dict(data, _SOURCE)

    # -- files --------------------------------------------------------------
    def save_preset(self, path: str | Path) -> None:
        """Write the chain as a preset file, atomically; UsageError if empty or unwritable."""
        path = Path(path)
        data = self.to_json()
        if data is None:
            raise UsageError("the chain is empty: there is nothing to save")
        data["name"] = data["name"] or path.stem
        preset_from_dict(data, _SOURCE)  # never write a file the CLI would refuse
        text = json.dumps(data, indent=2) + "\n"
        # A sibling temp file (normal permissions, same file system) renamed over the target.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            _remove_quietly(tmp)
            raise UsageError(f"cannot write preset file {path}: {exc.strerror or exc}") from None

    def load_preset(self, preset: Preset) -> None:
        """Replace the chain by ``preset`` (its wiring and outputs kept), undoably."""
        after = ChainState(copy.deepcopy(preset.nodes), dict(preset.outputs),
                           preset.name, preset.description)
        self._push_structure(f"Load preset {preset.name}", after)

    # -- structural edits ---------------------------------------------------
    def add_node(self, type_name: str, index: int | None = None) -> str:
        """Insert a node of ``type_name`` with default parameters at ``index`` (end if None); return its id."""
        cls = node_class(type_name)
        node_id = self._unique_id(type_name)
        state = self._state.copy()
        where = len(state.nodes) if index is None else max(0, min(int(index), len(state.nodes)))
        state.nodes.insert(where, NodeSpec(id=node_id, type=type_name, params=cls().params))
        _add_stem_outputs(state, node_id, cls)
        self._push_structure(f"Add {node_id}", relinked(state))
        return node_id

    def remove_node(self, node_id: str) -> None:
        """Remove ``node_id`` and rewire the chain."""
        state = self._state.copy()
        state.nodes.pop(self.index_of(node_id))
        self._push_structure(f"Remove {node_id}", relinked(state))

    def move_node(self, node_id: str, new_index: int) -> None:
        """Move ``node_id`` to position ``new_index`` (clamped) and rewire; no-op if it stays."""
        old = self.index_of(node_id)
        new = max(0, min(int(new_index), len(self._state.nodes) - 1))
        if new == old:
            return
        state = self._state.copy()
        state.nodes.insert(new, state.nodes.pop(old))
        self._push_structure(f"Move {node_id} to position {new + 1}", relinked(state))

    def clear(self) -> None:
        """Remove every node (no processing)."""
        if self._state.nodes:
            self._push_structure("Clear chain", ChainState())

    # -- value edits --------------------------------------------------------
    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """Set a parameter; ParameterError (and no change) when the value is invalid.

        Consecutive edits of the same parameter within one gesture (see
        :meth:`end_gesture`) are one undo step.
        """
        spec = self._find(node_id)
        param = find_param(spec.type, name)
        value = param.validate(value)
        if spec.params.get(name) != value:
            self.undo_stack.push(ValueCommand(self, node_id, name, spec.params.get(name), value,
                                              unit=param.unit, session=self._gesture))

    def set_mix(self, node_id: str, fraction: float) -> None:
        """Set the wet/dry fraction (0 = dry, 1 = wet); merges like :meth:`set_param`."""
        spec = self._find(node_id)
        try:
            fraction = float(fraction)
        except (TypeError, ValueError):
            raise ParameterError(f"mix={fraction!r} is not a number") from None
        if not (math.isfinite(fraction) and 0.0 <= fraction <= 1.0):
            raise ParameterError(f"mix={fraction!r} is out of range [0, 1]")
        if spec.mix != fraction:
            self.undo_stack.push(ValueCommand(self, node_id, "mix", spec.mix, fraction,
                                              session=self._gesture))

    def set_bypass(self, node_id: str, bypass: bool) -> None:
        """Bypass (True) or enable (False) a node; each toggle is its own undo step."""
        spec = self._find(node_id)
        if spec.bypass != bool(bypass):
            self.undo_stack.push(ValueCommand(self, node_id, "bypass", spec.bypass, bool(bypass),
                                              mergeable=False))

    def end_gesture(self) -> None:
        """End the current continuous edit: the next value edit starts a new undo step."""
        self._gesture += 1

    # -- used by the commands -----------------------------------------------
    def _install(self, state: ChainState) -> None:
        self._state = state
        self.end_gesture()
        self.structure_changed.emit()
        self.changed.emit()

    def _apply_value(self, node_id: str, name: str, value: Any) -> None:
        spec = self._find(node_id)
        if name in ("mix", "bypass"):
            setattr(spec, name, value)
        else:
            spec.params[name] = value
        self.param_changed.emit(node_id, name)
        self.changed.emit()

    # -- helpers ------------------------------------------------------------
    def _find(self, node_id: str) -> NodeSpec:
        for spec in self._state.nodes:
            if spec.id == node_id:
                return spec
        raise KeyError(f"the chain has no node {node_id!r}")

    def _push_structure(self, text: str, after: ChainState) -> None:
        self.undo_stack.push(SnapshotCommand(self, text, self._state, after))

    def _unique_id(self, type_name: str) -> str:
        taken = set(self.node_ids()) | {GRAPH_INPUT}
        if type_name not in taken:
            return type_name
        # "deepfilternet3-2" reads better than "deepfilternet32".
        sep = "-" if type_name[-1].isdigit() else ""
        n = 2
        while f"{type_name}{sep}{n}" in taken:
            n += 1
        return f"{type_name}{sep}{n}"


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
