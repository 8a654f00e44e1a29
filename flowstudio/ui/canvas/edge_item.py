"""Edges: cubic bezier curves from an output to an input, coloured by the output's port type."""

from __future__ import annotations

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from flowstudio.core.flow import EdgeSpec
from flowstudio.core.limits import clip

from . import style as cs
from .node_item import NodeItem


def control_points(p1: QPointF, p2: QPointF) -> tuple[QPointF, QPointF]:
    """Leave the output to the right, enter the input from the left."""
    dx = max(abs(p2.x() - p1.x()) * 0.5, 40.0)
    return QPointF(p1.x() + dx, p1.y()), QPointF(p2.x() - dx, p2.y())


def bezier(p1: QPointF, p2: QPointF) -> QPainterPath:
    """The curve between two port anchors."""
    c1, c2 = control_points(p1, p2)
    path = QPainterPath(p1)
    path.cubicTo(c1, c2, p2)
    return path


class _CurveItem(QGraphicsItem):
    """A bezier with a cheap geometry update: the hit shape is built only when something asks for it."""

    WIDTH = 2.2

    def __init__(self) -> None:
        super().__init__()
        self._path = QPainterPath()
        self._bounds = QRectF()
        self._shape: QPainterPath | None = None
        self._ends = (QPointF(), QPointF())
        self._polyline: list[QLineF] | None = None
        self.color = QColor("#9e9e9e")
        self.dashed = False
        self.hover = False
        self.emphasis = False  # an end is selected
        self.set_style(self.color, False)

    def set_style(self, color: QColor, dashed: bool) -> None:
        """Build the pens once here, never in paint()."""
        self.color, self.dashed = color, dashed
        self._pen = QPen(color, self.WIDTH)
        self._pen_emphasis = QPen(color.lighter(135), self.WIDTH + 1.2)
        self._pen_far = QPen(color, 0.0)  # cosmetic 1 px when far away
        if dashed:
            self._pen.setStyle(Qt.PenStyle.DashLine)
            self._pen_far.setStyle(Qt.PenStyle.DashLine)
        self._pen_selected = QPen(cs.color(cs.palette().edge_selected), self.WIDTH + 3.0)
        glow = QColor(color)
        glow.setAlpha(90)
        self._pen_hover = QPen(glow, self.WIDTH + 5.0)
        self.update()

    def set_emphasis(self, emphasis: bool) -> None:
        if emphasis != self.emphasis:
            self.emphasis = emphasis
            self.update()

    def set_hover(self, hover: bool) -> None:
        if hover != self.hover:
            self.hover = hover
            self.update()

    def set_points(self, p1: QPointF, p2: QPointF) -> None:
        self.prepareGeometryChange()
        self._path = bezier(p1, p2)
        self._ends = (p1, p2)
        self._bounds = self._path.controlPointRect().adjusted(-6, -6, 6, 6)
        self._shape = None
        self._polyline: list[QLineF] | None = None

    def path(self) -> QPainterPath:
        return self._path

    def polyline(self) -> list[QLineF]:
        """The curve as four straight segments (for far-away drawing), evaluated directly and kept."""
        if self._polyline is None:
            p1, p2 = self._ends
            c1, c2 = control_points(p1, p2)
            xs = (p1.x(), c1.x(), c2.x(), p2.x())
            ys = (p1.y(), c1.y(), c2.y(), p2.y())
            points = []
            for t in (0.0, 0.25, 0.5, 0.75, 1.0):
                u = 1.0 - t
                w = (u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t)
                points.append(QPointF(sum(a * b for a, b in zip(w, xs, strict=True)),
                                      sum(a * b for a, b in zip(w, ys, strict=True))))
            self._polyline = [QLineF(a, b) for a, b in zip(points, points[1:], strict=False)]
        return self._polyline

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(12.0)
            self._shape = stroker.createStroke(self._path)
        return self._shape

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        near = option.levelOfDetailFromTransform(painter.worldTransform()) >= cs.LOD_TEXT
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if near:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            if self.isSelected():
                painter.setPen(self._pen_selected)
                painter.drawPath(self._path)
            elif self.hover:
                painter.setPen(self._pen_hover)
                painter.drawPath(self._path)
        painter.setPen((self._pen_emphasis if self.emphasis else self._pen) if near else self._pen_far)
        painter.drawPath(self._path)


class EdgeItem(_CurveItem):
    """One edge of the flow, between two NodeItems. The scene calls `update_path` when either moves."""

    Type = QGraphicsItem.UserType + 2

    def __init__(self, spec: EdgeSpec, source: NodeItem, target: NodeItem) -> None:
        super().__init__()
        self.spec = spec
        self.source = source
        self.target = target
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setZValue(0.0)
        self.setToolTip(clip(f"{spec.source} → {spec.target}", 300))
        self._layout_key: tuple = ()
        self._src_offset = self._dst_offset = QPointF()
        self.update_path()

    def type(self) -> int:  # noqa: A003 - Qt's name
        return self.Type

    def update_path(self) -> None:
        """Follow the end nodes. Ports and style are looked up again only when a node's layout changed."""
        key = (self.source.layout_version, self.target.layout_version, cs.palette().name)
        if key != self._layout_key:
            self._restyle()
            self._layout_key = key
        self.set_points(self.source.pos() + self._src_offset, self.target.pos() + self._dst_offset)

    def _restyle(self) -> None:
        src = self.source.port(self.spec.source_port, False)
        dst = self.target.port(self.spec.target_port, True)
        self._src_offset = src.info.local if src else QPointF(self.source.width, cs.TITLE_HEIGHT / 2)
        self._dst_offset = dst.info.local if dst else QPointF(0.0, cs.TITLE_HEIGHT / 2)
        ok = src is not None and dst is not None and src.info.known and dst.info.known
        color = cs.color(src.info.type.color) if ok and src is not None else cs.color(cs.palette().missing)
        self.set_style(color, not ok)


class DragEdge(_CurveItem):
    """The loose curve that follows the mouse while a connection is being dragged."""

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self.set_style(color, False)
        self.setZValue(10.0)
