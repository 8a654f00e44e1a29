"""The quick-add popup: type a few letters, press Enter, get the node at the cursor.

Opened with Tab or a double-click on empty canvas, or by dropping a dangling connection on empty
canvas; then only node types with a compatible port are offered and the new node is wired.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPointF, QSize, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from flowstudio.core.node import Node, Port
from flowstudio.core.ports import PortType, is_compatible
from flowstudio.core.registry import NodeRegistry

from .node_item import node_icon


@dataclass(frozen=True)
class PendingConnection:
    """A connection dragged from `endpoint` and dropped on empty canvas."""

    endpoint: str  # "node.port"
    from_input: bool  # True when dragged out of an input (the new node must provide an output)
    port_type: type[PortType]


def compatible_port(cls: type[Node], pending: PendingConnection) -> Port | None:
    """The first port of `cls` that can take the other end of `pending`."""
    params = cls.default_params()
    if pending.from_input:
        return next((p for p in cls.output_ports(params) if is_compatible(p.type, pending.port_type)), None)
    ports = cls.input_ports(params)
    ok = [p for p in ports if is_compatible(pending.port_type, p.type)]
    exact = [p for p in ok if p.type is pending.port_type]
    return (exact or ok or [None])[0]


def _word_score(word: str, text: str) -> float | None:
    """How well `word` matches `text` (both lower case): prefix > substring > scattered letters."""
    if not word:
        return 0.0
    if text.startswith(word):
        return 100.0 - len(text) * 0.05
    index = text.find(word)
    if index >= 0:
        bonus = 10.0 if not text[index - 1].isalnum() else 0.0
        return 70.0 + bonus - index * 0.5
    score, pos, last = 40.0, 0, -1
    for ch in word:
        found = text.find(ch, pos)
        if found < 0:
            return None
        if found == 0 or not text[found - 1].isalnum():
            score += 3.0  # initials: "sft" in "supervised fine-tune"
        if last >= 0:
            score -= min(found - last - 1, 8) * 1.0
        last, pos = found, found + 1
    return score


def fuzzy_score(query: str, cls: type[Node]) -> float | None:
    """Match a query against a node type's title (weighted most), id and category; None: no match."""
    fields = [((cls.title or cls.type).lower(), 1.0), (cls.type.lower(), 0.8), (cls.category.lower(), 0.5)]
    total = 0.0
    for word in query.lower().split():
        best = None
        for text, weight in fields:
            s = _word_score(word, text)
            if s is not None and (best is None or s * weight > best):
                best = s * weight
        if best is None:
            return None
        total += best
    return total


# The unfiltered list: the types most flows start from, then every family in the order a flow runs.
COMMON = ("model.load", "data.load", "train.sft", "model.lora", "data.split", "chain.prompt", "chain.generate",
          "io.text", "io.output")
CATEGORY_ORDER = ("Input / Output", "Model", "Data", "Training", "Evaluation", "Chains", "Rewards", "Tools")


def browse_order(cls: type[Node]) -> tuple[int, int, str, str]:
    """Sort key of the unfiltered list: common types first, then by family (CATEGORY_ORDER, then others
    by name), then by title."""
    if cls.type in COMMON:
        return (0, COMMON.index(cls.type), "", "")
    category = CATEGORY_ORDER.index(cls.category) if cls.category in CATEGORY_ORDER else len(CATEGORY_ORDER)
    return (1, category, cls.category.lower(), (cls.title or cls.type).lower())


def palette_score(query: str, cls: type[Node]) -> float:
    """Rank in the palette's search: a match in the title, type id or category (`fuzzy_score`) always ranks
    above one found only in the description (score -1)."""
    score = fuzzy_score(query, cls)
    return -1.0 if score is None else score


def search(registry: NodeRegistry, query: str, pending: PendingConnection | None = None) -> list[type[Node]]:
    candidates = [cls for cls in registry if pending is None or compatible_port(cls, pending) is not None]
    if not query.strip():
        return sorted(candidates, key=browse_order)
    scored = [(fuzzy_score(query, cls), cls) for cls in candidates]
    hits = [(s, cls) for s, cls in scored if s is not None]
    hits.sort(key=lambda item: (-item[0], item[1].title or item[1].type))
    return [cls for _, cls in hits]


