"""What the user should know about the selected node: what it does, its model, its speed here.

For model-backed nodes the panel shows the model card (source, licence,
native sample rate, bandwidth, whether the files are installed); once the
engine has measured a run, :meth:`NodeInfoPanel.set_stats` adds the real-time
factor on this machine and the execution provider it ran on.

For the ``extract`` node it also says how well the model understands the
query: its confidence (the ``query_confidence`` the node measures: cosine to
the nearest trained concept), the nearest concepts, and a warning when the
query is outside what the model knows. Understanding a query loads the text
encoder (about a second the first time) and embeds the text (tens of ms), so
it runs on a worker thread and the answer is cached per query.

For the ``upscale`` node it shows what the last render measured: the cut-off
of the input's content, whether a band was generated above it, and the rate
the chain runs at (:func:`band_text`).
"""

from __future__ import annotations

import inspect
import math
import threading
from functools import lru_cache

from PySide6.QtCore import Qt, Signal
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
    "extract": "lass-extractor",
}
#: Node types whose ``query`` parameter the info panel explains.
QUERY_NODES = frozenset({"extract"})
#: Node types that generate a band above a measured cut-off (``cutoff_hz``, ``extended``, ``output_rate``).
BAND_NODES = frozenset({"upscale"})


def generated_band_nodes(preset) -> list[str]:
    """Ids of the active (not bypassed) nodes of ``preset`` that may generate a band; [] for None."""
    if preset is None:
        return []
    return [spec.id for spec in preset.nodes if spec.type in BAND_NODES and not spec.bypass]


def band_text(measured: dict | None) -> str:
    """What an upscale node measured: cut-off, whether it generated a band, and its output rate."""
    if not measured:
        return "Band extension: measured once the preview has rendered"
    cutoff, rate = measured.get("cutoff_hz"), measured.get("output_rate")
    lines = ["Cut-off: " + ("none (silence)" if cutoff is None else f"{cutoff / 1000:.2f} kHz")]
    if measured.get("extended"):
        lines.append(f"Extended: yes, generated above {cutoff / 1000:.1f} kHz")
    else:
        lines.append("Extended: no (full band or too little to extend from: passed through)")
    if rate:
        lines.append(f"Output rate: {int(rate)} Hz")
    return "\n".join(lines)


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
    if (store.model_dir(model_id) / store.MANIFEST).is_file():  # the app bundle keeps its own copy
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
    if model_id not in registry.ids():
        return added_card_text(model_id)
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


def added_card_text(model_id: str) -> str:
    """A model the user added (restora models add): its card in a few lines; the error text when there is none."""
    from restora.models import store
    from restora.models.byo import user_store
    try:
        model = user_store.find(model_id)
    except RestoraError as exc:
        return str(exc)
    c, card = model.contract, model.card
    damage = store.manifest_damage(model.folder)
    lines = [
        f"Model: {card.get('name', model.id)} (added by you: {c.kind} contract, {c.task})",
        f"Source: {card.get('source', {}).get('original', '?')}",
        f"Licence: {card.get('licence', 'unknown')}",
        f"Native sample rate: {_rate(c.sample_rate)}; {c.channels} channel(s); stems: {', '.join(c.stems)}",
        f"Files: {damage or 'checked against their sha256'} ({model.folder})",
    ]
    return "\n".join(lines)


def stats_text(stats: dict | None) -> str:
    """The measured speed of one node: ``{"rtf": float, "provider": str | None}``."""
    if not stats:
        return "Speed on this machine: not measured yet (preview or process to measure)"
    provider = stats.get("provider") or "none (runs in Python/NumPy)"
    return (f"Speed on this machine: {format_rtf(stats.get('rtf'))}\n"
            f"Execution provider: {provider}")


def understand_query(text: str, threads: int | None = 1):
    """The extractor's :class:`~restora.models.lass.QueryInfo` for ``text`` (slow: call off the GUI thread).

    Uses the extractor the node itself loads (same thread count), so it is loaded once.
    """
    from restora.models.lass import extractor
    return extractor(threads).understand(text)


