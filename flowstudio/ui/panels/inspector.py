"""The inspector: a form generated from the selected node's params model.

Every edit becomes a `SetParam` (or `SetTitle` / `SetFlowInfo`) pushed through the controller, with a
merge key so typing into one field is one undo step. The form listens to the document, so it
follows undo and redo. Values the model refuses stay visible at their field, with the reason.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from flowstudio.core.document import Change
from flowstudio.core.edits import MoveNodes, SetFlowInfo, SetParam, SetTitle
from flowstudio.core.flow import NodeSpec
from flowstudio.core.limits import clip
from flowstudio.core.node import Node
from flowstudio.core.problems import Problem
from flowstudio.core.validation import parse_params

from .. import theme
from .long_text import show_text
from .param_editors import ParamEditor, make_editor, stacked
from .param_widgets import FieldSpec, field_specs


class _FieldRow:
    def __init__(self, spec: FieldSpec, label: QLabel, editor: ParamEditor, error: QLabel) -> None:
        self.spec, self.label, self.editor, self.error = spec, label, editor, error
        self.parse_error = ""  # text the user typed that is not a value at all


class Inspector(QWidget):
    """Shows the selected node (or the flow's own info when nothing is selected)."""

    fieldFocused = Signal(str)  # noqa: N815
    editingFinished = Signal()  # noqa: N815 - Enter in the title: the window gives the canvas the focus
    nodeLinkActivated = Signal(str)  # noqa: N815 - a connected node's name was clicked: go to it

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.node_id: str | None = None
        self._selection: list[str] = []
        self._rows: dict[str, _FieldRow] = {}
        self._external: list[Problem] = []
        self._node_type: str | None = None
        self._showing_flow = False  # the flow's own name and description are in the form

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.header = QFrame(self)
        self.header.setObjectName("InspectorHeader")
        head = QVBoxLayout(self.header)
        head.setContentsMargins(10, 8, 10, 8)
        head.setSpacing(2)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.icon_label = QLabel(self.header)
        self.title_edit = QLineEdit(self.header)
        self.title_edit.setObjectName("InspectorTitle")
        theme.emphasize(self.title_edit, 1.15, bold=True)
        self.title_edit.setToolTip(TITLE_TIP)
        self.title_edit.textEdited.connect(self._title_edited)
        self.title_edit.returnPressed.connect(self.editingFinished)
        row.addWidget(self.icon_label)
        row.addWidget(self.title_edit, 1)
        head.addLayout(row)
        self.type_label = QLabel(self.header)
        self.type_label.setObjectName("InspectorType")
        self.type_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.description = QLabel(self.header)
        self.description.setObjectName("Dim")
        self.description.setWordWrap(True)
        head.addWidget(self.type_label)
        head.addWidget(self.description)
        outer.addWidget(self.header)

        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(self.scroll, 1)
        self.empty = QLabel(self)
        self.empty.setObjectName("InspectorEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        outer.addWidget(self.empty)

        controller.changed.connect(self._on_change)
        controller.documentReplaced.connect(lambda: self.show_selection([]))
        self.show_selection([])

    # -- what is shown

    @property
    def doc(self) -> Any:
        return self.controller.doc

    def show_selection(self, node_ids: list[str]) -> None:
        self._selection = list(node_ids)
        if len(node_ids) == 1:
            self.show_node(node_ids[0])
        elif node_ids:
            self._show_message(f"{len(node_ids)} nodes selected", "Select one node to edit its settings.")
        else:
            self._show_flow_info()

    def show_node(self, node_id: str) -> None:
        node = self.doc.flow.node(node_id)
        if node is None:
            self.show_selection([])
            return
        cls = self.doc.registry.find(node.type)
        same_form = self.node_id == node_id and self._node_type == node.type and self._rows
        self.node_id, self._node_type = node_id, node.type
        self._showing_flow = False
        self.header.show()
        self.empty.hide()
        self.scroll.show()
        self._fill_header(node, cls)
        if not same_form:
            self._build_form(node, cls)
        self._refresh_values()

    def _fill_header(self, node: NodeSpec, cls: type[Node] | None) -> None:
        size = self.fontMetrics().height() + 6
        self.icon_label.setPixmap(theme.icon(cls.icon if cls else "mdi6.alert-circle-outline",
                                             "accent" if cls else "error").pixmap(size, size))
        self.title_edit.setEnabled(True)
        self.title_edit.setPlaceholderText(cls.title if cls and cls.title else clip(node.type, 200))
        show_text(self.title_edit, node.title or "", TITLE_TIP)
        self.type_label.setText(f"{clip(node.type, 200)} · id {clip(node.id, 200)}")
        if cls is None:
            self.description.setText("This node type is not installed. Its settings are kept as they are.")
        else:
            self.description.setText(_brief(cls.description or ""))
            self.description.setToolTip(cls.description if len(cls.description or "") > DESCRIPTION_LIMIT else "")
        self.description.setVisible(bool(self.description.text()))

    def show_nothing(self) -> None:
        """No flow is open (the start page is showing)."""
        self._show_message("No flow open", "Start from a template, or open a flow.")

    def _show_message(self, title: str, text: str) -> None:
        self.node_id, self._node_type = None, None
        self._showing_flow = False
        self._rows.clear()
        self.header.hide()
        self.scroll.hide()
        self.empty.setText(f"<b>{title}</b><br>{text}")
        self.empty.show()

    def _show_flow_info(self) -> None:
        """Nothing selected: edit the flow's name and description."""
        self.node_id, self._node_type = None, None
        self._showing_flow = True
        self._rows.clear()
        self.header.show()
        self.empty.hide()
        self.scroll.show()
        size = self.fontMetrics().height() + 6
        self.icon_label.setPixmap(theme.icon("mdi6.sitemap-outline", "accent").pixmap(size, size))
        show_text(self.title_edit, "", TITLE_TIP)
        self.title_edit.setPlaceholderText("Flow")
        self.title_edit.setEnabled(False)
        flow = self.doc.flow
        self.type_label.setText(_counts(flow))
        self.description.setText("Select a node to edit its settings.")
        self.description.show()
        form_host = QWidget()
        outer = QVBoxLayout(form_host)
        outer.setContentsMargins(10, 10, 10, 10)
        form = QFormLayout()
        outer.addLayout(form)
        outer.addStretch(1)
        self.flow_name = QLineEdit(form_host)
        self.flow_description = QPlainTextEdit(form_host)
        show_text(self.flow_name, flow.name)
        show_text(self.flow_description, flow.description)
        self.flow_description.setFixedHeight(self.fontMetrics().lineSpacing() * 5 + 14)
        self.flow_description.setTabChangesFocus(True)
        form.addRow("Name", self.flow_name)
        form.addRow("Description", self.flow_description)
        self.flow_name.textEdited.connect(self._flow_info_edited)
        self.flow_description.textChanged.connect(self._flow_info_edited)
        self.scroll.setWidget(form_host)

    def _build_form(self, node: NodeSpec, cls: type[Node] | None) -> None:
        self._rows.clear()
        if hasattr(self, "_port_labels"):
            del self._port_labels
        host = QWidget()
        layout = QVBoxLayout(host)
        layout.setContentsMargins(10, 6, 10, 10)
        layout.setSpacing(4)
        self.general_error = QLabel(host)
        self.general_error.setObjectName("FieldError")
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        layout.addWidget(self.general_error)
        if cls is None:
            raw = QPlainTextEdit(host)
            show_text(raw, json.dumps(node.params, indent=2, ensure_ascii=False))
            raw.setReadOnly(True)
            layout.addWidget(raw)
        else:
            specs = field_specs(cls.Params)
            section = QLabel("SETTINGS" if specs else "This node has no settings.", host)
            section.setObjectName("SectionLabel" if specs else "Dim")
            if specs:
                theme.emphasize(section, 0.85, bold=True)
            layout.addWidget(section)
            form = QFormLayout()
            form.setSpacing(6)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            for spec in specs:
                form.addRow(*self._make_row(spec, host))
            layout.addLayout(form)
            self._ports_layout = layout
            self._ports_box = self._ports_section(node, cls, host)
            layout.addWidget(self._ports_box)
        layout.addStretch(1)
        self.scroll.setWidget(host)

    def _make_row(self, spec: FieldSpec, host: QWidget) -> tuple[QLabel, QWidget]:
        label = QLabel(spec.label, host)
        label.setObjectName("FieldLabel")
        label.setToolTip(spec.tooltip())
        label.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        label.customContextMenuRequested.connect(lambda pos, s=spec, lb=label: self._label_menu(s, lb, pos))
        editor = make_editor(spec, host)
        if hasattr(editor, "base_dir") and self.doc.path is not None:
            editor.base_dir = str(self.doc.path.parent)
        error = QLabel(host)
        error.setObjectName("FieldError")
        theme.emphasize(error, 0.9)
        error.setWordWrap(True)
        error.hide()
        row = _FieldRow(spec, label, editor, error)
        self._rows[spec.name] = row
        editor.edited.connect(lambda value, r=row: self._edited(r, value))
        editor.parseError.connect(lambda message, r=row: self._parse_failed(r, message))
        label.setBuddy(editor.focus_widget())
        if spec.kind not in ("multiline", "code"):  # centre the label on one-line editors
            label.setMinimumHeight(editor.sizeHint().height())
        return label, stacked(editor, error)

    def _ports_section(self, node: NodeSpec, cls: type[Node], host: QWidget) -> QWidget:
        box = QWidget(host)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(2)
        self._port_labels: dict[str, QLabel] = {}
        for title, ports in (("INPUTS", cls.input_ports(node.params)), ("OUTPUTS", cls.output_ports(node.params))):
            if not ports:
                continue
            section = QLabel(title, box)
            section.setObjectName("SectionLabel")
            theme.emphasize(section, 0.85, bold=True)
            layout.addWidget(section)
            for port in ports:
                label = QLabel(box)
                label.setWordWrap(True)
                label.setToolTip(port.description)
                label.linkActivated.connect(lambda href: self.nodeLinkActivated.emit(href.removeprefix("node:")))
                self._port_labels[port.name] = label
                layout.addWidget(label)
        return box

    # -- keeping the form in step with the document

    def _refresh_values(self) -> None:
        node = self.doc.flow.node(self.node_id) if self.node_id else None
        if node is None:
            return
        cls = self.doc.registry.find(node.type)
        for name, row in self._rows.items():
            value = node.params.get(name, row.spec.default)
            row.editor.set_value(value)
            modified = name in node.params and node.params[name] != row.spec.default
            if row.label.property("modified") != modified:
                row.label.setProperty("modified", modified)
                row.label.style().unpolish(row.label)
                row.label.style().polish(row.label)
        self._show_field_problems(node, cls)
        self._refresh_ports(node, cls)

    def _refresh_ports(self, node: NodeSpec, cls: type[Node] | None) -> None:
        if cls is None or not hasattr(self, "_port_labels"):
            return
        names = [p.name for p in (*cls.input_ports(node.params), *cls.output_ports(node.params))]
        if names != list(self._port_labels):  # ports that depend on params (template variables) changed
            old = self._ports_box
            self._ports_box = self._ports_section(node, cls, old.parentWidget())
            self._ports_layout.replaceWidget(old, self._ports_box)
            old.deleteLater()
        flow = self.doc.flow
        for port in cls.input_ports(node.params):
            label = self._port_labels.get(port.name)
            if label is None:
                continue
            sources = [e.source for e in flow.edges if e.target == f"{node.id}.{port.name}"]
            dot = f"<span style='color:{port.type.color}'>●</span>"
            if sources:
                state = "← " + ", ".join(_node_link(s) for s in sources)
            elif port.optional:
                state = f"<span style='color:{theme.color('text_dim')}'>optional, not connected</span>"
            else:
                state = f"<span style='color:{theme.color('error')}'>not connected</span>"
            label.setText(f"{dot} {port.name} <span style='color:{theme.color('text_dim')}'>"
                          f"{port.type.name}</span> {state}")
        for port in cls.output_ports(node.params):
            label = self._port_labels.get(port.name)
            if label is None:
                continue
            targets = [e.target for e in flow.edges if e.source == f"{node.id}.{port.name}"]
            dot = f"<span style='color:{port.type.color}'>●</span>"
            state = ("→ " + ", ".join(_node_link(t) for t in targets)) if targets else ""
            label.setText(f"{dot} {port.name} <span style='color:{theme.color('text_dim')}'>"
                          f"{port.type.name}</span> {state}")

    def _show_field_problems(self, node: NodeSpec, cls: type[Node] | None) -> None:
        messages: dict[str, list[str]] = {}
        general: list[str] = []
        problems: list[Problem] = []
        if cls is not None:
            problems += parse_params(cls, node.params)[1]
        problems += [p for p in self._external if p.node_id == node.id and p.code != "bad_param"]
        for problem in problems:
            if problem.field in self._rows:
                messages.setdefault(problem.field, []).append(_short(problem.message))
            elif problem.code in ("unknown_param",):
                general.append(f"{problem.field}: {problem.message}")
        for name, row in self._rows.items():
            text = row.parse_error or "; ".join(dict.fromkeys(messages.get(name, [])))
            row.error.setText(text)
            row.error.setVisible(bool(text))
            row.editor.set_invalid(bool(text))
        if hasattr(self, "general_error"):
            self.general_error.setText("\n".join(general))
            self.general_error.setVisible(bool(general))

    def set_problems(self, problems: list[Problem]) -> None:
        """Problems from the whole-flow validation (missing files, ...), shown at their fields."""
        self._external = list(problems)
        node = self.doc.flow.node(self.node_id) if self.node_id else None
        if node is not None and self._rows:
            self._show_field_problems(node, self.doc.registry.find(node.type))

    def _on_change(self, change: Change) -> None:
        if isinstance(change.edit, MoveNodes):  # a drag on the canvas: nothing here to update
            return
        if self.node_id is None:
            if self._showing_flow:
                self._refresh_flow_info()
            return
        if change.edit is None or self.node_id in change.nodes:
            if self.doc.flow.node(self.node_id) is None:
                self.show_selection([])
            else:
                self.show_node(self.node_id)
        elif hasattr(self, "_port_labels"):
            node = self.doc.flow.node(self.node_id)
            if node is not None:
                self._refresh_ports(node, self.doc.registry.find(node.type))

    def _refresh_flow_info(self) -> None:
        flow = self.doc.flow
        self.type_label.setText(_counts(flow))
        self.flow_name.blockSignals(True)
        self.flow_description.blockSignals(True)
        show_text(self.flow_name, flow.name)
        show_text(self.flow_description, flow.description)
        self.flow_name.blockSignals(False)
        self.flow_description.blockSignals(False)

    # -- edits from the form

    def _edited(self, row: _FieldRow, value: Any) -> None:
        row.parse_error = ""
        node = self.doc.flow.node(self.node_id) if self.node_id else None
        if node is None:
            return
        if node.params.get(row.spec.name, row.spec.default) == value and row.spec.name in node.params:
            self._show_field_problems(node, self.doc.registry.find(node.type))
            return
        self.controller.push(SetParam(node.id, row.spec.name, value, label=f"Set {node.id}.{row.spec.name}"),
                             merge_key=f"param:{node.id}:{row.spec.name}")

    def _parse_failed(self, row: _FieldRow, message: str) -> None:
        row.parse_error = message
        row.error.setText(message)
        row.error.show()
        row.editor.set_invalid(True)

    def _title_edited(self, text: str) -> None:
        if self.node_id is None:
            return
        self.controller.push(SetTitle(self.node_id, text.strip() or None, label=f"Rename {self.node_id}"),
                             merge_key=f"title:{self.node_id}")

    def _flow_info_edited(self) -> None:
        if self.flow_name.isReadOnly() or self.flow_description.isReadOnly():
            return  # one of them is a shortened preview: never written back
        flow = self.doc.flow
        name, description = self.flow_name.text(), self.flow_description.toPlainText()
        if (name, description) != (flow.name, flow.description):
            self.controller.push(SetFlowInfo(name, description), merge_key="flow-info")

    def _label_menu(self, spec: FieldSpec, label: QLabel, pos: Any) -> None:
        menu = QMenu(self)
        reset = menu.addAction(theme.icon("mdi6.restore"), f"Reset to default ({spec.default!r})")
        reset.triggered.connect(lambda: self._reset(spec))
        menu.exec(label.mapToGlobal(pos))

    def _reset(self, spec: FieldSpec) -> None:
        row = self._rows.get(spec.name)
        if row is not None and self.node_id is not None:
            self.controller.push(SetParam(self.node_id, spec.name, spec.default, label=f"Reset {spec.name}"))

    # -- queries for the window and the tests

    def field_names(self) -> list[str]:
        """The params in the shown node's form, in form order (none while no node is shown)."""
        return list(self._rows)

    def rebuild(self) -> None:
        """Show the same selection again, with the node's form built anew (after a theme change)."""
        if self.node_id:
            self._rows.clear()
        self.show_selection(self._selection)

    def editor(self, name: str) -> ParamEditor:
        return self._rows[name].editor

    def error_text(self, name: str) -> str:
        row = self._rows[name]
        return row.error.text() if not row.error.isHidden() else ""

    def focus_field(self, name: str | None) -> bool:
        """Put the keyboard focus into a param's editor (from the problems panel)."""
        row = self._rows.get(name or "")
        if row is None:
            return False
        widget = row.editor.focus_widget()
        self.scroll.ensureWidgetVisible(row.editor)
        widget.setFocus(Qt.FocusReason.OtherFocusReason)
        self.fieldFocused.emit(name)
        return True


DESCRIPTION_LIMIT = 240
TITLE_TIP = "The node's title on the canvas (empty: the type's title)"


def _node_link(endpoint: str) -> str:
    """`node.port` with the node as a link (the window selects that node)."""
    node_id, port = endpoint.split(".", 1)
    return f"<a href='node:{node_id}' style='color:{theme.color('accent')}; text-decoration:none'>{node_id}</a>.{port}"


def _counts(flow: Any) -> str:
    nodes, edges = len(flow.nodes), len(flow.edges)
    return f"{nodes} node{'s' if nodes != 1 else ''} · {edges} connection{'s' if edges != 1 else ''}"


def _brief(text: str) -> str:
    """The first sentences of a long description (the whole text is the tooltip)."""
    text = " ".join(text.split())
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    cut = text[:DESCRIPTION_LIMIT]
    end = cut.rfind(". ")
    return cut[:end + 1] if end > DESCRIPTION_LIMIT // 2 else cut.rsplit(" ", 1)[0] + "…"


def _short(message: str) -> str:
    """pydantic's 'Input should be greater than 0 (got -1.0)' reads fine; drop the repeated input."""
    return message.split(" (got ")[0]
