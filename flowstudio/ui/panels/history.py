"""The undo history: every edit of the document as a list; clicking an entry goes back to it."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QUndoView, QVBoxLayout, QWidget

from .. import theme


class HistoryPanel(QWidget):
    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = QUndoView(controller.undo_stack, self)
        self.view.setEmptyLabel("Opened")
        self.view.setCleanIcon(theme.icon("mdi6.content-save-outline", "text_dim"))
        self.view.setAlternatingRowColors(True)
        layout.addWidget(self.view)

    def refresh_icons(self) -> None:
        self.view.setCleanIcon(theme.icon("mdi6.content-save-outline", "text_dim"))
