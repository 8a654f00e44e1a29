"""A node on the canvas: header with category colour, icon and title; typed ports; params; run badge.

Painting is cached per item (DeviceCoordinateCache) and uses pre-built fonts and pens; when the
view is zoomed far out only the body and header are drawn (level of detail). Every text a flow file
supplies (title, type id, param values) is shortened before it is measured or laid out, so a
megabyte-long value costs what a short one does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontMetricsF,
    QIcon,
    QPainter,
    QPainterPath,
    QPixmap,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSimpleTextItem, QStyleOptionGraphicsItem

from flowstudio.core.flow import NodeSpec
from flowstudio.core.limits import clip
from flowstudio.core.node import Node

from ..icons import glyph_icon
from . import style as cs
from .port_item import PortInfo, PortItem

MAX_PARAM_ROWS = 4
BYPASS_COLOR = "#8e44ad"  # ComfyUI draws bypassed nodes purple
BYPASS_OPACITY = 0.55
NODE_MAX_WIDTH = 240.0  # the widest a node grows for its texts (they are elided beyond it)
MAX_SUMMARY_CHARS = 80  # a param value on the node (elided further to the node's width)
MAX_TITLE_CHARS = 120
MAX_TIP_CHARS = 2000
_LEFT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
_RIGHT = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight


def _static(text: str, font) -> QStaticText:
    st = QStaticText(text)
    st.setTextFormat(Qt.TextFormat.PlainText)
    st.setPerformanceHint(QStaticText.PerformanceHint.AggressiveCaching)
    st.prepare(QTransform(), font)
    return st


_ICON_PX = 48  # icons are rasterised once at this size and scaled down (crisp up to 3x zoom)
_ICON_RECT = QRectF(8, 6, 16, 16)
_BADGE_BACK = QColor(0, 0, 0, 70)
_PROBLEM_COLOR = "#ffca28"


@lru_cache(maxsize=256)
def icon_pixmap(name: str, color: str) -> tuple[QPixmap, QRectF]:
    """The icon rasterised once, and its whole area in the pixmap's own pixels (HiDPI pixmaps are larger)."""
    pixmap = node_icon(name, color).pixmap(_ICON_PX, _ICON_PX)
    return pixmap, QRectF(0, 0, pixmap.width(), pixmap.height())


@lru_cache(maxsize=256)
def node_icon(name: str, color: str) -> QIcon:
    return glyph_icon(name, color)  # an unknown name falls back to a cube, never an error


def _short(text: str, limit: int = MAX_SUMMARY_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_summary(value: object, lines: int = 4) -> str:
    """A run's output value as at most `lines` short lines: a dict's first entries, else one line."""
    if isinstance(value, dict):
        items = list(value.items())[:lines]
        return "\n".join(_short(f"{k}  {_format_value(v)}", 40) for k, v in items)
    return _format_value(value)


def _format_value(value: object) -> str:
    """A param value as one short line (at most MAX_SUMMARY_CHARS), whatever its size."""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = _short(value).replace("\n", " ") or "—"
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int):
        try:
            text = str(value)
        except ValueError:  # more digits than Python prints
            text = "(a huge integer)"
    elif isinstance(value, list | dict) and len(value) > MAX_SUMMARY_CHARS:
        text = f"[{len(value):,} items]" if isinstance(value, list) else f"{{{len(value):,} keys}}"
    else:
        text = json.dumps(value, ensure_ascii=False)
    return _short(text)


