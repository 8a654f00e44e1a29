"""Comment frames: titled, coloured rectangles behind nodes. Dragging the title moves the frame and its nodes."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from flowstudio.core.flow import GroupSpec
from flowstudio.core.limits import clip

from . import style as cs

DEFAULT_GROUP_COLOR = "#5c6bc0"
HANDLE = 16.0
MAX_TITLE_CHARS = 200  # drawn elided to the frame's width; a longer title is cut before layout


class GroupItem(QGraphicsItem):
    Type = QGraphicsItem.UserType + 3

    def __init__(self, spec: GroupSpec, rect: QRectF) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setZValue(-10.0)
        self.spec = spec
        self._rect = QRectF()
        self.refresh(spec, rect)

    def type(self) -> int:  # noqa: A003 - Qt's name
        return self.Type

    @property
    def group_id(self) -> str:
        return self.spec.id

    def refresh(self, spec: GroupSpec, rect: QRectF) -> None:
        self.spec = spec
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
            body = QPainterPath()
            body.addRoundedRect(self._rect, 8, 8)
            bar = QPainterPath()
            bar.addRect(self.title_rect())
            self._title_path = body.intersected(bar)  # rounded on top, straight below
        self._title_text = clip(spec.title, MAX_TITLE_CHARS) or "Frame"
        self.setToolTip(self._title_text)
        self.update()

    def rect(self) -> QRectF:
        return QRectF(self._rect)

    def title_rect(self) -> QRectF:
        return QRectF(self._rect.left(), self._rect.top(), self._rect.width(), cs.GROUP_TITLE_HEIGHT)

    def handle_rect(self) -> QRectF:
        r = self._rect
        return QRectF(r.right() - HANDLE, r.bottom() - HANDLE, HANDLE, HANDLE)

    def hit_part(self, scene_pos: QPointF) -> str:
        """'handle', 'title' or 'body' for a point inside the frame."""
        if self.handle_rect().adjusted(-4, -4, 4, 4).contains(scene_pos):
            return "handle"
        if self.title_rect().contains(scene_pos):
            return "title"
        return "body"

    def base_color(self) -> QColor:
        return QColor(self.spec.color or DEFAULT_GROUP_COLOR)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._rect.adjusted(-2, -2, 2, 2)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._rect)
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        pal = cs.palette()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        base = self.base_color()
        fill = QColor(base)
        fill.setAlpha(pal.group_alpha)
        header = QColor(base)
        header.setAlpha(min(255, pal.group_alpha * 3))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod >= cs.LOD_TEXT)
        painter.setPen(cs.pen(pal.node_selected, 2.0) if self.isSelected() else cs.pen(base.name(), 1.0))
        painter.setBrush(fill)
        painter.drawRoundedRect(self._rect, 8, 8)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(header)
        title = self.title_rect()
        painter.drawPath(self._title_path)
        if lod >= cs.LOD_TEXT * 0.5:
            painter.setPen(cs.color(pal.group_text))
            painter.setFont(cs.font("group"))
            painter.drawText(title.adjusted(12, 0, -12, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             self._title_text)
        if lod >= cs.LOD_TEXT:
            painter.setPen(cs.pen(base.name(), 1.5))
            h = self.handle_rect()
            for k in (4.0, 8.0, 12.0):
                painter.drawLine(QPointF(h.right() - k, h.bottom() - 2), QPointF(h.right() - 2, h.bottom() - k))
