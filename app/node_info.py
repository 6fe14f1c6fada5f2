"""What the user should know about the selected node: what it does, its model, its speed here.

For model-backed nodes the panel shows the model card (source, licence,
native sample rate, bandwidth, whether the files are installed); once the
engine has measured a run, :meth:`NodeInfoPanel.set_stats` adds the real-time
factor on this machine and the execution provider it ran on.
"""

from __future__ import annotations

import inspect
import math
from functools import lru_cache

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from restora.errors import RestoraError
from restora.graph.preset import NodeSpec
from restora.graph.registry import node_class

# Node classes keep their model id in their modules, not on the class; a class
# attribute ``MODEL_ID`` (checked first) would make this table unnecessary.
MODEL_FOR_NODE = {
    "deepfilternet3": "deepfilternet3",
    "gtcrn": "gtcrn",
    "dnsmos": "dnsmos",
    "vad": "silero-vad",
}


@lru_cache(maxsize=None)
def type_summary(type_name: str) -> str:
    """The first line of the node class's docstring ("" when unknown or undocumented)."""
    try:
        doc = inspect.getdoc(node_class(type_name)) or ""
    except RestoraError:
        return ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return first.replace("``", "")  # reST literals read badly in a label


def model_id_for(type_name: str) -> str | None:
    """The model card id a node type runs, or None for plain DSP nodes."""
    try:
        cls = node_class(type_name)
    except RestoraError:
        return None
    return getattr(cls, "MODEL_ID", None) or MODEL_FOR_NODE.get(type_name)


def install_state(model_id: str) -> str:
    """Whether the model's files are in the store (checked cheaply: the manifest exists)."""
    from restora.models import store
    if (store.model_root() / model_id / store.MANIFEST).is_file():
        return "installed"
    return "not installed (run: restora models fetch)"


def format_rtf(rtf: float | None) -> str:
    """A real-time factor in words: ``0.031× real time (32× faster than real time)``."""
    if rtf is None or not math.isfinite(rtf) or rtf <= 0:
        return "not measured"
    if rtf < 1:
        speed = 1 / rtf
        factor = f"{speed:.0f}" if speed >= 10 else f"{speed:.2g}"
        return f"{rtf:.2g}× real time ({factor}× faster than real time)"
    return f"{rtf:.2g}× real time (slower than real time)"


def _rate(hz: float) -> str:
    return f"{hz / 1000:g} kHz"


def card_text(model_id: str) -> str:
    """The model card as a few lines of plain text; the error text when there is no card."""
    from restora.models import registry
    try:
        card = registry.card(model_id)
    except RestoraError as exc:
        return str(exc)
    kind = "Python package" if card.source.kind == "python-package" else "downloaded with pip"
    licence = f"{card.licence} ({card.licence_url})" if card.licence_url else card.licence
    lines = [
        f"Model: {card.name}",
        f"Source: {card.source.package} {card.source.version} ({kind})",
        f"Licence: {licence}",
        f"Native sample rate: {_rate(card.sample_rate)}",
        f"Bandwidth: {_rate(card.bandwidth_hz)}",
        f"Files: {install_state(card.id)}",
    ]
    if card.attribution:
        lines.append(f"Attribution: {card.attribution}")
    return "\n".join(lines)


def stats_text(stats: dict | None) -> str:
    """The measured speed of one node: ``{"rtf": float, "provider": str | None}``."""
    if not stats:
        return "Speed on this machine: not measured yet (preview or process to measure)"
    provider = stats.get("provider") or "none (runs in Python/NumPy)"
    return (f"Speed on this machine: {format_rtf(stats.get('rtf'))}\n"
            f"Execution provider: {provider}")


class NodeInfoPanel(QWidget):
    """Type summary, model card and measured speed of one node."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: NodeSpec | None = None
        self._stats: dict[str, dict] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title_label = self._label("Node")
        self.summary_label = self._label("Summary")
        self.card_label = self._label("Model card")
        self.stats_label = self._label("Measured speed")
        for label in (self.title_label, self.summary_label, self.card_label, self.stats_label):
            layout.addWidget(label)
        layout.addStretch(1)
        self.setAccessibleName("Node information")
        self._refresh()

    def _label(self, name: str) -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        # Keyboard users can focus and read (or copy) the card.
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                      | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        label.setAccessibleName(name)
        return label

    def set_node(self, spec: NodeSpec | None) -> None:
        """Show ``spec`` (None: nothing selected)."""
        self._spec = spec
        self._refresh()

    def set_stats(self, stats: dict) -> None:
        """Measured figures per node id: ``{node_id: {"rtf": float, "provider": str | None}}``."""
        self._stats = dict(stats)
        self._refresh()

    def text(self) -> str:
        """Everything the panel shows, as plain text (for tests and copying)."""
        labels = (self.title_label, self.summary_label, self.card_label, self.stats_label)
        return "\n".join(label.text() for label in labels if label.isVisibleTo(self) and label.text())

    def _refresh(self) -> None:
        spec = self._spec
        if spec is None:
            self.title_label.setText("No node selected")
            for label in (self.summary_label, self.card_label, self.stats_label):
                label.setText("")
                label.setVisible(False)
            return
        state = " (bypassed)" if spec.bypass else ""
        self.title_label.setText(f"{spec.id}: {spec.type}{state}")
        self.summary_label.setText(type_summary(spec.type))
        model_id = model_id_for(spec.type)
        self.card_label.setText(card_text(model_id) if model_id else "No model: plain signal processing")
        self.stats_label.setText(stats_text(self._stats.get(spec.id)))
        for label in (self.summary_label, self.card_label, self.stats_label):
            label.setVisible(True)
