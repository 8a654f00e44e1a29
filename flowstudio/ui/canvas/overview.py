"""Far-away drawing: below a zoom threshold the whole flow is painted by one item in a few calls.

Painting 1,000 nodes and 1,500 edges one Python `paint()` at a time costs more than a frame.
When zoomed out, node and edge items are made fully transparent (Qt then skips them without
calling into Python, yet they stay selectable and hit-testable) and this item draws node bodies
and headers as batched rectangles and edges as one path per colour, without antialiasing.
"""

from __future__ import annotations

from collections import defaultdict

from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from . import style as cs
from .host import SceneHost

OVERVIEW_ZOOM = cs.LOD_TEXT  # below this zoom the overview draws the flow


class OverviewItem(QGraphicsItem):
    def __init__(self, scene: SceneHost) -> None:
        super().__init__()
        self._canvas = scene
        self.setZValue(0.5)  # above frames, below the drag curve
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # panning blits
        self._bounds = QRectF()
        self._dirty = True
        self._edges: list[tuple[QPen, list[QLineF]]] = []
        self._bodies: list[QRectF] = []
        self._headers: list[tuple[QColor, list[QRectF]]] = []
        self._selected: list[QRectF] = []
        self._status: list[tuple[QColor, list[QRectF]]] = []

    def set_zooming(self, zooming: bool) -> None:
        """While the zoom changes a cached picture is redrawn each frame anyway: draw directly instead."""
        mode = QGraphicsItem.CacheMode.NoCache if zooming else QGraphicsItem.CacheMode.DeviceCoordinateCache
        if self.cacheMode() != mode:
            self.setCacheMode(mode)

    def invalidate(self) -> None:
        """Something moved or changed: rebuild the batches before the next paint."""
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = True
        self._rebuild_bounds()
        self.update()

    def _rebuild_bounds(self) -> None:
        rect = QRectF()
        for item in self._canvas.nodes.values():
            rect = rect.united(item.rect_in_scene())
        for edge in self._canvas.edges.values():
            rect = rect.united(edge.boundingRect())
        if rect != self._bounds:
            self.prepareGeometryChange()
            self._bounds = rect

    def _rebuild(self) -> None:
        pal = cs.palette()
        lines: dict[int, list[QLineF]] = defaultdict(list)
        colours: dict[int, QColor] = {}
        for edge in self._canvas.edges.values():
            key = edge.color.rgba()
            colours[key] = edge.color
            lines[key].extend(edge.polyline())  # a few straight segments: no curve flattening per frame
        self._edges = [(QPen(colours[key], 0.0), segs) for key, segs in lines.items()]  # 0: cosmetic 1 px
        headers: dict[int, list[QRectF]] = defaultdict(list)
        header_colours: dict[int, QColor] = {}
        status: dict[str, list[QRectF]] = defaultdict(list)
        self._bodies, self._selected = [], []
        for item in self._canvas.nodes.values():
            rect = item.rect_in_scene()
            self._bodies.append(rect)
            colour = cs.color(pal.missing) if item.missing else cs.category_color(item.category)
            headers[colour.rgba()].append(QRectF(rect.x(), rect.y(), rect.width(), cs.TITLE_HEIGHT))
            header_colours[colour.rgba()] = colour
            if item.isSelected():
                self._selected.append(rect)
            if item.status:
                status[item.status].append(QRectF(rect.right() - 28, rect.y(), 28, cs.TITLE_HEIGHT))
        self._headers = [(header_colours[k], rects) for k, rects in headers.items()]
        self._status = [(QColor(cs.STATUS_COLORS.get(s, "#9e9e9e")), rects) for s, rects in status.items()]
        self._selection_pen = QPen(cs.color(pal.node_selected), 2.0)
        self._selection_pen.setCosmetic(True)
        self._dirty = False

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self._dirty:
            self._rebuild()
        pal = cs.palette()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for pen, segments in self._edges:
            painter.setPen(pen)
            painter.drawLines(segments)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(cs.color(pal.node_body))
        painter.drawRects(self._bodies)
        for colour, rects in self._headers:
            painter.setBrush(colour)
            painter.drawRects(rects)
        for colour, rects in self._status:
            painter.setBrush(colour)
            painter.drawRects(rects)
        if self._selected:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(self._selection_pen)
            painter.drawRects(self._selected)
