"""Editors for single params, one per kind of field (`FieldSpec.kind`, see `param_widgets`).

Each editor shows a JSON value, emits `edited(value)` when the user changes it and never writes the
document itself (the inspector turns edits into undoable `SetParam`s). A text value too long to edit
in a widget is shown as a read-only preview (see `long_text`); it is never cut and written back.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from flowstudio.core.limits import clip

from .. import theme
from .long_text import MAX_LINE_EDIT_CHARS, show_text, too_long_to_edit
from .model_picker import ModelPicker
from .param_widgets import INT32, FieldSpec, FloatSpinBox, IntSpinBox
from .safe_inputs import SafeComboBox


class ParamEditor(QWidget):
    """Base of the editors: `set_value` from the document (silent), `edited` from the user."""

    edited = Signal(object)  # the new JSON value
    parseError = Signal(str)  # text that is not a value at all (kept visible, not pushed)

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.setToolTip(spec.tooltip())

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def focus_widget(self) -> QWidget:
        return self

    def set_invalid(self, invalid: bool) -> None:
        target = self.focus_widget()
        if target.property("invalid") != invalid:
            target.setProperty("invalid", invalid)
            target.style().unpolish(target)
            target.style().polish(target)


class BoolEditor(ParamEditor):
    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.box = QCheckBox(self)
        self._layout.addWidget(self.box)
        self._layout.addStretch(1)
        self.box.toggled.connect(lambda checked: self.edited.emit(bool(checked)))

    def set_value(self, value: Any) -> None:
        self.box.blockSignals(True)
        self.box.setChecked(bool(value))
        self.box.blockSignals(False)

    def focus_widget(self) -> QWidget:
        return self.box


class NumberEditor(ParamEditor):
    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.spin: QSpinBox | FloatSpinBox = IntSpinBox(spec, self) if spec.kind == "int" else FloatSpinBox(spec, self)
        self.spin.setToolTip(spec.tooltip())
        self._layout.addWidget(self.spin, 1)
        self.spin.valueChanged.connect(self._changed)

    def _changed(self, value: float) -> None:
        self.edited.emit(int(value) if self.spec.kind == "int" else float(value))

    def set_value(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            # not a number in the file: show it, the inspector reports the problem
            self.spin.lineEdit().setText("" if value is None else clip(str(value), 200))
            return
        if self.spin.value() == value and self.spin.text():
            return
        self.spin.blockSignals(True)
        if self.spec.kind == "int" and not (INT32[0] <= value <= INT32[1]):
            self.spin.lineEdit().setText(str(value))
        else:
            self.spin.setValue(value)
        self.spin.blockSignals(False)

    def focus_widget(self) -> QWidget:
        return self.spin


class ChoiceEditor(ParamEditor):
    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = SafeComboBox(self)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(6)
        for option in spec.options:
            self.combo.addItem(clip(str(option), 200), option)
        self._layout.addWidget(self.combo, 1)
        self.combo.activated.connect(lambda i: self.edited.emit(self.combo.itemData(i)))

    def set_value(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index < 0:  # a value the model does not know: show it so the problem is visible
            self.combo.addItem(clip(str(value), 200), value)
            index = self.combo.count() - 1
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)

    def focus_widget(self) -> QWidget:
        return self.combo


class LineEditor(ParamEditor):
    """Plain strings, and (kind "json") anything else typed as JSON: lists, dicts, optional numbers."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.line = QLineEdit(self)
        self.line.setClearButtonEnabled(spec.kind != "json")
        if spec.nullable:
            self.line.setPlaceholderText("(none)")
        self._layout.addWidget(self.line, 1)
        self.line.textEdited.connect(self._typed)
        self.previewing = False  # the value is too long to edit: a read-only preview is shown

    def _to_text(self, value: Any) -> str:
        if value is None:
            return ""
        if self.spec.kind == "json" and not isinstance(value, str):
            return json.dumps(value)
        return str(value)

    def _typed(self, text: str) -> None:
        if self.spec.nullable and not text.strip():
            self.edited.emit(None)
            return
        if self.spec.kind != "json":
            self.edited.emit(text)
            return
        try:
            self.edited.emit(json.loads(text))
        except ValueError:
            self.parseError.emit("not a valid value (numbers, true/false, [lists] or {objects} in JSON)")

    def set_value(self, value: Any) -> None:
        text = self._to_text(value)
        if self.previewing or too_long_to_edit(text, one_line=True):
            self.previewing = show_text(self.line, text, self.spec.tooltip())
            if self.previewing:
                return
        if self.line.text() != text:
            try:  # same value, other spelling (e.g. "1e-5" typed, 1e-05 stored): leave the user's text
                if self.spec.kind == "json" and json.loads(self.line.text()) == value:
                    return
            except ValueError:
                pass
            self.line.setText(text)

    def focus_widget(self) -> QWidget:
        return self.line


