"""The node palette: every installed node type by category, filtered as you type.

Drag an entry onto the canvas (MIME `NODE_TYPE_MIME`, payload the type id) or press Enter /
double-click to add it at the centre of the view (`nodeRequested`).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QModelIndex, QPoint, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QDrag, QIcon, QKeyEvent, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from flowstudio.core.node import Node
from flowstudio.core.registry import NodeRegistry

from .. import theme
from ..canvas.quick_add import palette_score
from ..canvas.style import category_color
from ..mime import NODE_TYPE_MIME

TYPE_ROLE = Qt.ItemDataRole.UserRole
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 1
ORDER_ROLE = Qt.ItemDataRole.UserRole + 2  # the item's place in its category (alphabetical)
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 3


def _tooltip(cls: type[Node]) -> str:
    ins = ", ".join(f"{p.name}: {p.type.name}" for p in cls.input_ports()) or "none"
    outs = ", ".join(f"{p.name}: {p.type.name}" for p in cls.output_ports()) or "none"
    desc = cls.description or cls.__doc__ or ""
    return (f"<b>{cls.title or cls.type}</b> <span style='color:gray'>{cls.type}</span>"
            f"<p>{desc.strip()}</p><p><i>inputs:</i> {ins}<br><i>outputs:</i> {outs}</p>")


def _category_dot(category: str, size: int, ratio: float) -> QIcon:
    """A dot in the category's canvas colour, so the palette and the node headers match."""
    pixmap = QPixmap(round(size * ratio), round(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(category_color(category))
    d = size * 0.5
    painter.drawEllipse(QRectF((size - d) / 2, (size - d) / 2, d, d))
    painter.end()
    return QIcon(pixmap)


class _RowDelegate(QStyledItemDelegate):
    """Rows of a fixed, font-relative height (the view measures rows before the stylesheet applies)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802 - Qt override
        hint = super().sizeHint(option, index)
        return QSize(hint.width(), max(hint.height(), round(option.fontMetrics.height() * 1.75)))


class _NodeTree(QTreeWidget):
    """The tree itself; its `mimeData` is what a drag (and the tests) carry to the canvas."""

    activated_type = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setRootIsDecorated(True)
        self.setIndentation(14)
        self.setAnimated(True)
        self.setUniformRowHeights(True)
        self.setItemDelegate(_RowDelegate(self))
        em = self.fontMetrics().height()
        self.setIconSize(QSize(em, em))
        self.itemActivated.connect(self._activated)

    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData:  # noqa: N802 - Qt override
        data = QMimeData()
        types = [item.data(0, TYPE_ROLE) for item in items if item.data(0, TYPE_ROLE)]
        if types:
            data.setData(NODE_TYPE_MIME, types[0].encode("utf-8"))
            data.setText(types[0])
        return data

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt override
        return [NODE_TYPE_MIME]

    def startDrag(self, actions: Qt.DropAction) -> None:  # noqa: N802 - Qt override
        """Drag the node's icon and title (the default is a picture of the whole row)."""
        items = self.selectedItems()
        if not items or not items[0].data(0, TYPE_ROLE):
            return
        item = items[0]
        drag = QDrag(self)
        drag.setMimeData(self.mimeData(items))
        size = self.fontMetrics().height() * 2
        drag.setPixmap(item.icon(0).pixmap(size, size))
        drag.setHotSpot(QPoint(size // 2, size // 2))
        drag.exec(Qt.DropAction.CopyAction)

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.activated_type.emit(type_id)


class NodePalette(QWidget):
    nodeRequested = Signal(str)  # noqa: N815 - a type id to add at the view centre

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None, populate: bool = True) -> None:
        """`populate=False` leaves the list empty until `rebuild()` (the app fills it after its first frame)."""
        super().__init__(parent)
        self.registry = registry
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(theme.icon("mdi6.magnify", "text_dim"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.textChanged.connect(self._filter)
        self.search.installEventFilter(self)
        self.tree = _NodeTree(self)
        self.tree.activated_type.connect(self.nodeRequested)
        self.empty = QLabel("No node matches", self)
        self.empty.setObjectName("PaletteEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        self.plugin_warning = QLabel(self)
        self.plugin_warning.setObjectName("FieldError")
        self.plugin_warning.setWordWrap(True)
        self.plugin_warning.hide()
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        layout.addWidget(self.plugin_warning)
        self._flat = False
        self._classes: dict[str, type[Node]] = {}
        self._tops: list[QTreeWidgetItem] = []
        self._expanded: dict[str, bool] = {}
        if populate:
            self.rebuild()

    def _show_plugin_errors(self) -> None:
        errors = getattr(self.registry, "plugin_errors", [])
        if errors:  # a broken plugin must not pass silently: its nodes are missing from the list
            self.plugin_warning.setText(f"⚠ {len(errors)} node plugin{'s' if len(errors) != 1 else ''} "
                                        "could not be loaded (hover for details)")
            self.plugin_warning.setToolTip("\n".join(f"{e.entry_point}: {e.message}" for e in errors))
        self.plugin_warning.setVisible(bool(errors))

    # -- content

    def rebuild(self) -> None:
        self._flat = False
        self.tree.setRootIsDecorated(True)
        self.tree.clear()
        self._classes = {}
        self._tops = []
        self._expanded = {}
        for category, classes in sorted(self.registry.categories().items()):
            top = QTreeWidgetItem([category])
            self._tops.append(top)
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            top.setIcon(0, _category_dot(category, self.fontMetrics().height(), self.devicePixelRatioF()))
            for index, cls in enumerate(sorted(classes, key=lambda c: (c.title or c.type).lower())):
                item = QTreeWidgetItem([cls.title or cls.type])
                item.setData(0, TYPE_ROLE, cls.type)
                item.setData(0, ORDER_ROLE, index)
                item.setData(0, CATEGORY_ROLE, category)
                self._classes[cls.type] = cls
                item.setData(0, SEARCH_ROLE,
                             f"{cls.title} {cls.type} {category} {cls.description}".lower())
                item.setIcon(0, theme.icon(cls.icon, "accent"))
                item.setToolTip(0, _tooltip(cls))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                top.addChild(item)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        self._filter(self.search.text())
        self._show_plugin_errors()

    def refresh_icons(self) -> None:
        """Re-tint after a theme change."""
        self.rebuild()

    def item_for(self, type_id: str) -> QTreeWidgetItem | None:
        for item in self._leaves():
            if item.data(0, TYPE_ROLE) == type_id:
                return item
        return None

    def visible_types(self) -> list[str]:
        return [item.data(0, TYPE_ROLE) for item in self._leaves() if not item.isHidden()]

    def _leaves(self) -> list[QTreeWidgetItem]:
        if self._flat:
            return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            out += [top.child(j) for j in range(top.childCount())]
        return out

    # -- search

    def _filter(self, text: str) -> None:
        """Show the types whose title, id, category or description hold every word. While searching they
        form one flat list, best match first (a title, type id or category match before a description-only
        one, see `palette_score`), and the best is current, so Enter adds it; clearing the search brings the
        categories back."""
        words = text.lower().split()
        self._set_flat(bool(words))
        leaves = self._leaves()
        scores: dict[str, float] = {}
        for item in leaves:
            match = all(w in item.data(0, SEARCH_ROLE) for w in words)
            item.setHidden(not match)
            if match and words:
                cls = self._classes.get(item.data(0, TYPE_ROLE))
                scores[item.data(0, TYPE_ROLE)] = palette_score(text, cls) if cls is not None else -1.0
        if words:
            for _ in range(self.tree.topLevelItemCount()):
                self.tree.takeTopLevelItem(0)
            leaves.sort(key=lambda it: (-scores.get(it.data(0, TYPE_ROLE), float("-inf")),
                                        it.text(0).lower()))
            self.tree.addTopLevelItems(leaves)
        else:
            for top in self._tops:
                top.setHidden(top.childCount() == 0)
        any_visible = any(not item.isHidden() for item in leaves)
        self.empty.setVisible(not any_visible)
        first = next((item for item in self._leaves() if not item.isHidden()), None)
        if words and first is not None:
            self.tree.setCurrentItem(first)

    def _set_flat(self, flat: bool) -> None:
        """Move the entries out of their categories (a flat ranked list) or back into them."""
        if flat == self._flat:
            return
        if flat:
            self._expanded = {top.text(0): top.isExpanded() for top in self._tops}
            leaves = [child for top in self._tops for child in top.takeChildren()]
            for _ in range(self.tree.topLevelItemCount()):
                self.tree.takeTopLevelItem(0)
            self.tree.setRootIsDecorated(False)
            self.tree.addTopLevelItems(leaves)
        else:
            leaves = [self.tree.takeTopLevelItem(0) for _ in range(self.tree.topLevelItemCount())]
            by_category: dict[str, list[QTreeWidgetItem]] = {}
            for item in leaves:
                by_category.setdefault(item.data(0, CATEGORY_ROLE), []).append(item)
            self.tree.setRootIsDecorated(True)
            self.tree.addTopLevelItems(self._tops)
            for top in self._tops:
                top.addChildren(sorted(by_category.get(top.text(0), []), key=lambda it: it.data(0, ORDER_ROLE)))
                top.setExpanded(self._expanded.get(top.text(0), True))
        self._flat = flat

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def eventFilter(self, obj: object, event: object) -> bool:  # noqa: N802 - Qt override
        """In the search box: Enter adds the highlighted node, Up/Down move through the matches."""
        if obj is self.search and isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress:
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                item = self.tree.currentItem()
                if item is not None and item.data(0, TYPE_ROLE) and not item.isHidden():
                    self.nodeRequested.emit(item.data(0, TYPE_ROLE))
                    return True
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                self._move_current(1 if event.key() == Qt.Key.Key_Down else -1)
                return True
            if event.matches(QKeySequence.StandardKey.Cancel) and self.search.text():
                QTimer.singleShot(0, self.search.clear)
                return True
        return super().eventFilter(obj, event)

    def _move_current(self, delta: int) -> None:
        visible = [item for item in self._leaves()
                   if not item.isHidden() and (item.parent() is None or not item.parent().isHidden())]
        if not visible:
            return
        current = self.tree.currentItem()
        index = visible.index(current) + delta if current in visible else 0
        self.tree.setCurrentItem(visible[max(0, min(len(visible) - 1, index))])