def query_text(text: str, info) -> str:
    """What the panel says about a query: ``info`` is a QueryInfo, an error message (str) or None (pending)."""
    shown = f"\u201c{text}\u201d"
    if not text.strip():
        return "Query: empty. Type what to extract, e.g. dog barking"
    if info is None:
        return f"Query {shown}: checking what the model knows…"
    if isinstance(info, str):
        return f"Query {shown}: cannot check ({info})"
    nearest = ", ".join(f"{concept} ({similarity:.2f})" for concept, similarity in info.nearest[:3])
    if not info.confident:
        names = ", ".join(concept for concept, _ in info.nearest[:3])
        return (f"\u26a0 Warning: query {shown} is outside what the model knows; nearest: {names}. "
                f"Confidence {info.confidence:.2f}: expect little or arbitrary extraction; "
                f"try words closer to these.")
    return f"Query {shown}: confidence {info.confidence:.2f}\nNearest known concepts: {nearest}"


class NodeInfoPanel(QWidget):
    """Type summary, model card, query understanding (extract) and measured speed of one node."""

    #: (query, QueryInfo or error message) from the worker thread, queued to the GUI thread.
    _query_done = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: NodeSpec | None = None
        self._stats: dict[str, dict] = {}
        self._queries: dict[str, object] = {}   # query -> QueryInfo or error message
        self._pending: set[str] = set()
        self._query_done.connect(self._query_understood, Qt.ConnectionType.QueuedConnection)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title_label = self._label("Node")
        self.summary_label = self._label("Summary")
        self.query_label = self._label("Query understanding")
        self.band_label = self._label("Band extension")
        self.card_label = self._label("Model card")
        self.stats_label = self._label("Measured speed")
        for label in self._labels():
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

    def _labels(self) -> tuple[QLabel, ...]:
        return (self.title_label, self.summary_label, self.query_label, self.band_label, self.card_label,
                self.stats_label)

    def set_node(self, spec: NodeSpec | None) -> None:
        """Show ``spec`` (None: nothing selected)."""
        self._spec = spec
        self._refresh()

    def set_stats(self, stats: dict) -> None:
        """Measured figures per node id: ``{node_id: {"rtf": float, "provider": str | None,
        "measurements": {name: value}}}``."""
        self._stats = dict(stats)
        self._refresh()

    def text(self) -> str:
        """Everything the panel shows, as plain text (for tests and copying)."""
        return "\n".join(label.text() for label in self._labels() if label.isVisibleTo(self) and label.text())

    def query_pending(self) -> bool:
        """True while a query shown (or asked for) is still being understood on the worker thread."""
        return bool(self._pending)

    # -- query understanding (extract) -------------------------------------------
    def _show_query(self, spec: NodeSpec) -> None:
        text = " ".join(str(spec.params.get("query", "")).split())
        if not text:
            self.query_label.setText(query_text(text, None))
            self.query_label.setStyleSheet("")
            return
        info = self._queries.get(text)
        if info is None and text not in self._pending:
            self._pending.add(text)
            threads = spec.params.get("threads", 1)
            threading.Thread(target=self._understand, args=(text, threads), daemon=True,
                             name="restora-query").start()
        self.query_label.setText(query_text(text, info))
        warn = info is not None and not isinstance(info, str) and not info.confident
        self.query_label.setStyleSheet("color: #c0392b; font-weight: bold;" if warn else "")

    def _understand(self, text: str, threads) -> None:
        """Worker thread: never touches widgets, only emits the queued signal."""
        try:
            info: object = understand_query(text, threads)
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never raised into Qt
            info = str(exc) or type(exc).__name__
        try:
            self._query_done.emit(text, info)
        except RuntimeError:  # the panel was deleted meanwhile
            pass

    def _query_understood(self, text: str, info: object) -> None:
        self._pending.discard(text)
        self._queries[text] = info
        if self._spec is not None and self._spec.type in QUERY_NODES:
            self._refresh()

    def _refresh(self) -> None:
        spec = self._spec
        if spec is None:
            self.title_label.setText("No node selected")
            for label in self._labels()[1:]:
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
        self.band_label.setVisible(spec.type in BAND_NODES)
        if spec.type in BAND_NODES:
            self.band_label.setText(band_text((self._stats.get(spec.id) or {}).get("measurements")))
        self.query_label.setVisible(spec.type in QUERY_NODES)
        if spec.type in QUERY_NODES:
            self._show_query(spec)
