"""A small live line plot (QPainter): one node's metrics over steps, e.g. the training loss.

Hand-drawn rather than QtCharts: a few hundred points, redrawn a few times a second, need no more;
it follows the app's theme colours and costs nothing at import.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .. import theme

SERIES_COLORS = ("#5b8cff", "#f06262", "#4cc38a", "#e8a33d", "#ab47bc", "#26c6da", "#8d6e63", "#ec407a")


class MetricsPlot(QWidget):
    """Series by name: (step, value) points. `add` appends; `clear` empties; the view fits the data."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.title = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(30)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        em = self.fontMetrics().height()
        return QSize(em * 24, em * 10)

    def clear(self, title: str = "") -> None:
        self.series = {}
        self.title = title
        self.update()

    def add(self, name: str, step: float, value: float) -> None:
        self.series.setdefault(name, []).append((float(step), float(value)))
        self.update()

    def set_series(self, series: dict[str, list[tuple[float, float]]], title: str = "") -> None:
        self.series = {name: list(points) for name, points in series.items()}
        self.title = title
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        text = QColor(theme.color("text"))
        dim = QColor(theme.color("text_dim"))
        fm = self.fontMetrics()
        em = fm.height()
        points = [p for pts in self.series.values() for p in pts]
        if not points:
            painter.setPen(dim)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             self.title or "Select a node to plot its metrics")
            return
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x0, x1 = x0 - 1, x1 + 1
        if y1 == y0:
            pad = abs(y0) * 0.1 or 1.0
            y0, y1 = y0 - pad, y1 + pad
        labels = [f"{y1:.4g}", f"{y0:.4g}"]
        left = max(fm.horizontalAdvance(s) for s in labels) + em * 0.6
        area = QRectF(left, em * 1.5, max(10.0, self.width() - left - em), max(10.0, self.height() - em * 3.2))
        painter.setPen(QPen(dim, 1))
        painter.drawRect(area)
        painter.setPen(text)
        painter.drawText(QPointF(left, em * 1.1), self.title)
        painter.setPen(dim)
        painter.drawText(QRectF(0, area.top() - em / 2, left - em * 0.3, em), Qt.AlignmentFlag.AlignRight, labels[0])
        painter.drawText(QRectF(0, area.bottom() - em / 2, left - em * 0.3, em), Qt.AlignmentFlag.AlignRight, labels[1])
        painter.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), em), Qt.AlignmentFlag.AlignLeft,
                         f"step {x0:g}")
        painter.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), em), Qt.AlignmentFlag.AlignRight,
                         f"{x1:g}")

        def at(x: float, y: float) -> QPointF:
            return QPointF(area.left() + (x - x0) / (x1 - x0) * area.width(),
                           area.bottom() - (y - y0) / (y1 - y0) * area.height())

        legend_x = area.right()
        for i, (name, pts) in enumerate(sorted(self.series.items())):
            colour = QColor(SERIES_COLORS[i % len(SERIES_COLORS)])
            path = QPainterPath(at(*pts[0]))
            for x, y in pts[1:]:
                path.lineTo(at(x, y))
            painter.setPen(QPen(colour, 1.8))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
            if len(pts) == 1:
                painter.drawEllipse(at(*pts[0]), 2.5, 2.5)
            label = f"{name} {pts[-1][1]:.4g}"
            legend_x -= fm.horizontalAdvance(label) + em
            painter.drawText(QPointF(legend_x, em * 1.1), label)
