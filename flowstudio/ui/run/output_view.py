"""One run output, shown for what it is: text as text, rows as a sortable table, other values as JSON.

A table is a `table` artifact (a JSONL file a node wrote: QA accuracy, reward score, ...) or a JSON list
of objects. It is read bounded (MAX_TABLE_ROWS rows, MAX_TABLE_BYTES, cells clipped), since an output
path comes from a run of a flow file that may not be ours; numbers sort as numbers (QSortFilterProxyModel)
and the filter box keeps the rows holding its text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

MAX_TABLE_ROWS = 5_000
MAX_TABLE_BYTES = 32 * 2**20
MAX_CELL_CHARS = 2_000
MAX_TEXT_CHARS = 1_000_000


def read_table(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The rows of a JSONL table (objects only; other lines skipped) and whether it was cut short."""
    rows: list[dict[str, Any]] = []
    read = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            read += len(line)
            if len(rows) >= MAX_TABLE_ROWS or read > MAX_TABLE_BYTES:
                return rows, True
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows, False


def as_rows(value: Any) -> list[dict[str, Any]] | None:
    """A JSON list of objects as table rows, else None."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value[:MAX_TABLE_ROWS]):
        return value[:MAX_TABLE_ROWS]
    return None


def is_table(value: Any) -> bool:
    return isinstance(value, dict) and value.get("__artifact__") is True and value.get("kind") == "table"


def _cell(value: Any) -> QStandardItem:
    item = QStandardItem()
    if isinstance(value, bool) or value is None:
        item.setData("" if value is None else str(value).lower(), Qt.ItemDataRole.DisplayRole)
    elif isinstance(value, int | float):
        item.setData(value, Qt.ItemDataRole.DisplayRole)  # sorts as a number
    else:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        shown = " ".join(text.split())
        item.setData(shown[:MAX_CELL_CHARS] + ("…" if len(shown) > MAX_CELL_CHARS else ""),
                     Qt.ItemDataRole.DisplayRole)
        item.setToolTip(text[:MAX_CELL_CHARS])
    item.setEditable(False)
    return item


class OutputView(QWidget):
    """`show_value(value)`: text, a table (artifact or rows) or JSON; `mode` says which is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = "empty"
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.caption = QLabel(self)
        self.caption.setObjectName("OutputCaption")
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter rows…")
        self.filter.setClearButtonEnabled(True)
        self.stack = QStackedWidget(self)
        self.text = QPlainTextEdit(self.stack)
        self.text.setReadOnly(True)
        self.model = QStandardItemModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setSortRole(Qt.ItemDataRole.DisplayRole)
        self.table = QTableView(self.stack)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.stack.addWidget(self.text)
        self.stack.addWidget(self.table)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        layout.addWidget(self.caption)
        layout.addWidget(self.filter)
        layout.addWidget(self.stack, 1)
        self.clear()

    def clear(self) -> None:
        self.mode = "empty"
        self.caption.setText("Select an output to see it")
        self.text.setPlainText("")
        self.model.clear()
        self.filter.clear()
        self.filter.hide()
        self.stack.setCurrentWidget(self.text)

    def show_value(self, value: Any, name: str = "") -> None:
        prefix = f"{name}: " if name else ""
        if is_table(value):
            try:
                rows, cut = read_table(Path(str(value.get("path", ""))))
            except OSError as exc:
                self._show_text(f"The table {value.get('path')} cannot be read: {exc.strerror or exc}",
                                prefix + "table")
                return
            self._show_rows(rows, prefix + f"table, {len(rows)} row{'s' if len(rows) != 1 else ''}"
                            + (f" (the first {len(rows)})" if cut else "") + f" — {value.get('path')}")
        elif (rows := as_rows(value)) is not None:
            self._show_rows(rows, prefix + f"{len(rows)} row{'s' if len(rows) != 1 else ''}")
        elif isinstance(value, str):
            self._show_text(value, prefix + f"text, {len(value):,} characters")
        elif isinstance(value, dict) and value.get("__artifact__"):
            self._show_text(json.dumps(value, indent=2, ensure_ascii=False, default=str),
                            prefix + f"{value.get('kind', 'artifact')}: {value.get('path', '')}")
        else:
            self._show_text(json.dumps(value, indent=2, ensure_ascii=False, default=str), prefix + "value")

    def _show_text(self, text: str, caption: str) -> None:
        self.mode = "text"
        self.caption.setText(caption)
        self.filter.hide()
        self.text.setPlainText(text[:MAX_TEXT_CHARS] + ("\n…" if len(text) > MAX_TEXT_CHARS else ""))
        self.stack.setCurrentWidget(self.text)

    def _show_rows(self, rows: list[dict[str, Any]], caption: str) -> None:
        self.mode = "table"
        self.caption.setText(caption)
        columns: list[str] = []
        for row in rows:
            for key in row:
                if key not in columns:
                    columns.append(str(key))
        self.table.setSortingEnabled(False)
        self.model.clear()
        self.model.setHorizontalHeaderLabels(columns)
        for row in rows:
            self.model.appendRow([_cell(row.get(c)) for c in columns])
        self.table.setSortingEnabled(True)
        self.proxy.sort(-1)  # the file's order until a header is clicked
        self.filter.clear()
        self.filter.show()
        self.stack.setCurrentWidget(self.table)
        self.table.resizeColumnsToContents()