class TextEditor(ParamEditor):
    """Multi-line text (prompts, templates); code fields use a monospace font."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.text = QPlainTextEdit(self)
        self.text.setTabChangesFocus(spec.kind != "code")
        if spec.kind == "code":
            font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
            font.setStyleHint(QFont.StyleHint.Monospace)
            self.text.setFont(font)
            self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        lines = 10 if spec.kind == "code" else 4
        self.text.setFixedHeight(self.text.fontMetrics().lineSpacing() * lines + 14)
        self._layout.addWidget(self.text, 1)
        self.text.textChanged.connect(self._changed)
        self._silent = False
        self.previewing = False  # the value is too long to edit: a read-only preview is shown

    def _changed(self) -> None:
        if not self._silent and not self.previewing:
            self.edited.emit(self.text.toPlainText())

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if self.previewing or too_long_to_edit(text, one_line=False):
            self._silent = True
            self.previewing = show_text(self.text, text, self.spec.tooltip())
            self._silent = False
            if self.previewing:
                return
        if self.text.toPlainText() != text:
            self._silent = True
            cursor = self.text.textCursor().position()
            self.text.setPlainText(text)
            c = self.text.textCursor()
            c.setPosition(min(cursor, len(text)))
            self.text.setTextCursor(c)
            self._silent = False

    def focus_widget(self) -> QWidget:
        return self.text


class PathEditor(LineEditor):
    """A path with a browse button (a file or a directory, per the field's `path_kind`)."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        kind = spec.hints.get("path_kind", "file")
        self.line.setPlaceholderText("a directory" if kind == "dir" else "a file")
        self.button = QToolButton(self)
        self.button.setIcon(theme.icon("mdi6.folder-open-outline"))
        self.button.setToolTip("Browse…")
        self.button.clicked.connect(self.browse)
        self._layout.addWidget(self.button)
        self.base_dir = ""

    def browse(self) -> None:
        start = self.line.text() or self.base_dir
        if self.spec.hints.get("path_kind") == "dir":
            path = QFileDialog.getExistingDirectory(self, f"Choose {self.spec.label.lower()}", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, f"Choose {self.spec.label.lower()}", start,
                                                  self.spec.hints.get("filters") or "All files (*)")
        if path:
            self.line.setText(path)
            self.edited.emit(path)


class ModelEditor(ParamEditor):
    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.picker = ModelPicker(self)
        self._layout.addWidget(self.picker, 1)
        self.picker.textEdited.connect(lambda text: self.edited.emit(text))

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        long = len(text) > MAX_LINE_EDIT_CHARS
        self.picker.setEnabled(not long)  # a model source that long is not a model: shown, not editable
        self.picker.set_text(clip(text, 200) if long else text)

    def focus_widget(self) -> QWidget:
        return self.picker.combo


EDITORS: dict[str, type[ParamEditor]] = {
    "bool": BoolEditor, "int": NumberEditor, "float": NumberEditor, "choice": ChoiceEditor,
    "line": LineEditor, "json": LineEditor, "multiline": TextEditor, "code": TextEditor,
    "path": PathEditor, "model": ModelEditor,
}


def make_editor(spec: FieldSpec, parent: QWidget | None = None) -> ParamEditor:
    return EDITORS[spec.kind](spec, parent)


def stacked(*widgets: QWidget) -> QWidget:
    """A small vertical stack with no margins (editor above its error label)."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    for w in widgets:
        layout.addWidget(w)
    return box
