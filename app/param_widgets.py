"""One editing widget per node parameter, built from its :class:`~restora.graph.node.Param`.

``float`` parameters get a slider (the range mapped linearly) beside a spin box
showing the unit; ``int`` a spin box, ``bool`` a check box, ``choice`` a combo
box, ``text`` a line edit that commits on Return or when left and offers the
recently committed texts (app settings, most recent first), then any fixed
suggestions (extract's query: the sounds the model knows). Every widget emits
``value_changed(value)`` on user edits only and ``edit_finished()`` when a
continuous gesture ends (slider released, spin box left), so a chain model can
merge a drag into one undo step. ``set_value`` never emits: undo/redo update
the widget without creating a new edit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QCheckBox, QComboBox, QCompleter, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QScrollArea, QSlider, QSpinBox, QVBoxLayout, QWidget)

from restora.app.settings import Settings
from restora.graph.node import Param, ParameterError
from restora.graph.preset import NodeSpec
from restora.graph.registry import node_class

SLIDER_STEPS = 1000
_INT_LIMIT = 2**31 - 1
_FLOAT_LIMIT = 1e9


def tooltip_for(param: Param, scale: float = 1.0) -> str:
    """The parameter's doc line followed by its range (times ``scale``) and unit."""
    unit = f" {param.unit}" if param.unit else ""
    if param.kind == "choice":
        extent = " / ".join(param.choices)
    elif param.minimum is not None and param.maximum is not None:
        extent = f"{param.minimum * scale:g} .. {param.maximum * scale:g}{unit}"
    else:
        extent = ""
    return f"{param.doc} ({extent})" if param.doc and extent else param.doc or extent


def float_format(param: Param, scale: float = 1.0) -> tuple[int, float]:
    """``(decimals, step)`` for a float parameter: about 100 steps over its range.

    Decimals grow to show the default exactly (a Q of 0.707 stays 0.707).
    """
    span = _span(param) * scale
    step = 10.0 ** math.floor(math.log10(span / 100.0)) if span > 0 else 0.01
    decimals = max(0, 1 - math.floor(math.log10(span / 100.0))) if span > 0 else 2
    text = f"{float(param.default) * scale:.6g}"
    if "." in text and "e" not in text:
        decimals = max(decimals, len(text.split(".")[1]))
    return min(decimals, 6), step


def _span(param: Param) -> float:
    if param.minimum is None or param.maximum is None:
        return 0.0
    return float(param.maximum) - float(param.minimum)


