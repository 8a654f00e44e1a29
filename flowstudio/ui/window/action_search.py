"""Find Action (Ctrl+Shift+P, F3): every menu command by name, like Blender's F3 search.

Type to filter, ↑/↓ to choose, Enter to run it. Disabled commands are listed but cannot run.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QDialog, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

ACTION_ROLE = Qt.ItemDataRole.UserRole


def _label(action: QAction) -> str:
    return action.text().replace("&", "").rstrip("…").strip()


class ActionSearch(QDialog):
    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("ActionSearch")
        self.setWindowTitle("Find Action")
        em = self.fontMetrics().height()
        self.resize(em * 30, em * 22)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Find an action…")
        self.search.installEventFilter(self)
        self.list = QTreeWidget(self)
        self.list.setColumnCount(2)
        self.list.setHeaderHidden(True)
        self.list.setRootIsDecorated(False)
        self.list.itemActivated.connect(lambda item, _col: self._run(item))
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        seen: set[str] = set()
        for action in actions:
            name = _label(action)
            if not name or name in seen or action.isSeparator() or action.menu() is not None:
                continue
            seen.add(name)
            shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            item = QTreeWidgetItem([name, shortcut])
            item.setIcon(0, action.icon())
            item.setData(0, ACTION_ROLE, action)
            item.setToolTip(0, action.statusTip() or name)
            item.setDisabled(not action.isEnabled())
            self.list.addTopLevelItem(item)
        self.list.sortItems(0, Qt.SortOrder.AscendingOrder)
        self.list.resizeColumnToContents(1)
        self.list.header().setStretchLastSection(False)
        self.list.header().setSectionResizeMode(0, self.list.header().ResizeMode.Stretch)
        self.search.textChanged.connect(self._filter)
        self._filter("")
        if parent is not None:
            centre = parent.mapToGlobal(parent.rect().center())
            self.move(centre.x() - self.width() // 2, parent.mapToGlobal(parent.rect().topLeft()).y() + em * 4)

    def visible_names(self) -> list[str]:
        return [self.list.topLevelItem(i).text(0) for i in range(self.list.topLevelItemCount())
                if not self.list.topLevelItem(i).isHidden()]

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        first = None
        for i in range(self.list.topLevelItemCount()):
            item = self.list.topLevelItem(i)
            match = all(w in item.text(0).lower() for w in words)
            item.setHidden(not match)
            if match and first is None and not item.isDisabled():
                first = item
        if first is not None:
            self.list.setCurrentItem(first)

    def _run(self, item: QTreeWidgetItem | None) -> None:
        if item is None or item.isHidden() or item.isDisabled():
            return
        action: QAction = item.data(0, ACTION_ROLE)
        self.accept()
        action.trigger()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is self.search and isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._run(self.list.currentItem())
                return True
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                self._step(1 if event.key() == Qt.Key.Key_Down else -1)
                return True
        return super().eventFilter(obj, event)

    def _step(self, delta: int) -> None:
        rows = [self.list.topLevelItem(i) for i in range(self.list.topLevelItemCount())]
        rows = [r for r in rows if not r.isHidden() and not r.isDisabled()]
        if not rows:
            return
        current = self.list.currentItem()
        index = rows.index(current) + delta if current in rows else 0
        self.list.setCurrentItem(rows[max(0, min(len(rows) - 1, index))])
