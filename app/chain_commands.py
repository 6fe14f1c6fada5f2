"""Undo commands for :class:`restora.app.chain.ChainModel`.

Every edit of the chain is one of these commands pushed on the model's
``QUndoStack``; ``redo`` applies the edit, ``undo`` reverses it. Structural
edits (add, remove, move, load, clear) swap whole snapshots of the chain, which
keeps them exact however the wiring was rewritten. Value edits (parameter,
wet/dry, bypass) store the old and new value; parameter and wet/dry edits of
the same node and name merge, so dragging a slider is one undo step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

from restora.graph.preset import NodeSpec

if TYPE_CHECKING:
    from restora.app.chain import ChainModel

# QUndoCommand.id() values: equal ids are offered to mergeWith.
_MERGE_VALUE_ID = 0x7265_7301


@dataclass
class ChainState:
    """Everything an edit can change: the nodes in order, the outputs, name and description."""

    nodes: list[NodeSpec] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    name: str = ""
    description: str = ""

    def copy(self) -> "ChainState":
        """A deep copy, so snapshots never share node dicts with the live chain."""
        return copy.deepcopy(self)


def format_value(value: Any, unit: str = "") -> str:
    """A value as shown in undo texts: ``12 dB``, ``0.5``, ``on``."""
    if isinstance(value, bool):
        text = "on" if value else "off"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


class SnapshotCommand(QUndoCommand):
    """A structural edit: ``redo`` installs ``after``, ``undo`` reinstalls ``before``."""

    def __init__(self, model: "ChainModel", text: str, before: ChainState, after: ChainState) -> None:
        super().__init__(text)
        self._model = model
        self._before = before.copy()
        self._after = after.copy()

    def redo(self) -> None:
        self._model._install(self._after.copy())

    def undo(self) -> None:
        self._model._install(self._before.copy())


class ValueCommand(QUndoCommand):
    """Set one value of one node: a parameter, ``mix`` or ``bypass``.

    ``session`` identifies a continuous gesture (a slider drag, a run of
    spin-box steps): commands merge only within one session, so two separate
    drags of the same slider stay two undo steps.
    """

    def __init__(self, model: "ChainModel", node_id: str, name: str, old: Any, new: Any,
                 *, unit: str = "", session: int = 0, mergeable: bool = True) -> None:
        super().__init__()
        self._model = model
        self.node_id, self.name = node_id, name
        self.old, self.new = old, new
        self._unit, self._session, self._mergeable = unit, session, mergeable
        self._update_text()

    def _update_text(self) -> None:
        if self.name == "bypass":
            verb = "Bypass" if self.new else "Enable"
            self.setText(f"{verb} {self.node_id}")
        elif self.name == "mix":
            self.setText(f"Set {self.node_id} wet/dry to {round(self.new * 100):d} %")
        else:
            self.setText(f"Set {self.node_id}.{self.name} to {format_value(self.new, self._unit)}")

    def redo(self) -> None:
        self._model._apply_value(self.node_id, self.name, self.new)

    def undo(self) -> None:
        self._model._apply_value(self.node_id, self.name, self.old)

    def id(self) -> int:
        return _MERGE_VALUE_ID if self._mergeable else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, ValueCommand) or not other._mergeable:
            return False
        if (other.node_id, other.name, other._session) != (self.node_id, self.name, self._session):
            return False
        self.new = other.new
        self._update_text()
        # Dragging back to the start leaves nothing to undo.
        self.setObsolete(self.new == self.old)
        return True
