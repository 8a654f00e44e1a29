"""The Dataset panel: what a selected data node will load — first rows, format, column mapping, token lengths.

The node class provides the preview (`preview(params, flow_dir, tokenizer_source)`, e.g. data.load's); the
panel only finds the tokenizer connected downstream (the model or tokenizer feeding the node that reads
this data) and runs the preview in a background thread, so a slow disk never freezes the window. The
preview reads the data's head with pyarrow / the standard library and counts tokens with `tokenizers`:
the GUI process never imports torch.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from flowstudio.core.document import Change
from flowstudio.core.edits import MoveNodes
from flowstudio.core.flow import Flow
from flowstudio.core.ports import Model, Tokenizer
from flowstudio.core.registry import NodeRegistry

from .. import theme

STATS = ("rows", "mean", "p50", "p95", "max")


def connected_tokenizer(flow: Flow, registry: NodeRegistry, node_id: str, limit: int = 500) -> str | None:
    """The `source` of the model/tokenizer loader feeding a node downstream of `node_id` (tokenizer inputs
    first, then model inputs; the nearest consumer wins), or None."""
    seen, queue = {node_id}, deque([node_id])
    while queue and len(seen) < limit:
        current = queue.popleft()
        for edge in flow.edges:
            if edge.source_node != current or edge.target_node in seen:
                continue
            seen.add(edge.target_node)
            queue.append(edge.target_node)
            found = _loader_source(flow, registry, edge.target_node)
            if found is not None:
                return found
    return None


def _loader_source(flow: Flow, registry: NodeRegistry, consumer: str) -> str | None:
    spec = flow.node(consumer)
    cls = registry.find(spec.type) if spec else None
    if spec is None or cls is None:
        return None
    ports = {p.name: p.type for p in cls.input_ports(spec.params)}
    for wanted in (Tokenizer, Model):
        for edge in flow.edges:
            if edge.target_node == consumer and ports.get(edge.target_port) is wanted:
                source = flow.node(edge.source_node)
                value = source.params.get("source") if source else None
                if isinstance(value, str) and value.strip():
                    return value
    return None


class _Results(QObject):
    ready = Signal(int, object)  # generation, preview dict


class DatasetPreviewPanel(QWidget):
    def __init__(self, controller: Any, delay_ms: int = 300, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.node_id: str | None = None
        self.preview: dict[str, Any] | None = None
        self.tokenizer_source: str | None = None
        self._generation = 0
        self._busy = False
        self._results = _Results(self)
        self._results.ready.connect(self._show)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.title = QLabel("Select a Load data node to preview its dataset.", self)
        self.title.setObjectName("DatasetPreviewTitle")
        self.title.setWordWrap(True)
        self.info = QLabel("", self)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel("", self)
        self.error.setWordWrap(True)
        self.error.setObjectName("DatasetPreviewError")
        self.table = QTableWidget(self)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.setWordWrap(False)
        self.tokens_label = QLabel("", self)
        self.tokens_label.setWordWrap(True)
        self.stats = QTableWidget(1, len(STATS), self)
        self.stats.setHorizontalHeaderLabels(list(STATS))
        self.stats.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.stats.verticalHeader().setVisible(False)
        self.stats.setMaximumHeight(self.fontMetrics().height() * 4)
        for widget in (self.title, self.info, self.error):
            layout.addWidget(widget)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.tokens_label)
        layout.addWidget(self.stats)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms)
        self.timer.timeout.connect(self.refresh)
        controller.changed.connect(self._changed)
        controller.documentReplaced.connect(lambda: self.show_selection([]))
        self._set_empty("Select a Load data node to preview its dataset.")

    # -- what to show

    def show_selection(self, node_ids: list[str]) -> None:
        self.node_id = node_ids[0] if len(node_ids) == 1 else None
        self.refresh()

    def _changed(self, change: Change) -> None:
        if self.node_id is not None and not isinstance(change.edit, MoveNodes):
            self.timer.start()  # a param, an edge (the tokenizer) or the file may have changed

    @property
    def busy(self) -> bool:
        """A preview is being computed."""
        return self._busy

    def refresh(self) -> None:
        self.timer.stop()
        self._generation += 1
        doc = self.controller.doc
        spec = doc.flow.node(self.node_id) if self.node_id else None
        cls = doc.registry.find(spec.type) if spec else None
        if spec is None or cls is None or not callable(getattr(cls, "preview", None)):
            self._busy = False
            self._set_empty("Select a Load data node to preview its dataset.")
            return
        title = spec.title or cls.title or spec.type
        try:
            params = cls.Params.model_validate(spec.params)
        except ValidationError as err:
            self._busy = False
            self._set_empty(f"{title}: fix its parameters first ({err.error_count()} problem(s))")
            return
        self.tokenizer_source = connected_tokenizer(doc.flow, doc.registry, spec.id)
        flow_dir = doc.path.parent if doc.path else None
        self.title.setText(f"{title} — reading the first rows…")
        self._busy = True
        generation = self._generation

        def work() -> None:
            try:
                result = cls.preview(params, flow_dir, self.tokenizer_source)
            except Exception as exc:  # noqa: BLE001 - shown in the panel, never lost in a thread
                result = {"error": f"{type(exc).__name__}: {exc}", "hint": ""}
            self._results.ready.emit(generation, result)

        threading.Thread(target=work, name="flowstudio-dataset-preview", daemon=True).start()

    # -- display (GUI thread)

    def _set_empty(self, text: str) -> None:
        self.preview = None
        self.title.setText(text)
        for label in (self.info, self.error, self.tokens_label):
            label.setText("")
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.stats.clearContents()

    def _show(self, generation: int, result: dict[str, Any]) -> None:
        if generation != self._generation:
            return  # the selection or the params changed since
        self._busy = False
        self.preview = result
        spec = self.controller.doc.flow.node(self.node_id) if self.node_id else None
        name = (spec.title or spec.id) if spec else ""
        self.title.setText(f"{name}: {Path(result.get('path', '')).name}")
        self.info.setText(self.describe(result))
        error = result.get("error")
        self.error.setText(f"✖ {error}" + (f"\nHint: {result['hint']}" if result.get("hint") else "") if error else "")
        self.error.setStyleSheet(f"color: {theme.color('error')};" if error else "")
        self._fill_rows(result.get("rows") or [])
        tokens = result.get("tokens") or {}
        self.tokens_label.setText(("Token lengths — " + tokens["label"]) if tokens else "")
        self.stats.clearContents()
        for col, name in enumerate(STATS):
            value = (tokens.get("stats") or {}).get(name)
            if value is not None:
                self.stats.setItem(0, col, QTableWidgetItem(f"{value:.1f}" if name == "mean" else f"{value:.0f}"))

    @staticmethod
    def describe(result: dict[str, Any]) -> str:
        """Format, mapping, columns and how much was read, in one short paragraph."""
        parts = []
        if result.get("format"):
            parts.append(f"Format: {result['format']} ({'detected' if result.get('detected') else 'as set'})")
        renamed = result.get("renamed") or {}
        if renamed:
            parts.append("Column mapping applied: " + ", ".join(f"{a} → {b}" for a, b in renamed.items()))
        elif result.get("format"):
            parts.append("Column mapping: none needed")
        if result.get("columns") is not None:
            parts.append("Columns in the file: " + (", ".join(result["columns"]) or "none"))
        if result.get("rows_read") is not None:
            total = result.get("total_rows")
            read = f"{result['rows_read']} row(s) read"
            if total is not None:
                read += f" of {total:,}"
            elif not result.get("complete", True):
                read += " (the start of the file)"
            parts.append(read)
        parts += result.get("notes") or []
        return "\n".join(parts)

    def _fill_rows(self, rows: list[dict[str, str]]) -> None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(columns)
        for r, row in enumerate(rows):
            for c, name in enumerate(columns):
                text = row.get(name, "")
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)

    def cell(self, row: int, column: str) -> str:
        for c in range(self.table.columnCount()):
            if self.table.horizontalHeaderItem(c).text() == column:
                item = self.table.item(row, c)
                return item.text() if item else ""
        raise KeyError(column)
