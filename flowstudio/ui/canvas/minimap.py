"""A minimap in the canvas's corner: the whole flow in small, the visible area as a frame.

It sits in the bottom-right corner, or in another corner when a node is there, and steps aside (hides)
when nodes fill every corner, so it never hides a real node.

Click or drag in it to move the view there. It redraws from a cached list of node rectangles,
rebuilt only after the document changes, so panning costs a few rectangle fills.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from . import style as cs
from .host import ViewHost

SIZE = (210, 140)
MARGIN = 12
PAD = 6.0


class CanvasMinimap(QWidget):
    def __init__(self, view: ViewHost) -> None:
        super().__init__(view)  # a child of the view, not of its viewport: it must not scroll
        self._view = view
        self.setFixedSize(*SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Minimap: click or drag to move the view")
        self._groups: list[tuple[QColor, QPen, list[QRectF]]] = []  # node rectangles by colour
        self._count = 0
        self._version = 0
        self._layer: QPixmap | None = None
        self._layer_key: tuple = ()
        self._world = QRectF()
        self._dirty = True
        self._enabled = True
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self._refresh)
        view.controller.changed.connect(self.schedule)
        view.controller.documentReplaced.connect(self._refresh_now)
        self.hide()
        self.schedule()

    def _refresh_now(self) -> None:
        self._dirty = True
        self._refresh()

    def set_enabled(self, on: bool) -> None:
        self._enabled = on
        self._refresh()

    def schedule(self, *_args: object) -> None:
        self._dirty = True
        self._timer.start()

    def _corners(self) -> list[QPoint]:
        """Top-left points (view coordinates) of the corners it may sit in, bottom-right first."""
        area = self._view.viewport().geometry()
        left, top = area.left() + MARGIN, area.top() + MARGIN
        right, bottom = area.right() - self.width() - MARGIN + 1, area.bottom() - self.height() - MARGIN + 1
        return [QPoint(right, bottom), QPoint(left, bottom), QPoint(right, top), QPoint(left, top)]

    def _free_corner(self) -> QPoint | None:
        """The first corner where it covers no node of the flow, or None when every corner would."""
        offset = self._view.viewport().geometry().topLeft()
        rects = [item.rect_in_scene() for item in self._view.canvas_scene.nodes.values()]
        for corner in self._corners():
            box = QRect(corner - offset, self.size()).adjusted(-4, -4, 4, 4)
            covered = self._view.mapToScene(box).boundingRect()
            if not any(covered.intersects(rect) for rect in rects):
                return corner
        return None

    def place(self) -> None:
        """Into a corner where it hides no node (bottom-right when that is free)."""
        corner = self._free_corner()
        if corner is not None:
            self.move(corner)

    def _refresh(self) -> None:
        scene = self._view.canvas_scene
        if self._dirty:
            groups: dict[int, tuple[QColor, list[QRectF]]] = {}
            self._world = QRectF()
            count = 0
            for item in scene.nodes.values():
                colour = cs.color(cs.palette().missing) if item.missing else cs.category_color(item.category)
                rect = item.rect_in_scene()
                groups.setdefault(colour.rgba(), (colour, []))[1].append(rect)
                self._world = self._world.united(rect)
                count += 1
            self._groups = [(colour, QPen(colour, 0.0), rects) for colour, rects in groups.values()]
            self._count = count
            self._version += 1
            self._dirty = False
        self.follow_view()

    def follow_view(self) -> None:
        """After a pan or zoom: shown only while part of the flow is out of view (there is somewhere to go)."""
        if self._dirty and not self._timer.isActive():
            self._timer.start()
        wanted = self._enabled and self._count > 1 and not self._visible_scene_rect().contains(self._world)
        corner = self._free_corner() if wanted else None
        wanted = corner is not None  # nodes in every corner: out of the way until the view moves
        if corner is not None and corner != self.pos():
            self.move(corner)
        if wanted != self.isVisible():
            self.setVisible(wanted)
            if wanted:
                self.raise_()
        if wanted:
            self.update()

    # -- geometry

    def _visible_scene_rect(self) -> QRectF:
        return self._view.mapToScene(self._view.viewport().rect()).boundingRect()

    def _mapping(self) -> tuple[float, QPointF, QRectF]:
        """The flow's extent fitted into the widget (fixed while panning, so the node layer stays cached)."""
        world = self._world if not self._world.isNull() else self._visible_scene_rect()
        inner = QRectF(self.rect()).adjusted(PAD, PAD, -PAD, -PAD)
        scale = min(inner.width() / max(world.width(), 1.0), inner.height() / max(world.height(), 1.0))
        offset = QPointF(inner.center().x() - world.center().x() * scale,
                         inner.center().y() - world.center().y() * scale)
        return scale, offset, world

    def _to_scene(self, pos: QPointF) -> QPointF:
        scale, offset, _ = self._mapping()
        return QPointF((pos.x() - offset.x()) / scale, (pos.y() - offset.y()) / scale)

    # -- painting and input

    def _node_layer(self) -> QPixmap:
        """Background and node rectangles, drawn once per document change (or size or theme)."""
        dpr = self.devicePixelRatioF()
        key = (self._version, self.width(), self.height(), dpr, cs.palette().name)
        if key == self._layer_key and self._layer is not None:
            return self._layer
        pal = cs.palette()
        layer = QPixmap(round(self.width() * dpr), round(self.height() * dpr))
        layer.setDevicePixelRatio(dpr)
        layer.fill(Qt.GlobalColor.transparent)
        painter = QPainter(layer)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        back = QColor(pal.node_body)
        back.setAlpha(225)
        painter.setPen(cs.pen(pal.node_border, 1.0))
        painter.setBrush(back)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        scale, offset, _ = self._mapping()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.translate(offset)
        painter.scale(scale, scale)
        for colour, pen, rects in self._groups:  # one call per colour; the cosmetic pen keeps tiny ones visible
            painter.setBrush(colour)
            painter.setPen(pen)
            painter.drawRects(rects)
        painter.end()
        self._layer, self._layer_key = layer, key
        return layer

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._node_layer())
        scale, offset, _ = self._mapping()
        visible = self._visible_scene_rect()
        frame = QRectF(visible.x() * scale + offset.x(), visible.y() * scale + offset.y(),
                       visible.width() * scale, visible.height() * scale)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        highlight = QColor(cs.palette().node_selected)
        fill = QColor(highlight)
        fill.setAlpha(30)
        painter.setBrush(fill)
        painter.setPen(QPen(highlight, 1.2))
        painter.drawRect(frame.intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1)))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() == Qt.MouseButton.LeftButton:
            self._view.centerOn(self._to_scene(event.position()))
            self.update()
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._view.centerOn(self._to_scene(event.position()))
            self.update()
            event.accept()
