"""The problems panel: the flow's validation results, re-run (debounced) after every change.

Activating a problem asks the window to select its node and focus its field (`problemActivated`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from flowstudio.core.document import Change
from flowstudio.core.edits import MoveNodes
from flowstudio.core.problems import Problem

from .. import theme

PROBLEM_ROLE = Qt.ItemDataRole.UserRole


class ProblemsPanel(QWidget):
    problemActivated = Signal(object, object)  # noqa: N815 - node id (or None), field (or None)
    problemsChanged = Signal(list)  # noqa: N815 - list[Problem]

    def __init__(self, controller: Any, delay_ms: int = 250, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.problems: list[Problem] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.summary = QLabel(self)
        self.summary.setObjectName("ProblemsSummary")
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Problem", "Node", "Field"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, self.tree.header().ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, self.tree.header().ResizeMode.ResizeToContents)
        self.tree.header().setSectionResizeMode(2, self.tree.header().ResizeMode.ResizeToContents)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(delay_ms)
        self.timer.timeout.connect(self.refresh)
        controller.changed.connect(self._changed)
        controller.documentReplaced.connect(self.refresh)
        self.refresh()

    def clear(self) -> None:
        """No flow is open: nothing to report."""
        self.timer.stop()
        self.problems = []
        self.tree.clear()
        self.summary.setText("")
        self.problemsChanged.emit(self.problems)

    def _changed(self, change: Change) -> None:
        if not isinstance(change.edit, MoveNodes):  # moving nodes cannot change what is valid
            self.schedule()

    def schedule(self) -> None:
        """Validate shortly; a burst of edits (typing) costs one validation."""
        self.timer.start()

    def refresh(self) -> None:
        self.timer.stop()
        self.problems = self.controller.doc.validate()
        self.tree.clear()
        for problem in self.problems:
            is_error = problem.severity == "error"
            item = QTreeWidgetItem([problem.message, problem.node_id or "", problem.field or ""])
            item.setIcon(0, theme.icon("mdi6.alert-circle" if is_error else "mdi6.alert",
                                       "error" if is_error else "warning"))
            tip = problem.format()
            item.setToolTip(0, tip)
            item.setData(0, PROBLEM_ROLE, problem)
            if problem.hint:
                item.setStatusTip(0, problem.hint)
            self.tree.addTopLevelItem(item)
        errors = sum(p.severity == "error" for p in self.problems)
        warnings = len(self.problems) - errors
        if not self.problems:
            self.summary.setText("✓ No problems: the flow can run.")
        else:
            parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
            self.summary.setText(" · ".join(parts) + ("  — click one to go to it" if errors else ""))
        self.problemsChanged.emit(self.problems)

    def item_for(self, predicate: Any) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if predicate(item.data(0, PROBLEM_ROLE)):
                return item
        return None

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        problem: Problem = item.data(0, PROBLEM_ROLE)
        self.problemActivated.emit(problem.node_id, problem.field)
