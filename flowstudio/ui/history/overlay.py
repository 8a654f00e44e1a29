"""Curves of two or more runs on the same axes: one node's metrics, one series per run (and metric).

It reuses the Run panel's `MetricsPlot` (panels per metric family, hide/show, log scale, smoothing,
hover read-out); a series is named "<run label> · <metric>", so runs keep apart in the legend.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from flowstudio.ui.run.metrics_plot import MetricsPlot, family

from .records import RunRecord

ALL = "All metrics"
PREFERRED = ("loss", "train_loss", "eval_loss")


def series_name(label: str, metric: str) -> str:
    return f"{label} · {metric}"


class OverlayView(QWidget):
    """`show_runs(runs, labels)` overlays their curves; the node and metric combos choose what."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunRecord] = []
        self.labels: list[str] = []
        self.node_box = QComboBox(self)
        self.node_box.setObjectName("OverlayNode")
        self.node_box.setToolTip("The node whose metrics are overlaid")
        self.metric_box = QComboBox(self)
        self.metric_box.setObjectName("OverlayMetric")
        self.metric_box.setToolTip("One metric, or all of them (each in its family's panel)")
        self.plot = MetricsPlot(self)
        self.plot.empty.setText("Tick two or more runs in the list and press Overlay")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        bar.addWidget(QLabel("Node", self))
        bar.addWidget(self.node_box, 1)
        bar.addWidget(QLabel("Metric", self))
        bar.addWidget(self.metric_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)
        self.node_box.currentTextChanged.connect(self._node_changed)
        self.metric_box.currentTextChanged.connect(lambda _t: self.redraw())

    def show_runs(self, runs: list[RunRecord], labels: list[str], node: str | None = None) -> None:
        self.runs, self.labels = list(runs), list(labels)
        nodes: list[str] = []
        for run in self.runs:
            nodes += [n for n in run.metric_nodes() if n not in nodes]
        self.node_box.blockSignals(True)
        self.node_box.clear()
        self.node_box.addItems(nodes)
        if node not in nodes:  # the first node with a loss curve (a trainer), else the first one
            node = next((n for n in nodes if any(family(m) == "loss" for r in self.runs for m in r.series(n))),
                        nodes[0] if nodes else None)
        if node is not None:
            self.node_box.setCurrentText(node)
        self.node_box.blockSignals(False)
        self._node_changed(self.node_box.currentText())

    def _node_changed(self, node: str) -> None:
        names: list[str] = []
        for run in self.runs:
            names += [m for m in run.series(node) if m not in names] if node else []
        names.sort(key=lambda n: (family(n) != "loss", n))
        current = self.metric_box.currentText()
        self.metric_box.blockSignals(True)
        self.metric_box.clear()
        self.metric_box.addItems([ALL, *names])
        pick = current if current in names else next((p for p in PREFERRED if p in names), ALL)
        self.metric_box.setCurrentText(pick)
        self.metric_box.blockSignals(False)
        self.redraw()

    def redraw(self) -> None:
        node, metric = self.node_box.currentText(), self.metric_box.currentText()
        series: dict[str, list[tuple[float, float]]] = {}
        for run, label in zip(self.runs, self.labels, strict=False):
            for name, points in (run.series(node) if node else {}).items():
                if metric in (ALL, name):
                    series[series_name(label, name)] = points
        what = metric if metric != ALL else "metrics"
        title = f"{node}: {what} of {len(self.runs)} runs" if series else (
            f"{node}: no metrics recorded" if node else "No metrics recorded in these runs")
        self.plot.set_series(series, title)