class ParamWidget(QWidget):
    """Base class: one parameter of one node. ``control`` is the widget that takes focus."""

    value_changed = Signal(object)
    edit_finished = Signal()

    def __init__(self, param: Param, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param, self.node_id = param, node_id
        self.control: QWidget = self
        self.scale = 1.0

    @property
    def accessible_name(self) -> str:
        """``"<node id> <param name>"``, the name screen readers announce."""
        return f"{self.node_id} {self.param.name}"

    def _setup(self, *controls: QWidget) -> None:
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in controls:
            widget.setToolTip(tooltip_for(self.param, self.scale))
            layout.addWidget(widget, 1 if isinstance(widget, QSlider) else 0)
        self.control.setAccessibleName(self.accessible_name)
        self.setAccessibleName(self.accessible_name)
        self.setFocusProxy(self.control)

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show ``value`` without emitting ``value_changed``."""
        raise NotImplementedError


class FloatParamWidget(ParamWidget):
    """Slider + spin box. ``scale`` converts model values to shown ones (0..1 shown as 0..100 %)."""

    def __init__(self, param: Param, node_id: str, parent: QWidget | None = None,
                 scale: float = 1.0) -> None:
        super().__init__(param, node_id, parent)
        self.scale = scale
        self.decimals, step = float_format(param, scale)
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(self.decimals)
        self.spin.setSingleStep(step)
        low, high = self._shown_range()
        self.spin.setRange(low, high)
        self.spin.setKeyboardTracking(False)  # one edit per typed number, not per keystroke
        if param.unit:
            self.spin.setSuffix(f" {param.unit}")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(SLIDER_STEPS // 20)
        self.slider.setEnabled(_span(param) > 0)
        self.control = self.spin
        self._setup(self.slider, self.spin)
        self.slider.setAccessibleName(f"{self.accessible_name} slider")
        self.set_value(param.default)
        self.spin.valueChanged.connect(self._spin_moved)
        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.editingFinished.connect(self.edit_finished)
        self.slider.sliderReleased.connect(self.edit_finished)

    def _shown_range(self) -> tuple[float, float]:
        low = -_FLOAT_LIMIT if self.param.minimum is None else self.param.minimum * self.scale
        high = _FLOAT_LIMIT if self.param.maximum is None else self.param.maximum * self.scale
        return low, high

    def _position(self, shown: float) -> int:
        low, high = self._shown_range()
        if high <= low or _span(self.param) == 0:
            return 0
        return round((shown - low) / (high - low) * SLIDER_STEPS)

    def value(self) -> float:
        return self.spin.value() / self.scale

    def set_value(self, value: Any) -> None:
        shown = float(value) * self.scale
        for widget in (self.spin, self.slider):
            widget.blockSignals(True)
        self.spin.setValue(shown)
        self.slider.setValue(self._position(shown))
        for widget in (self.spin, self.slider):
            widget.blockSignals(False)

    def _spin_moved(self, shown: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self._position(shown))
        self.slider.blockSignals(False)
        self.value_changed.emit(shown / self.scale)

    def _slider_moved(self, position: int) -> None:
        low, high = self._shown_range()
        shown = round(low + (high - low) * position / SLIDER_STEPS, self.decimals)
        self.spin.blockSignals(True)
        self.spin.setValue(shown)
        self.spin.blockSignals(False)
        self.value_changed.emit(shown / self.scale)


class IntParamWidget(ParamWidget):
    """A spin box with the unit as suffix; arrow-key runs merge until the box is left."""

    def __init__(self, param: Param, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(param, node_id, parent)
        self.spin = QSpinBox()
        low = -_INT_LIMIT if param.minimum is None else int(param.minimum)
        high = _INT_LIMIT if param.maximum is None else int(param.maximum)
        self.spin.setRange(low, high)
        self.spin.setKeyboardTracking(False)
        if param.unit:
            self.spin.setSuffix(f" {param.unit}")
        self.control = self.spin
        self._setup(self.spin)
        self.set_value(param.default)
        self.spin.valueChanged.connect(lambda v: self.value_changed.emit(int(v)))
        self.spin.editingFinished.connect(self.edit_finished)

    def value(self) -> int:
        return self.spin.value()

    def set_value(self, value: Any) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(int(value))
        self.spin.blockSignals(False)


class BoolParamWidget(ParamWidget):
    """A check box; every toggle is a complete edit."""

    def __init__(self, param: Param, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(param, node_id, parent)
        self.box = QCheckBox()
        self.control = self.box
        self._setup(self.box)
        self.set_value(param.default)
        self.box.toggled.connect(self._toggled)

    def _toggled(self, checked: bool) -> None:
        self.value_changed.emit(bool(checked))
        self.edit_finished.emit()

    def value(self) -> bool:
        return self.box.isChecked()

    def set_value(self, value: Any) -> None:
        self.box.blockSignals(True)
        self.box.setChecked(bool(value))
        self.box.blockSignals(False)


class ChoiceParamWidget(ParamWidget):
    """A combo box of the parameter's choices; every pick is a complete edit."""

    def __init__(self, param: Param, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(param, node_id, parent)
        self.combo = QComboBox()
        self.combo.addItems(list(param.choices))
        self.control = self.combo
        self._setup(self.combo)
        self.set_value(param.default)
        self.combo.activated.connect(self._picked)

    def _picked(self, index: int) -> None:
        self.value_changed.emit(self.combo.itemText(index))
        self.edit_finished.emit()

    def value(self) -> str:
        return self.combo.currentText()

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(max(0, self.combo.findText(str(value))))
        self.combo.blockSignals(False)


class _TextEdit(QLineEdit):
    """A line edit whose Down key opens the completer on every entry (even when empty)."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        completer = self.completer()
        if (event.key() == Qt.Key.Key_Down and completer is not None and not completer.popup().isVisible()
                and completer.model().rowCount() > 0):
            completer.setCompletionPrefix(self.text())
            if completer.completionCount() == 0:
                completer.setCompletionPrefix("")
            completer.complete()
            return
        super().keyPressEvent(event)


class TextParamWidget(ParamWidget):
    """Free text (``kind="text"``, e.g. extract's query): one edit per Return or per leaving the box.

    Typing changes nothing; Return (or focus leaving with a changed text, or
    picking a completion) emits ``value_changed(text)`` then ``edit_finished``,
    so each committed text is one undo step. A completer offers the texts
    recently committed to parameters of this name, most recent first (at most
    20, no repeats), kept in ``settings`` (the app's :class:`Settings`;
    the user's settings when None), then ``suggestions`` not already among
    them (case-insensitively), in their given order.
    """

    def __init__(self, param: Param, node_id: str, parent: QWidget | None = None,
                 settings: Settings | None = None, suggestions: Sequence[str] = ()) -> None:
        super().__init__(param, node_id, parent)
        self.settings = settings if settings is not None else Settings()
        self.suggestions = list(suggestions)
        self.edit = _TextEdit()
        self.edit.setClearButtonEnabled(True)
        self.edit.setPlaceholderText(f"e.g. {param.default}" if param.default else "")
        self._recent: list[str] = []
        self.entry_model = QStringListModel()
        self._show_entries(self.settings.recent_texts(param.name))
        self.completer = QCompleter(self.entry_model, self.edit)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.setModelSorting(QCompleter.ModelSorting.UnsortedModel)  # keeps recent first, then suggestions
        self.completer.setMaxVisibleItems(10)
        self.edit.setCompleter(self.completer)
        self.control = self.edit
        self._setup(self.edit)
        listed = "recent entries and known sounds" if self.suggestions else "recent entries"
        self.edit.setToolTip(f"{tooltip_for(param)}. Return applies; Down lists {listed}".lstrip(". "))
        self._shown = ""
        self.set_value(param.default)
        self.edit.editingFinished.connect(self._commit)
        self.completer.activated.connect(lambda _text: self._commit())

    def recent(self) -> list[str]:
        """The recently committed texts, most recent first (the completer's first entries)."""
        return list(self._recent)

    def entries(self) -> list[str]:
        """Everything the completer offers: :meth:`recent`, then the other suggestions."""
        return self.entry_model.stringList()

    def _show_entries(self, recent: list[str]) -> None:
        # Recent texts stay first: they are what this user asks for; a suggestion
        # equal to one of them (any case) would only be a repeat further down.
        self._recent = list(recent)
        entries, seen = list(self._recent), {text.casefold() for text in self._recent}
        for text in self.suggestions:
            if text.casefold() not in seen:
                entries.append(text)
                seen.add(text.casefold())
        self.entry_model.setStringList(entries)

    def _commit(self) -> None:
        text = " ".join(self.edit.text().split())
        if text == self._shown:
            if self.edit.text() != text:
                self.set_value(text)  # only whitespace changed: show the tidy form, no edit
            return
        self._shown = text
        try:
            self.param.validate(text)
        except ParameterError:
            pass  # the editor reports it and shows the model's value again
        else:
            self._show_entries(self.settings.add_recent_text(text, self.param.name))
        self.value_changed.emit(text)
        self.edit_finished.emit()

    def value(self) -> str:
        return " ".join(self.edit.text().split())

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        self._shown = " ".join(text.split())
        if self.edit.text() != text:
            self.edit.blockSignals(True)
            self.edit.setText(text)
            self.edit.blockSignals(False)


_KINDS: dict[str, type[ParamWidget]] = {
    "float": FloatParamWidget, "int": IntParamWidget, "bool": BoolParamWidget, "choice": ChoiceParamWidget,
    "text": TextParamWidget,
}


def make_param_widget(param: Param, node_id: str, parent: QWidget | None = None,
                      settings: Settings | None = None, suggestions: Sequence[str] = ()) -> ParamWidget:
    """The widget for ``param`` of node ``node_id`` (unknown kinds fall back to a float widget).

    ``settings`` keeps the recent entries of text parameters (the user's settings
    when None); ``suggestions`` are offered after them (text parameters only).
    """
    cls = _KINDS.get(param.kind, FloatParamWidget)
    if cls is TextParamWidget:
        return TextParamWidget(param, node_id, parent, settings=settings, suggestions=suggestions)
    return cls(param, node_id, parent)


def text_suggestions(node_type: str, param_name: str) -> list[str]:
    """Fixed completions for a text parameter: extract's query gets the model's known sounds.

    [] for every other parameter, and when the model is not installed (never a fetch).
    """
    if (node_type, param_name) != ("extract", "query"):
        return []
    from restora.models.lass import known_concepts  # here: only forms with a query pay for the import

    return known_concepts()


def make_mix_widget(node_id: str, parent: QWidget | None = None) -> FloatParamWidget:
    """The wet/dry control: 0–100 % shown, the fraction 0..1 emitted and accepted."""
    param = Param("wet/dry", 1.0, minimum=0.0, maximum=1.0, unit="%",
                  doc="Share of the processed signal; the rest is the node's input (latency-compensated)")
    return FloatParamWidget(param, node_id, parent, scale=100.0)


class ParamPanel(QWidget):
    """The parameters and wet/dry of one node, in a scrollable form.

    Signals: ``param_edited(name, value)``, ``mix_edited(fraction)`` and
    ``gesture_ended()`` (forwarded from the widgets' ``edit_finished``).
    """

    param_edited = Signal(str, object)
    mix_edited = Signal(float)
    gesture_ended = Signal()

    def __init__(self, parent: QWidget | None = None, settings: Settings | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.widgets: dict[str, ParamWidget] = {}
        self.mix_widget: FloatParamWidget | None = None
        self.node_id = ""
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        outer.addWidget(self.scroll)
        self.setAccessibleName("Node parameters")
        self.show_node(None)

    def show_node(self, spec: NodeSpec | None) -> None:
        """Build the form for ``spec`` (None: an empty hint)."""
        self.widgets, self.mix_widget = {}, None
        self.node_id = spec.id if spec else ""
        body = QWidget()
        form = QFormLayout(body)
        if spec is None:
            form.addRow(QLabel("Select a node to edit its parameters."))
        else:
            for param in node_class(spec.type).PARAMS:
                suggestions = text_suggestions(spec.type, param.name) if param.kind == "text" else []
                widget = make_param_widget(param, spec.id, settings=self.settings, suggestions=suggestions)
                widget.set_value(spec.params.get(param.name, param.default))
                widget.value_changed.connect(lambda v, n=param.name: self.param_edited.emit(n, v))
                self._add_row(form, param.name, widget)
                self.widgets[param.name] = widget
            self.mix_widget = make_mix_widget(spec.id)
            self.mix_widget.set_value(spec.mix)
            self.mix_widget.value_changed.connect(lambda v: self.mix_edited.emit(float(v)))
            self._add_row(form, "wet/dry", self.mix_widget)
        self.scroll.setWidget(body)  # deletes the previous form

    def _add_row(self, form: QFormLayout, text: str, widget: ParamWidget) -> None:
        label = QLabel(text)
        label.setBuddy(widget.control)
        widget.edit_finished.connect(self.gesture_ended)
        form.addRow(label, widget)

    def set_value(self, name: str, value: Any) -> None:
        """Show a value changed elsewhere (undo/redo); ``"mix"`` is the wet/dry fraction."""
        widget = self.mix_widget if name == "mix" else self.widgets.get(name)
        if widget is not None:
            widget.set_value(value)
