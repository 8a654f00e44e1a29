"""Ports as hit targets. The node paints them (inside its cache); a PortItem only answers hit tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsItem

from flowstudio.core.ports import Any as AnyType
from flowstudio.core.ports import PortType

from .style import PORT_HIT_RADIUS


@dataclass
class PortInfo:
    """What the canvas shows of one port. `known` is False for ports only named by edges (missing type)."""

    name: str
    is_input: bool
    type: type[PortType] = AnyType
    optional: bool = False
    multiple: bool = False
    known: bool = True
    description: str = ""
    local: QPointF = field(default_factory=QPointF)  # centre, in node coordinates
    state: str = "normal"  # normal | compatible | dimmed | hover


class PortItem(QGraphicsItem):
    """An invisible child of a NodeItem covering one port (a little larger than drawn, easier to grab)."""

    def __init__(self, node: QGraphicsItem, info: PortInfo) -> None:
        super().__init__(node)
        self.info = info
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)
        self.setPos(info.local)
        self.setAcceptHoverEvents(False)
        tip = f"{info.name}: {info.type.name}"
        if info.optional:
            tip += " (optional)"
        if info.multiple:
            tip += " (accepts several)"
        if not info.known:
            tip += " — not declared by this node type"
        if info.description:
            tip += f"\n{info.description}"
        self.setToolTip(tip)
        self._shape = QPainterPath()
        self._shape.addEllipse(QPointF(0, 0), PORT_HIT_RADIUS, PORT_HIT_RADIUS)

    @property
    def node_item(self):  # -> NodeItem (no import cycle)
        return self.parentItem()

    @property
    def endpoint(self) -> str:
        return f"{self.node_item.node_id}.{self.info.name}"

    @property
    def is_input(self) -> bool:
        return self.info.is_input

    def anchor(self) -> QPointF:
        """Scene position of the port's centre (cheap: node position plus a stored offset)."""
        return self.node_item.pos() + self.info.local

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        r = PORT_HIT_RADIUS
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        return self._shape

    def paint(self, painter, option, widget=None) -> None:  # pragma: no cover - ItemHasNoContents
        pass

    def set_state(self, state: str) -> None:
        if self.info.state != state:
            self.info.state = state
            self.node_item.update()