class QuickAddPopup(QFrame):
    """A floating search box over the canvas (a child of the view, so it shows in screenshots too)."""

    chosen = Signal(str, QPointF)  # type id, scene position

    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        self._view = view
        self.setObjectName("quickAdd")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.scene_pos = QPointF()
        self.pending: PendingConnection | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.setStyleSheet("QFrame#quickAdd { background: palette(window); border: 1px solid palette(highlight); "
                           "border-radius: 6px; }")
        self.hint = QLabel(self)
        hint_font = self.hint.font()
        hint_font.setPointSizeF(hint_font.pointSizeF() * 0.9)
        self.hint.setFont(hint_font)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.results = QListWidget(self)
        self.results.setIconSize(QSize(18, 18))
        self.results.setUniformItemSizes(True)
        layout.addWidget(self.hint)
        layout.addWidget(self.search)
        layout.addWidget(self.results)
        self.resize(340, 380)
        self.search.textChanged.connect(self.refresh)
        self.search.installEventFilter(self)
        self.results.itemActivated.connect(self._activate)
        self.results.itemClicked.connect(self._activate)
        self.hide()

    @property
    def registry(self) -> NodeRegistry:
        return self._view.doc.registry

    def open_at(self, scene_pos: QPointF, pending: PendingConnection | None = None) -> None:
        self.scene_pos = QPointF(scene_pos)
        self.pending = pending
        if pending is None:
            self.hint.setText("Add a node")
        else:
            side = "output" if pending.from_input else "input"
            self.hint.setText(f"Add a node with a {pending.port_type.name} {side} and connect it")
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.refresh()
        view_pt = self._view.mapFromScene(scene_pos)
        area = self._view.viewport().rect()
        x = max(0, min(view_pt.x(), area.width() - self.width()))
        y = max(0, min(view_pt.y(), area.height() - self.height()))
        self.move(x, y)
        self.show()
        self.raise_()
        self.search.setFocus()

    def refresh(self) -> None:
        self.results.clear()
        found = search(self.registry, self.search.text(), self.pending)[:60]
        for cls in found:
            item = QListWidgetItem(node_icon(cls.icon, self._icon_color()), f"{cls.title or cls.type}   ·  {cls.category}")
            item.setData(Qt.ItemDataRole.UserRole, cls.type)
            item.setToolTip(f"{cls.type} · {cls.category}\n{cls.description}".strip())
            self.results.addItem(item)
        if not found:
            empty = QListWidgetItem("No matching node types")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.results.addItem(empty)
        else:
            self.results.setCurrentRow(0)
        self._fit()

    def _icon_color(self) -> str:
        return "#9fa8da" if self.palette().base().color().lightness() < 128 else "#3949ab"

    def _fit(self) -> None:
        """As tall as the results (up to twelve rows), so a short list is a small popup."""
        rows = max(1, min(self.results.count(), 12))
        row_h = max(self.results.sizeHintForRow(0), 22)
        self.results.setFixedHeight(rows * row_h + 2 * self.results.frameWidth() + 4)
        self.adjustSize()
        self.resize(340, self.sizeHint().height())

    def current_type(self) -> str | None:
        item = self.results.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _activate(self, item: QListWidgetItem | None = None) -> None:
        type_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else self.current_type()
        if type_id:
            self.close_popup()
            self.chosen.emit(type_id, self.scene_pos)

    def close_popup(self) -> None:
        self.hide()
        self._view.setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._activate(self.results.currentItem())
                return True
            if key == Qt.Key.Key_Escape:
                self.close_popup()
                return True
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                row = self.results.currentRow()
                step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 8, Qt.Key.Key_PageUp: -8}[key]
                if self.results.count():
                    self.results.setCurrentRow(max(0, min(self.results.count() - 1, row + step)))
                return True
            if key == Qt.Key.Key_Tab:
                return True
        return super().eventFilter(watched, event)
