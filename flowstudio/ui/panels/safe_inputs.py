"""Inputs that ignore the mouse wheel unless they have the focus.

In a scrolling form, the wheel should scroll the form; a spin box or combo box the pointer merely
passes over must not change its value (and push an edit).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QComboBox, QWidget


class WheelOnlyWhenFocused:
    """Mixin: the wheel scrolls the inspector instead of changing a value the pointer happens to cross."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()


class SafeComboBox(WheelOnlyWhenFocused, QComboBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
