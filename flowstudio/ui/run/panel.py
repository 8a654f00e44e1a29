"""The Run panel: what the current (or last) run is doing, node by node.

A table of nodes (status, time, progress, last metrics or error), the log (log lines and streamed
generated text), live plots of the selected node's metrics (a cached node's are read back from the run
that produced them), and when the run ends its outputs and run directory. It only displays:
`RunPresenter` feeds it the engine's events (and `reset` when another flow is opened).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from flowstudio.core.limits import clip
from flowstudio.engine import RunResult
from flowstudio.engine.events import (
    Event,
    NodeCached,
    NodeCancelled,
    NodeFailed,
    NodeFinished,
    NodeLog,
    NodeMetric,
    NodeProgress,
    NodeQueued,
    NodeSkipped,
    NodeStarted,
    NodeStream,
    RunStarted,
)

from .. import theme
from .metrics_plot import MetricsPlot
from .output_view import OutputView, is_table
from .recorded_metrics import cached_metrics

COLUMNS = ("Node", "Status", "Time", "Progress", "Details")
STATUS_TOKENS = {"done": "ok", "cached": "ok", "failed": "error", "cancelled": "warning", "skipped": "text_dim"}
MAX_LOG_BLOCKS = 20_000
REPLOT_MS = 150  # new series within this are drawn with one rebuild of the plots


def short(value: Any, limit: int = 200) -> str:
    """A one-line rendering of a JSON value (artifacts by their path)."""
    if isinstance(value, dict) and value.get("__artifact__"):
        text = f"{value.get('kind', 'artifact')}: {value.get('path', '')}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_outputs(summary: dict[str, Any], labels: dict[str, str]) -> list[tuple[str, str, Any]]:
    """(name, node id, value) of what a run produced: the io.output values (named by their label, else the
    node id), then every table another node wrote (named node.port) that no output already shows."""
    out: list[tuple[str, str, Any]] = []
    shown: set[str] = set()
    for node_id, value in summary.get("outputs", {}).items():
        out.append((labels.get(node_id) or node_id, node_id, value))
        if is_table(value):
            shown.add(str(value.get("path")))
    for node_id, entry in summary.get("nodes", {}).items():
        outputs = entry.get("outputs") if isinstance(entry, dict) else None
        for port, value in (outputs.items() if isinstance(outputs, dict) else ()):
            if is_table(value) and str(value.get("path")) not in shown:
                shown.add(str(value.get("path")))
                out.append((f"{node_id}.{port}", node_id, value))
    return out


def format_metrics(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {value:.4g}" for name, value in metrics.items())


class RunPanel(QWidget):
    nodeActivated = Signal(str)  # noqa: N815 - a row was clicked: show that node on the canvas
    chatRequested = Signal(str, str)  # noqa: N815 - (model source, label): "Chat with this model" on a row

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[str, QTreeWidgetItem] = {}
        self.metrics: dict[str, dict[str, list[tuple[float, float]]]] = {}
        self.last_metrics: dict[str, dict[str, float]] = {}
        self.errors: dict[str, str] = {}
        self.run_dir: Path | None = None
        self.plotted: str | None = None
        self._stream_node: str | None = None
        self._adding_row = False
        self._started: dict[str, float] = {}  # running nodes: when they started (the Time column ticks)
        self._tick = QTimer(self)
        self._tick.setInterval(500)
        self._tick.timeout.connect(self._update_times)
        self._replot = QTimer(self)
        self._replot.setSingleShot(True)
        self._replot.setInterval(REPLOT_MS)
        self._replot.timeout.connect(self._replot_now)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        head = QHBoxLayout()
        self.state = QLabel("No run yet: Run ▶ (F5) runs the flow.", self)
        self.state.setObjectName("RunState")
        self.dir_label = QLabel(self)
        self.dir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_dir = QPushButton(theme.icon("mdi6.folder-open-outline"), "Open Run Folder", self)
        self.open_dir.setEnabled(False)
        self.open_dir.clicked.connect(self.open_run_dir)
        head.addWidget(self.state, 1)
        head.addWidget(self.dir_label)
        head.addWidget(self.open_dir)
        layout.addLayout(head)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        self.table = QTreeWidget(split)
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.header().setStretchLastSection(True)
        self.table.currentItemChanged.connect(self._row_changed)
        self.table.itemClicked.connect(lambda item, _c: self.nodeActivated.emit(item.text(0)))
        self.model_outputs: dict[str, dict[str, str]] = {}  # node -> port -> model artifact path (chat)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)
        self.tabs = QTabWidget(split)
        self.log = QPlainTextEdit(self.tabs)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(MAX_LOG_BLOCKS)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.plot = MetricsPlot(self.tabs)
        self.outputs_split = QSplitter(Qt.Orientation.Horizontal, self.tabs)
        self.outputs = QTreeWidget(self.outputs_split)
        self.outputs.setColumnCount(2)
        self.outputs.setHeaderLabels(["Output", "Value"])
        self.outputs.setRootIsDecorated(False)
        self.output_view = OutputView(self.outputs_split)  # the selected output: text, a sortable table, JSON
        self.outputs.currentItemChanged.connect(self._output_changed)
        self.outputs_split.setStretchFactor(0, 2)
        self.outputs_split.setStretchFactor(1, 3)
        self.tabs.addTab(self.log, "Log")
        self.tabs.addTab(self.plot, "Metrics")
        self.tabs.addTab(self.outputs_split, "Outputs")
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 4)
        layout.addWidget(split, 1)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        em = self.fontMetrics().height()
        return QSize(em * 60, em * 22)

    # -- a run's life

    def begin(self, description: str) -> None:
        """A new run: forget the last one."""
        self.rows.clear()
        self.metrics.clear()
        self.last_metrics.clear()
        self.errors.clear()
        self.model_outputs.clear()
        self._adding_row = True  # clearing moves the current row: that is no choice of the user's
        try:
            self.table.clear()
        finally:
            self._adding_row = False
        self.log.clear()
        self.outputs.clear()
        self.output_view.clear()
        self.plot.clear()
        self.run_dir = None
        self._stream_node = None
        self._started.clear()
        self._tick.start()
        self.dir_label.setText("")
        self.open_dir.setEnabled(False)
        self.state.setText(description)
        self.show_node(self.plotted)  # a node selected before the run: its plot fills as metrics arrive

    def reset(self) -> None:
        """Another flow was opened: nothing of the last run's stays."""
        self.begin("No run yet: Run ▶ (F5) runs the flow.")
        self._tick.stop()
        self.plotted = None
        self.plot.clear()

    def not_started(self, message: str) -> None:
        self._tick.stop()
        self.state.setText(f"<span style='color:{theme.color('error')}'>Could not start:</span> {message}")
        self._append(f"Could not start the run: {message}")

    def on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_dir = Path(event.run_dir)
            for node_id in event.nodes:
                self._row(node_id)
            self._append(f"Run {event.run_id} started: {len(event.nodes)} nodes")
        elif isinstance(event, NodeQueued):
            self._set(event.node, "queued")
        elif isinstance(event, NodeStarted):
            where = "in process" if event.worker_pid is None else f"worker {event.worker_pid}"
            self._started[event.node] = event.t
            self._set(event.node, "running", details=f"{event.device}, {where}")
        elif isinstance(event, NodeProgress):
            total = f"/{event.total}" if event.total else ""
            self._row(event.node).setText(3, f"{event.step}{total} {event.message}".strip())
        elif isinstance(event, NodeMetric):
            self._metric(event)
        elif isinstance(event, NodeLog):
            self._append(f"[{event.node}] {event.line}")
        elif isinstance(event, NodeStream):
            self._stream(event)
        elif isinstance(event, NodeFinished):
            self._set(event.node, "done", event.seconds, format_metrics(event.metrics))
            self._note_models(event.node, event.outputs)
        elif isinstance(event, NodeCached):
            self._set(event.node, "cached", None, format_metrics(event.metrics))
            self._note_models(event.node, event.outputs)
            recorded = cached_metrics(event.node, event.cache_key, self.run_dir, event.source)
            if recorded:
                self.metrics[event.node] = recorded
                if self.plotted == event.node:
                    self.show_node(event.node)
        elif isinstance(event, NodeFailed):
            self._failed(event)
        elif isinstance(event, NodeCancelled):
            self._set(event.node, "cancelled", event.seconds if event.started else None,
                      event.message or ("stopped" if event.started else "not started"))
        elif isinstance(event, NodeSkipped):
            self._set(event.node, "skipped", None, event.reason)

    def finish(self, result: RunResult, labels: dict[str, str] | None = None) -> None:
        """The run ended. `labels`: names for io.output nodes (their `label` param) to show instead of ids."""
        if self._replot.isActive():
            self._replot_now()
        self._tick.stop()
        self._started.clear()
        summary = result.summary
        status = summary.get("status", "?")
        token = {"succeeded": "ok", "failed": "error"}.get(status, "warning")
        self.state.setText(f"<span style='color:{theme.color(token)}'>● {status.capitalize()}</span> in "
                           f"{summary.get('seconds', 0.0):.2f} s")
        self.run_dir = result.run_dir
        self.dir_label.setText(str(result.run_dir))
        self.open_dir.setEnabled(True)
        self.outputs.clear()
        self.output_view.clear()
        for name, node_id, value in run_outputs(summary, labels or {}):
            item = QTreeWidgetItem([name, short(value)])
            item.setData(0, Qt.ItemDataRole.UserRole, value)
            item.setToolTip(0, node_id)
            item.setToolTip(1, clip(value if isinstance(value, str) else json.dumps(value, indent=2, default=str),
                                    2000))
            self.outputs.addTopLevelItem(item)
        if self.outputs.topLevelItemCount():
            self.outputs.setCurrentItem(self.outputs.topLevelItem(0))
            self.tabs.setCurrentWidget(self.outputs_split)
        self._append(f"Run {status} in {summary.get('seconds', 0.0):.2f} s — {result.run_dir}")

    def _output_changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if current is None:
            self.output_view.clear()
        else:
            self.output_view.show_value(current.data(0, Qt.ItemDataRole.UserRole), current.text(0))

    def open_run_dir(self) -> None:
        if self.run_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.run_dir)))

    # -- the selected node's metrics

    def show_node(self, node_id: str | None) -> None:
        """Plot this node's metrics (and select its row)."""
        self.plotted = node_id
        row = self.rows.get(node_id or "")
        if row is not None and self.table.currentItem() is not row:
            self.table.setCurrentItem(row)
        self._replot.stop()
        series = self.metrics.get(node_id or "", {})
        title = f"{node_id}: metrics" if series else (f"{node_id}: no metrics yet" if node_id else "")
        self.plot.set_series(series, title)

    def _replot_now(self) -> None:
        """The plotted node's series, all at once (new series arrived)."""
        self._replot.stop()
        if self.plotted is not None:
            self.plot.set_series(self.metrics.get(self.plotted, {}), self.plot.title)

    def _row_changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if self._adding_row:  # a row the run added became current by itself: keep the selected node
            return
        if current is not None and current.text(0) != self.plotted:
            self.show_node(current.text(0))

    # -- "Chat with this model" on rows whose node produced a model

    def _note_models(self, node_id: str, outputs: dict[str, Any]) -> None:
        models = {port: str(value["path"]) for port, value in (outputs or {}).items()
                  if isinstance(value, dict) and value.get("kind") == "model" and value.get("path")}
        if models:
            self.model_outputs[node_id] = models

    def chat_menu(self, node_id: str) -> QMenu | None:
        """The row's menu: "Chat with this model" for each model the node produced (None: it made none)."""
        models = self.model_outputs.get(node_id, {})
        if not models:
            return None
        menu = QMenu(self.table)
        for port, path in models.items():
            label = f"{node_id}.{port}"
            text = "Chat with this model" if len(models) == 1 else f"Chat with {label}"
            action = menu.addAction(theme.icon("mdi6.chat-processing-outline"), text,
                                    lambda p=path, lab=label: self.chatRequested.emit(p, lab))
            action.setObjectName("action_chat_with_model")
        return menu

    def _table_menu(self, pos: Any) -> None:
        item = self.table.itemAt(pos)
        menu = self.chat_menu(item.text(0)) if item is not None else None
        if menu is not None:
            menu.exec(self.table.viewport().mapToGlobal(pos))

    # -- helpers

    def _row(self, node_id: str) -> QTreeWidgetItem:
        row = self.rows.get(node_id)
        if row is None:
            row = QTreeWidgetItem([node_id, "", "", "", ""])
            self.rows[node_id] = row
            self._adding_row = True
            try:
                self.table.addTopLevelItem(row)
            finally:
                self._adding_row = False
        return row

    def _update_times(self) -> None:
        now = time.time()
        for node_id, started in self._started.items():
            self._row(node_id).setText(2, f"{now - started:.1f} s…")

    def _set(self, node_id: str, status: str, seconds: float | None = None, details: str | None = None) -> None:
        if status != "running":
            self._started.pop(node_id, None)
        row = self._row(node_id)
        row.setText(1, status)
        row.setForeground(1, QColor(theme.color(STATUS_TOKENS.get(status, "text"))))
        if seconds is not None:
            row.setText(2, f"{seconds:.2f} s")
        if details is not None:
            row.setText(4, details)
            row.setToolTip(4, details)

    def _metric(self, event: NodeMetric) -> None:
        series = self.metrics.setdefault(event.node, {}).setdefault(event.name, [])
        step = event.step if event.step is not None else len(series) + 1
        series.append((float(step), float(event.value)))
        last = self.last_metrics.setdefault(event.node, {})
        last[event.name] = float(event.value)
        self._row(event.node).setText(4, format_metrics(last))
        if self.plotted == event.node:
            if self.plot.title != f"{event.node}: metrics":
                self.plot.title = f"{event.node}: metrics"
            if event.name in self.plot.series and not self._replot.isActive():
                self.plot.add(event.name, step, event.value)
            elif not self._replot.isActive():  # a new series rebuilds the plots: one rebuild for a burst of
                self._replot.start()             # them (a Trainer logs ~10 at once); the points wait in `metrics`

    def _failed(self, event: NodeFailed) -> None:
        text = event.error + (f"\nHint: {event.hint}" if event.hint else "")
        self.errors[event.node] = text
        self._set(event.node, "failed", event.seconds, event.error)
        self._row(event.node).setToolTip(4, text + (f"\n\n{event.log_tail}" if event.log_tail else ""))
        self._append(f"[{event.node}] FAILED: {event.error}" + (f"\n[{event.node}] hint: {event.hint}"
                                                                 if event.hint else ""))

    def _stream(self, event: NodeStream) -> None:
        """Generated text flows on one line per node, without a prefix per piece."""
        if self._stream_node != event.node:
            self._append(f"[{event.node}] ")
            self._stream_node = event.node
        cursor = self.log.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(event.text)
        self.log.setTextCursor(cursor)

    def _append(self, line: str) -> None:
        self._stream_node = None
        self.log.appendPlainText(line)

    def log_text(self) -> str:
        return self.log.toPlainText()