class NodeItem(QGraphicsItem):
    """One node. It never moves itself: the scene sets its position from the document."""

    Type = QGraphicsItem.UserType + 1

    def __init__(self, spec: NodeSpec, cls: type[Node] | None, edge_ports: Iterable[tuple[str, bool]] = ()) -> None:
        super().__init__()
        self.node_id = spec.id
        self.edges: set = set()  # EdgeItems touching this node (kept by the scene)
        self.status: str | None = None
        self.problems: tuple[str, ...] = ()
        self.run_error = ""  # why this node failed in the last run (tooltip)
        self.progress: float | None = None  # 0..1 while running, drawn under the header
        self.dimmed = False
        self.faded = False  # the overview draws this node (far zoom)
        self.bypassed = False  # switched off for runs (Ctrl+B): drawn faint with a bypass header
        self.ports: dict[tuple[str, bool], PortItem] = {}
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1.0)
        self._signature: object = None
        self.refresh(spec, cls, edge_ports)

    def type(self) -> int:  # noqa: A003 - Qt's name
        return self.Type

    # -- content

    def refresh(self, spec: NodeSpec, cls: type[Node] | None, edge_ports: Iterable[tuple[str, bool]] = ()) -> bool:
        """Take the spec's current state; returns True when the geometry (ports, size) changed."""
        if tuple(self.pos().toTuple()) != tuple(spec.position):
            self.setPos(QPointF(*spec.position))
        inputs = [PortInfo(p.name, True, p.type, p.optional, p.multiple, True, p.description)
                  for p in (cls.input_ports(spec.params) if cls else ())]
        outputs = [PortInfo(p.name, False, p.type, False, False, True, p.description)
                   for p in (cls.output_ports(spec.params) if cls else ())]
        declared = {(p.name, True) for p in inputs} | {(p.name, False) for p in outputs}
        for name, is_input in sorted(set(edge_ports) - declared):
            (inputs if is_input else outputs).append(PortInfo(name, is_input, known=False))
        params = []
        if cls is not None:
            fields = cls.Params.model_fields
            params = [(n, _format_value(v)) for n, v in spec.params.items() if n in fields][:MAX_PARAM_ROWS]
        title = clip(spec.title or (cls.title if cls and cls.title else spec.type), MAX_TITLE_CHARS)
        if spec.bypass != self.bypassed:
            self.bypassed = spec.bypass
            self._apply_opacity()
        signature = (spec.bypass, spec.type, title, cls is None, cls.category if cls else "", cls.icon if cls else "",
                     tuple((p.name, p.type, p.optional, p.multiple, p.known) for p in inputs),
                     tuple((p.name, p.type, p.known) for p in outputs), tuple(params))
        if signature == self._signature:
            return False
        self._signature = signature
        self.type_id = clip(spec.type, MAX_TITLE_CHARS)
        self.missing = cls is None
        self.title = title
        self.category = cls.category if cls else "Missing"
        self.icon_name = "mdi6.puzzle-remove-outline" if cls is None else cls.icon
        self.description = (cls.description if cls else "") or ""
        self.inputs, self.outputs, self.params = inputs, outputs, params
        self._layout()
        tip = f"{self.title}  ({self.type_id})"
        if self.missing:
            tip += "\nThis node type is not installed; the node is kept as is."
        if self.bypassed:
            tip += "\nBypassed (Ctrl+B): it does not run; its inputs pass through to outputs of their type."
        elif self.description:
            tip += f"\n{self.description}"
        self._base_tip = tip
        self._apply_tooltip()
        return True

    def _apply_tooltip(self) -> None:
        tip = self._base_tip
        if self.problems:
            tip += "\n" + "\n".join(f"⚠ {message}" for message in self.problems)
        if self.run_error:
            tip += f"\n✖ Run failed: {self.run_error}"
        self.setToolTip(clip(tip, MAX_TIP_CHARS))

    def _layout(self) -> None:
        self.prepareGeometryChange()
        self.layout_version = getattr(self, "layout_version", 0) + 1  # edges re-read port offsets
        title_fm = QFontMetricsF(cs.font("title"))
        fm = QFontMetricsF(cs.font("port"))
        in_w = max((fm.horizontalAdvance(p.name) for p in self.inputs), default=0.0)
        out_w = max((fm.horizontalAdvance(p.name) for p in self.outputs), default=0.0)
        param_w = max((fm.horizontalAdvance(f"{n}  {v}") for n, v in self.params), default=0.0)
        header_w = title_fm.horizontalAdvance(self.title) + 60.0  # icon + badge
        # capped: a long value, title or port name is elided, so the node never grows over a neighbour's
        # ports (the templates and auto-layout put nodes NODE_MAX_WIDTH + 40 apart, or more)
        width = min(max(cs.NODE_MIN_WIDTH, in_w + out_w + 48.0, param_w + 24.0, header_w), NODE_MAX_WIDTH)
        width = float(round(width / 10.0) * 10)
        rows = max(len(self.inputs), len(self.outputs))
        top = cs.TITLE_HEIGHT + cs.NODE_PADDING / 2
        for i, port in enumerate(self.inputs):
            port.local = QPointF(0.0, top + cs.ROW_HEIGHT * (i + 0.5))
        for i, port in enumerate(self.outputs):
            port.local = QPointF(width, top + cs.ROW_HEIGHT * (i + 0.5))
        self._params_top = top + cs.ROW_HEIGHT * rows + (4.0 if rows and self.params else 0.0)
        height = self._params_top + cs.ROW_HEIGHT * 0.8 * len(self.params) + cs.NODE_PADDING
        if self.missing:
            height += cs.ROW_HEIGHT
        self.width, self.height = width, max(height, cs.TITLE_HEIGHT + cs.ROW_HEIGHT)
        self._rect = QRectF(0, 0, self.width, self.height)
        self._bounds = self._rect.adjusted(-cs.PORT_HIT_RADIUS, -4, cs.PORT_HIT_RADIUS, 4)
        self._title = title_fm.elidedText(self.title, Qt.TextElideMode.ElideRight, self.width - 56.0)
        half = (self.width - 24.0) / 2
        self._in_labels = [fm.elidedText(p.name, Qt.TextElideMode.ElideRight, half) for p in self.inputs]
        self._out_labels = [fm.elidedText(p.name, Qt.TextElideMode.ElideRight, half) for p in self.outputs]
        self._param_labels = [(n, fm.elidedText(v, Qt.TextElideMode.ElideRight, self.width - 24.0
                                                 - fm.horizontalAdvance(n) - 8.0)) for n, v in self.params]
        self._prepare_texts(title_fm, fm)
        body = QPainterPath()
        body.addRoundedRect(self._rect, cs.CORNER_RADIUS, cs.CORNER_RADIUS)
        top = QPainterPath()
        top.addRect(QRectF(0, 0, self.width, cs.TITLE_HEIGHT))
        self._header = body.intersected(top)
        for item in self.ports.values():
            item.setParentItem(None)
            if item.scene() is not None:
                item.scene().removeItem(item)
        self.ports = {(p.name, p.is_input): PortItem(self, p) for p in (*self.inputs, *self.outputs)}

    def _prepare_texts(self, title_fm: QFontMetricsF, fm: QFontMetricsF) -> None:
        """Lay out every label once as QStaticText (drawn about twice as fast as drawText)."""
        title_font, port_font = cs.font("title"), cs.font("port")
        self._title_text = (QPointF(30.0, (cs.TITLE_HEIGHT - title_fm.height()) / 2),
                            _static(self._title, title_font))
        half = fm.height() / 2
        texts = []
        for port, label in zip(self.inputs, self._in_labels, strict=True):
            texts.append((QPointF(12.0, port.local.y() - half), _static(label, port_font), port.known))
        for port, label in zip(self.outputs, self._out_labels, strict=True):
            x = self.width - 12.0 - fm.horizontalAdvance(label)
            texts.append((QPointF(x, port.local.y() - half), _static(label, port_font), port.known))
        self._port_texts = texts
        params = []
        row = cs.ROW_HEIGHT * 0.8
        y = self._params_top + (row - fm.height()) / 2
        for name, value in self._param_labels:
            params.append((QPointF(12.0, y), _static(name, port_font)))
            params.append((QPointF(self.width - 12.0 - fm.horizontalAdvance(value), y), _static(value, port_font)))
            y += row
        self._param_texts = params
        self._missing_text = (QPointF(12.0, self.height - cs.ROW_HEIGHT - 4 + (cs.ROW_HEIGHT - fm.height()) / 2),
                              _static(f"{self.type_id}: not installed", port_font))

    # -- queries

    def port(self, name: str, is_input: bool) -> PortItem | None:
        return self.ports.get((name, is_input))

    def port_items(self) -> Iterable[PortItem]:
        return self.ports.values()

    def rect_in_scene(self) -> QRectF:
        return self._rect.translated(self.pos())

    # -- state that only changes the look

    def set_problems(self, messages: tuple[str, ...]) -> None:
        """Validation problems of this node: a warning mark in the header, the messages in the tooltip."""
        if messages != self.problems:
            self.problems = messages
            self._apply_tooltip()
            self.update()

    def set_run_error(self, text: str) -> None:
        """The last run's error for this node (message and hint), shown in the tooltip; "" clears it."""
        if text != self.run_error:
            self.run_error = text
            self._apply_tooltip()

    def set_status(self, status: str | None) -> None:
        if status != self.status:
            self.status = status
            if status != "running":
                self.progress = None
            self.update()

    def set_result(self, text: str | None) -> None:
        """What this node returned in the last run (io.output values), as a few lines under the node."""
        item = getattr(self, "_result_item", None)
        if not text:
            if item is not None:
                item.hide()
            return
        if item is None:
            item = self._result_item = QGraphicsSimpleTextItem(self)
            item.setFont(cs.font("port"))
        item.setBrush(cs.color(cs.palette().port_text))
        item.setText(text)
        item.setPos(4.0, self.height + 6.0)
        item.show()

    def set_progress(self, fraction: float | None) -> None:
        """The running node's progress (step / total), a bar under the header; None hides it."""
        fraction = None if fraction is None else min(1.0, max(0.0, fraction))
        if fraction != self.progress:
            self.progress = fraction
            self.update()

    def set_dimmed(self, dimmed: bool) -> None:
        if dimmed != self.dimmed:
            self.dimmed = dimmed
            self._apply_opacity()

    def set_faded(self, faded: bool) -> None:
        """Fully transparent: Qt skips painting it, but it stays selectable and hit-testable."""
        if faded != self.faded:
            self.faded = faded
            self._apply_opacity()

    def _apply_opacity(self) -> None:
        self.setOpacity(0.0 if self.faded else 0.35 if self.dimmed else BYPASS_OPACITY if self.bypassed else 1.0)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:  # noqa: N802
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(2.0 if value else 1.0)
        return super().itemChange(change, value)

    # -- painting

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._rect)
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        pal = cs.palette()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        selected = self.isSelected()
        header_color = cs.color(pal.missing) if self.missing else cs.category_color(self.category)
        if self.bypassed:
            header_color = cs.color(BYPASS_COLOR)
        if lod < cs.LOD_TEXT:  # far away: two rectangles, no text, no antialiasing
            painter.fillRect(self._rect, cs.color(pal.node_selected if selected else pal.node_body))
            painter.fillRect(QRectF(0, 0, self.width, cs.TITLE_HEIGHT), header_color)
            if self.status:
                painter.fillRect(QRectF(self.width - 24, 0, 24, cs.TITLE_HEIGHT), cs.color(cs.STATUS_COLORS.get(
                    self.status, "#9e9e9e")))
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        # body
        if selected:
            border = cs.pen(pal.node_selected, 2.0)
        elif self.missing:
            border = cs.pen(pal.missing, 1.5, Qt.PenStyle.DashLine)
        elif self.status in ("running", "failed"):
            border = cs.pen(cs.STATUS_COLORS[self.status], 2.0)
        else:
            border = cs.pen(pal.node_border, 1.0)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(cs.color(pal.node_body))
        painter.drawRoundedRect(self._rect, cs.CORNER_RADIUS, cs.CORNER_RADIUS)
        painter.setBrush(header_color)
        painter.drawPath(self._header)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(border)
        painter.drawRoundedRect(self._rect, cs.CORNER_RADIUS, cs.CORNER_RADIUS)
        # header: icon, title, badge (text and icons prepared in _layout, not per paint)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawPixmap(_ICON_RECT, *icon_pixmap(self.icon_name, "#ffffff"))
        painter.setFont(cs.font("title"))
        painter.setPen(cs.color("#ffffff"))
        painter.drawStaticText(*self._title_text)
        if self.progress is not None and self.status == "running":
            painter.fillRect(QRectF(0, cs.TITLE_HEIGHT - 3, self.width * self.progress, 3),
                             cs.color(cs.STATUS_COLORS["running"]))
        if self.status:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(_BADGE_BACK)
            painter.drawEllipse(QPointF(self.width - 15, cs.TITLE_HEIGHT / 2), 10, 10)
            badge = icon_pixmap(cs.STATUS_ICONS.get(self.status, "mdi6.help-circle"),
                                cs.STATUS_COLORS.get(self.status, "#9e9e9e"))
            painter.drawPixmap(QRectF(self.width - 24, 5, 18, 18), *badge)
        if self.problems:
            x = self.width - (48 if self.status else 24)
            painter.drawPixmap(QRectF(x, 5, 18, 18), *icon_pixmap("mdi6.alert", _PROBLEM_COLOR))
        # ports and their names
        painter.setFont(cs.font("port"))
        for port in (*self.inputs, *self.outputs):
            self._paint_port(painter, port, pal)
        painter.setPen(cs.color(pal.port_text))
        for pos, text, known in self._port_texts:
            if known:
                painter.drawStaticText(pos, text)
        painter.setPen(cs.color(pal.missing))
        for pos, text, known in self._port_texts:
            if not known:
                painter.drawStaticText(pos, text)
        # params (read-only summary; the inspector edits them)
        painter.setPen(cs.color(pal.muted_text))
        for pos, text in self._param_texts:
            painter.drawStaticText(pos, text)
        if self.missing:
            painter.setPen(cs.color(pal.missing))
            painter.drawStaticText(*self._missing_text)

    def _paint_port(self, painter: QPainter, port: PortInfo, pal: cs.CanvasPalette) -> None:
        c = cs.color(port.type.color) if port.known else cs.color(pal.missing)
        r = cs.PORT_RADIUS
        centre = port.local
        if port.state == "compatible" or port.state == "hover":
            painter.setPen(Qt.PenStyle.NoPen)
            glow = QColor(c)
            glow.setAlpha(110 if port.state == "compatible" else 190)
            painter.setBrush(glow)
            painter.drawEllipse(centre, r + 4.5, r + 4.5)
        elif port.state == "dimmed":
            c = QColor(c)
            c.setAlpha(60)
        outline = cs.pen(pal.node_border, 1.0) if port.state != "hover" else cs.pen(pal.compatible, 1.5)
        if port.multiple:  # a pill: several edges fit
            painter.setPen(outline)
            painter.setBrush(c)
            painter.drawRoundedRect(QRectF(centre.x() - r + 1, centre.y() - r * 1.7, 2 * r - 2, r * 3.4), r - 1, r - 1)
        elif port.optional:  # hollow: may stay unconnected
            painter.setBrush(QBrush(cs.color(pal.node_body)))
            painter.setPen(cs.pen(c.name(QColor.NameFormat.HexArgb) if c.alpha() < 255 else c.name(), 2.2))
            painter.drawEllipse(centre, r - 0.6, r - 0.6)
        elif not port.known:
            painter.setPen(outline)
            painter.setBrush(c)
            painter.drawRect(QRectF(centre.x() - r + 1, centre.y() - r + 1, 2 * r - 2, 2 * r - 2))
        else:
            painter.setPen(outline)
            painter.setBrush(c)
            painter.drawEllipse(centre, r, r)
