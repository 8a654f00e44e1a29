"""Live plots of one node's metrics over steps (pyqtgraph): one panel per metric family.

Metrics of very different scales never share an axis: the loss and eval loss come first, then reward
and KL, the learning rate, the gradient norm, throughput and token counts, and anything else. Every
series can be hidden (its checkbox, or a click on its legend entry), the y axes can be switched to a
log scale, an EMA smooths the curves (the raw points stay as a faint line), and hovering shows a
crosshair with the step and the values there. Redraws are coalesced (at most ~10 a second).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QSize, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .. import theme

if TYPE_CHECKING:
    import pyqtgraph as pg  # imported when the first plot is drawn: it and numpy cost ~0.3 s at start-up

SERIES_COLORS = ("#5b8cff", "#f06262", "#4cc38a", "#e8a33d", "#ab47bc", "#26c6da", "#8d6e63", "#ec407a")
FAMILIES = ("loss", "reward", "lr", "grad", "throughput", "other")
FAMILY_TITLES = {"loss": "Loss", "reward": "Reward / KL", "lr": "Learning rate", "grad": "Gradient norm",
                 "throughput": "Throughput / tokens", "other": "Other"}
REDRAW_MS = 100


def family(name: str) -> str:
    """The panel a metric goes to, by its name."""
    n = name.lower()
    if "loss" in n or "perplexity" in n or n in ("ppl", "eval_ppl"):
        return "loss"
    if "reward" in n or "kl" in n.replace("_", " ").split() or n.endswith("kl") or "kl_" in n:
        return "reward"
    if n in ("lr", "learning_rate") or n.endswith(("_lr", "learning_rate")) or n.startswith("lr_"):
        return "lr"
    if "grad" in n:
        return "grad"
    if any(w in n for w in ("token", "per_sec", "per_second", "throughput", "samples", "it_s", "/s")):
        return "throughput"
    return "other"


def _order(name: str) -> tuple[int, int, str]:
    """Within a family: `loss`/`train_loss` before `eval_loss`, then by name."""
    n = name.lower()
    return (FAMILIES.index(family(name)), 0 if n in ("loss", "train_loss") else 1 if "eval" in n else 2, n)


def ema(values: Iterable[float], weight: float) -> list[float]:
    """Exponential moving average: s0 = y0, s_i = w*s_(i-1) + (1-w)*y_i (weight 0: the values)."""
    out: list[float] = []
    last: float | None = None
    for y in values:
        last = y if last is None or not math.isfinite(last) else weight * last + (1.0 - weight) * y
        out.append(last)
    return out


class MetricsPlot(QWidget):
    """Series by name: (step, value) points. `add` appends; `clear` empties; `set_series` replaces.

    `panels` holds a PlotItem per family that has a series; `curves` the drawn (possibly smoothed) line
    of each shown series; `hidden` the names switched off; `log_y` and `smoothing` the view settings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.hidden: set[str] = set()
        self.smoothing = 0.0
        self.log_y = False
        self.panels: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.raw_curves: dict[str, pg.PlotDataItem] = {}
        self.checks: dict[str, QCheckBox] = {}
        self._colors: dict[str, str] = {}
        self._cross: dict[str, pg.InfiniteLine] = {}
        self._layout_families: tuple[str, ...] = ()
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.flush)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        self.title_label = QLabel(self)
        self.title_label.setObjectName("MetricsTitle")
        self.log_box = QCheckBox("Log scale", self)
        self.log_box.setToolTip("Logarithmic y axes")
        self.log_box.toggled.connect(self.set_log_y)
        self.smooth_box = QDoubleSpinBox(self)
        self.smooth_box.setRange(0.0, 0.99)
        self.smooth_box.setSingleStep(0.1)
        self.smooth_box.setDecimals(2)
        self.smooth_box.setPrefix("Smoothing ")
        self.smooth_box.setToolTip("EMA weight: 0 shows the raw values, 0.9 a smooth trend (the raw values stay faint)")
        self.smooth_box.valueChanged.connect(self.set_smoothing)
        bar.addWidget(self.title_label, 1)
        bar.addWidget(self.smooth_box)
        bar.addWidget(self.log_box)
        layout.addLayout(bar)

        self.series_bar = QWidget(self)
        self.series_row = QHBoxLayout(self.series_bar)
        self.series_row.setContentsMargins(4, 0, 4, 0)
        self.series_row.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidget(self.series_bar)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedHeight(self.fontMetrics().height() * 2)
        self.series_scroll = scroll
        layout.addWidget(scroll)

        self.stack = QStackedWidget(self)
        self.empty = QLabel("Select a node to plot its metrics", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet(f"color: {theme.color('text_dim')}")
        self._graphics: pg.GraphicsLayoutWidget | None = None  # made on first use (see `graphics`)
        self.stack.addWidget(self.empty)
        layout.addWidget(self.stack, 1)
        self.readout = QLabel(self)
        self.readout.setObjectName("MetricsReadout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.readout)
        self._show_state()

    @property
    def graphics(self) -> pg.GraphicsLayoutWidget:
        """The plots' widget, built (and pyqtgraph imported) when it is first needed, not at start-up."""
        if self._graphics is None:
            import pyqtgraph as pg

            self._graphics = pg.GraphicsLayoutWidget(self)
            self._graphics.setBackground(QColor(theme.color("panel")))
            self._graphics.setMinimumHeight(0)
            self._graphics.scene().sigMouseMoved.connect(self._mouse_moved)
            self.stack.addWidget(self._graphics)
        return self._graphics

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        em = self.fontMetrics().height()
        return QSize(em * 30, em * 18)

    # -- the title (a label above the plots: it never overlaps a legend)

    @property
    def title(self) -> str:
        return self.title_label.text()

    @title.setter
    def title(self, text: str) -> None:
        self.title_label.setText(text)
        self.empty.setText(text or "Select a node to plot its metrics")

    # -- data

    def clear(self, title: str = "") -> None:
        self.set_series({}, title)

    def add(self, name: str, step: float, value: float) -> None:
        new = name not in self.series
        self.series.setdefault(name, []).append((float(step), float(value)))
        if new:
            self._rebuild()
        else:
            self._dirty = True
            if not self._timer.isActive():
                self._timer.start()

    def set_series(self, series: dict[str, list[tuple[float, float]]], title: str = "") -> None:
        self.series = {name: [(float(s), float(v)) for s, v in points] for name, points in series.items()}
        self.title = title
        self._rebuild()

    # -- view settings

    def set_hidden(self, name: str, hidden: bool) -> None:
        """Hide (or show again) a series: a hidden one is taken off its plot."""
        if hidden == (name in self.hidden):
            return
        (self.hidden.add if hidden else self.hidden.discard)(name)
        box = self.checks.get(name)
        if box is not None and box.isChecked() == hidden:
            box.blockSignals(True)
            box.setChecked(not hidden)
            box.blockSignals(False)
        self._rebuild()

    def set_log_y(self, on: bool) -> None:
        self.log_y = bool(on)
        if self.log_box.isChecked() != self.log_y:
            self.log_box.setChecked(self.log_y)
        for plot in self.panels.values():
            plot.setLogMode(x=False, y=self.log_y)

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = min(max(float(weight), 0.0), 0.99)
        if abs(self.smooth_box.value() - self.smoothing) > 1e-9:
            self.smooth_box.setValue(self.smoothing)
        self._rebuild()

    # -- what is plotted (for the hover read-out and tests)

    def plotted(self, name: str) -> tuple[list[float], list[float]]:
        """The x and y of the line drawn for `name` (smoothed when smoothing is on)."""
        self.flush()
        curve = self.curves.get(name)
        if curve is None:
            return [], []
        xs, ys = curve.getOriginalDataset()
        return ([] if xs is None else [float(x) for x in xs]), ([] if ys is None else [float(y) for y in ys])

    def readout_at(self, step: float) -> str:
        """The step nearest `step` with each shown series' (smoothed) value there."""
        parts: list[str] = []
        nearest: float | None = None
        for name in sorted(self.curves, key=_order):
            xs, ys = self.plotted(name)
            if not xs:
                continue
            i = min(range(len(xs)), key=lambda j: abs(xs[j] - step))
            nearest = xs[i] if nearest is None or abs(xs[i] - step) < abs(nearest - step) else nearest
            parts.append(f"{name} {ys[i]:.4g}")
        if nearest is None:
            return ""
        return f"step {nearest:g}: " + "  ".join(parts)

    def flush(self) -> None:
        """Redraw now what `add` queued."""
        self._timer.stop()
        if not self._dirty:
            return
        self._dirty = False
        for name, curve in self.curves.items():
            self._set_data(name, curve)

    # -- building

    def _color(self, name: str) -> str:
        if name not in self._colors:
            self._colors[name] = SERIES_COLORS[len(self._colors) % len(SERIES_COLORS)]
        return self._colors[name]

    def _set_data(self, name: str, curve: pg.PlotDataItem) -> None:
        points = self.series.get(name, [])
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        if self.smoothing > 0:
            curve.setData(xs, ema(ys, self.smoothing))
            raw = self.raw_curves.get(name)
            if raw is not None:
                raw.setData(xs, ys)
        else:
            curve.setData(xs, ys)

    def _rebuild(self) -> None:
        """Rebuild the panels, curves and checkboxes from `series` (new series, hide/show, smoothing)."""
        import pyqtgraph as pg

        self._timer.stop()
        self._dirty = False
        self._sync_checks()
        names = sorted((n for n in self.series if n not in self.hidden), key=_order)
        families = tuple(f for f in FAMILIES if any(family(n) == f for n in names))
        if families != self._layout_families:
            self.graphics.clear()
            self.panels.clear()
            self._cross.clear()
            first: pg.PlotItem | None = None
            for row, fam in enumerate(families):
                plot = self.graphics.addPlot(row=row, col=0)
                plot.setTitle(None)
                plot.showGrid(x=True, y=True, alpha=0.15)
                plot.setLabel("left", FAMILY_TITLES[fam])
                plot.setLogMode(x=False, y=self.log_y)
                plot.setMenuEnabled(False)
                legend = plot.addLegend(offset=(-8, 8), labelTextColor=theme.color("text"))
                legend.sigSampleClicked.connect(self._legend_clicked)
                line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(theme.color("text_dim"), width=1))
                line.setVisible(False)
                plot.addItem(line, ignoreBounds=True)
                self._cross[fam] = line
                if first is None:
                    first = plot
                else:
                    plot.setXLink(first)
                self.panels[fam] = plot
            if first is not None:
                list(self.panels.values())[-1].setLabel("bottom", "step")
            self._layout_families = families
        else:
            for plot in self.panels.values():
                for item in list(plot.listDataItems()):
                    plot.removeItem(item)
        self.curves.clear()
        self.raw_curves.clear()
        for name in names:
            plot = self.panels[family(name)]
            color = self._color(name)
            if self.smoothing > 0:
                faint = QColor(color)
                faint.setAlpha(70)
                raw = pg.PlotDataItem(pen=pg.mkPen(faint, width=1))
                plot.addItem(raw)
                legend = plot.legend
                if legend is not None:
                    legend.removeItem(raw)
                self.raw_curves[name] = raw
            curve = plot.plot(pen=pg.mkPen(color, width=2), name=name)
            self.curves[name] = curve
            self._set_data(name, curve)
        self._show_state()

    def _sync_checks(self) -> None:
        for name in list(self.checks):
            if name not in self.series:
                box = self.checks.pop(name)
                self.series_row.removeWidget(box)
                box.deleteLater()
        self.hidden &= set(self.series)
        for name in sorted(self.series, key=_order):
            if name in self.checks:
                continue
            box = QCheckBox(name, self.series_bar)
            box.setChecked(name not in self.hidden)
            box.setStyleSheet(f"QCheckBox {{ color: {self._color(name)}; }}")
            box.setToolTip(f"Show or hide {name}")
            box.toggled.connect(lambda on, n=name: self.set_hidden(n, not on))
            self.checks[name] = box
            self.series_row.insertWidget(self.series_row.count() - 1, box)
        # keep the boxes in plotting order
        for i, name in enumerate(sorted(self.checks, key=_order)):
            self.series_row.removeWidget(self.checks[name])
            self.series_row.insertWidget(i, self.checks[name])

    def _show_state(self) -> None:
        has = bool(self.series)
        self.stack.setCurrentWidget(self.graphics if has else self.empty)
        self.series_scroll.setVisible(has)
        self.log_box.setEnabled(has)
        self.smooth_box.setEnabled(has)
        self.readout.setVisible(has)
        self.title_label.setVisible(has)
        self.log_box.setVisible(has)
        self.smooth_box.setVisible(has)
        if not has:
            self.readout.setText("")

    def _legend_clicked(self, item: pg.PlotDataItem) -> None:
        for name, curve in self.curves.items():
            if curve is item:
                QTimer.singleShot(0, lambda n=name: self.set_hidden(n, True))
                return

    def _mouse_moved(self, pos: QPointF) -> None:
        for plot in self.panels.values():
            if plot.sceneBoundingRect().contains(pos):
                step = plot.getViewBox().mapSceneToView(pos).x()
                text = self.readout_at(step)
                self.readout.setText(text)
                if text:
                    at = float(text.split(":", 1)[0].split()[1])
                    for line in self._cross.values():
                        line.setPos(at)
                        line.setVisible(True)
                return
        for line in self._cross.values():
            line.setVisible(False)
