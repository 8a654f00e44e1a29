"""The Run History panel: every past run of the open flow, and what to do with them.

The list shows each run's number, start time, status, duration, the params that differ between the
listed runs, and its final metrics. Open (or a double click) replays a run into a Run panel of its own
(table, log, plots, outputs); Overlay draws the curves of the ticked runs together; Diff compares the
flow snapshots of two runs; Re-run runs a snapshot again as it was; Fork opens it as a new flow.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from flowstudio.ui.run.panel import RunPanel

from .. import theme
from . import snapshot_diff
from .overlay import OverlayView
from .records import MISSING, RunRecord, differing_params, format_value, runs_of_flow
from .replay import replay

COLUMNS = ("Run", "Started", "Status", "Time", "Changed params", "Final metrics")
STATUS_TOKENS = {"succeeded": "ok", "failed": "error", "cancelled": "warning", "running": "accent"}
PATH_ROLE = Qt.ItemDataRole.UserRole
MAX_LOG_BYTES = 512 * 1024


def metrics_text(record: RunRecord, limit: int = 160) -> str:
    parts = []
    for node, metrics in record.final_metrics().items():
        parts.append(f"{node}: " + " ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    return format_value("; ".join(parts), limit) if parts else ""


class RunHistoryPanel(QWidget):
    rerunRequested = Signal(object)  # noqa: N815 - a RunRecord: run its snapshot again
    forkRequested = Signal(object)  # noqa: N815 - a RunRecord: open its snapshot as a new flow
    chatRequested = Signal(str, str)  # noqa: N815 - (model source, label): open it in the playground

    def __init__(self, parent: QWidget | None = None, root: Path | None = None) -> None:
        super().__init__(parent)
        self.root = root  # runs_dir() when None
        self.flow_path: Path | None = None
        self.flow_name = ""
        self.records: list[RunRecord] = []
        self.labels: dict[Path, str] = {}
        self.differ: list[str] = []

        self.state = QLabel("Open a flow to see its runs", self)
        self.state.setObjectName("RunHistoryState")
        buttons = QHBoxLayout()
        buttons.addWidget(self.state, 1)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, icon, tip, slot in (
                ("refresh", "Refresh", "mdi6.refresh", "Read the run folders again", self.refresh),
                ("open", "Open", "mdi6.open-in-app", "Show the selected run's nodes, log, plots and outputs",
                 self.open_selected),
                ("overlay", "Overlay", "mdi6.chart-multiple", "Draw the curves of the ticked runs together",
                 self.overlay_checked),
                ("diff", "Diff", "mdi6.file-compare", "Compare the flow snapshots of two runs", self.diff_checked),
                ("rerun", "Re-run", "mdi6.replay", "Run the selected run's snapshot again, as it was",
                 lambda: self._emit_selected(self.rerunRequested)),
                ("fork", "Fork", "mdi6.source-fork", "Open the selected run's snapshot as a new flow",
                 lambda: self._emit_selected(self.forkRequested)),
                ("folder", "Folder", "mdi6.folder-open-outline", "Open the selected run's folder", self.open_folder)):
            button = QPushButton(theme.icon(icon), text, self)
            button.setObjectName(f"history_{key}")
            button.setToolTip(tip)
            button.clicked.connect(lambda _c=False, s=slot: s())
            buttons.addWidget(button)
            self.buttons[key] = button

        split = QSplitter(Qt.Orientation.Vertical, self)
        self.table = QTreeWidget(split)
        self.table.setObjectName("RunHistoryTable")
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.table.itemDoubleClicked.connect(lambda item, _c: self.open_run(Path(item.data(0, PATH_ROLE))))
        self.table.itemSelectionChanged.connect(self._sync)
        self.table.itemChanged.connect(lambda _i, _c: self._sync())
        self.tabs = QTabWidget(split)
        self.run_view = RunPanel(self.tabs)
        self.run_view.state.setText("Open a run to see its nodes, log, plots and outputs")
        self.overlay = OverlayView(self.tabs)
        self.diff = QPlainTextEdit(self.tabs)
        self.diff.setReadOnly(True)
        self.diff.setObjectName("RunHistoryDiff")
        self.diff.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.diff.setFont(QFont("monospace"))
        self.diff.setPlaceholderText("Tick two runs and press Diff")
        self.node_log = QPlainTextEdit(self.tabs)
        self.node_log.setReadOnly(True)
        self.node_log.setObjectName("RunHistoryNodeLog")
        self.node_log.setPlaceholderText("Open a run and select a node: its whole log file shows here")
        self.run_view.table.currentItemChanged.connect(lambda item, _p: item is not None and self.show_node_log(item.text(0)))
        self.opened: RunRecord | None = None
        self.tabs.addTab(self.run_view, "Run")
        self.tabs.addTab(self.node_log, "Node log")
        self.tabs.addTab(self.overlay, "Overlay")
        self.tabs.addTab(self.diff, "Diff")
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)
        self._sync()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        em = self.fontMetrics().height()
        return QSize(em * 60, em * 26)

    # -- the list

    def set_flow(self, path: Path | None, name: str) -> None:
        """Show the runs of this flow (its file when saved, else its name)."""
        self.flow_path, self.flow_name = (Path(path).absolute() if path else None), name
        self.refresh()

    def refresh(self) -> None:
        checked = set(self._checked_paths())
        self.records = runs_of_flow(self.flow_path, self.flow_name, self.root)
        oldest_first = sorted(self.records, key=lambda r: r.started)
        self.labels = {r.path: f"#{i}" for i, r in enumerate(oldest_first, 1)}
        self.differ = [k for k in differing_params(self.records)]
        self.table.blockSignals(True)
        self.table.clear()
        for record in self.records:
            item = QTreeWidgetItem(self._row_texts(record))
            item.setData(0, PATH_ROLE, str(record.path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if record.path in checked else Qt.CheckState.Unchecked)
            item.setForeground(2, QColor(theme.color(STATUS_TOKENS.get(record.status, "text"))))
            item.setToolTip(4, "\n".join(f"{k} = {format_value(record.params.get(k, MISSING), 200)}"
                                         for k in self.differ) or "Same params as the other runs")
            item.setToolTip(5, metrics_text(record, 2000))
            item.setToolTip(0, str(record.path))
            self.table.addTopLevelItem(item)
        self.table.blockSignals(False)
        em = self.fontMetrics().height()
        for column in range(5):
            self.table.resizeColumnToContents(column)
        self.table.setColumnWidth(0, max(self.table.columnWidth(0), em * 4))  # the checkbox and "#12"
        self.table.setColumnWidth(4, min(max(self.table.columnWidth(4), em * 8), em * 24))
        where = self.flow_path.name if self.flow_path else (f"“{self.flow_name}” (unsaved)" if self.flow_name else "")
        count = len(self.records)
        self.state.setText(f"{count} run{'s' if count != 1 else ''} of {where}" if where else
                           "Open a flow to see its runs")
        self._sync()

    def _row_texts(self, record: RunRecord) -> list[str]:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started))
        seconds = f"{record.seconds:.1f} s" if record.seconds is not None else "…"
        status = record.status + (f" ({record.attempts} attempts)" if record.attempts > 1 else "")
        changed = ", ".join(f"{k}={format_value(record.params.get(k, MISSING), 24)}" for k in self.differ)
        return [self.labels[record.path], started, status, seconds, changed, metrics_text(record)]

    def row_of(self, path: Path) -> QTreeWidgetItem | None:
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if Path(item.data(0, PATH_ROLE)) == path:
                return item
        return None

    def set_checked(self, paths: list[Path]) -> None:
        wanted = {Path(p) for p in paths}
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            on = Path(item.data(0, PATH_ROLE)) in wanted
            item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _checked_paths(self) -> list[Path]:
        return [Path(self.table.topLevelItem(i).data(0, PATH_ROLE)) for i in range(self.table.topLevelItemCount())
                if self.table.topLevelItem(i).checkState(0) == Qt.CheckState.Checked]

    def _chosen(self) -> list[RunRecord]:
        """The ticked runs, or else the selected rows (oldest first)."""
        paths = self._checked_paths() or [Path(i.data(0, PATH_ROLE)) for i in self.table.selectedItems()]
        chosen = [r for r in self.records if r.path in paths]
        return sorted(chosen, key=lambda r: r.started)

    def _selected(self) -> RunRecord | None:
        items = self.table.selectedItems()
        if items:
            path = Path(items[0].data(0, PATH_ROLE))
            return next((r for r in self.records if r.path == path), None)
        chosen = self._chosen()
        return chosen[0] if len(chosen) == 1 else None

    def _sync(self) -> None:
        chosen = len(self._chosen())
        one = self._selected() is not None
        for key in ("open", "rerun", "fork", "folder"):
            self.buttons[key].setEnabled(one)
        self.buttons["overlay"].setEnabled(chosen >= 2)
        self.buttons["diff"].setEnabled(chosen == 2)

    # -- actions

    def label(self, record: RunRecord) -> str:
        return self.labels.get(record.path, record.path.name)

    def open_selected(self) -> None:
        record = self._selected()
        if record is not None:
            self.open_run(record.path)

    def open_run(self, path: Path) -> None:
        record = next((r for r in self.records if r.path == path), None)
        if record is None:
            return
        self.opened = record
        self.node_log.clear()
        replay(self.run_view, record, f"Run {self.label(record)}")
        self.tabs.setCurrentWidget(self.run_view)

    def show_node_log(self, node_id: str) -> None:
        """The opened run's `nodes/<id>/log.txt` (its last MAX_LOG_BYTES): prints and warnings included."""
        if self.opened is None:
            return
        path = self.opened.path / "nodes" / node_id / "log.txt"
        try:
            with path.open("rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - MAX_LOG_BYTES))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            self.node_log.setPlainText(f"{node_id} left no log file ({path})")
            return
        cut = f" (its last {MAX_LOG_BYTES // 1024} KiB of {size // 1024} KiB)" if size > MAX_LOG_BYTES else ""
        self.node_log.setPlainText(f"{path}{cut}\n\n{text}")

    def overlay_checked(self) -> None:
        self.overlay_runs(self._chosen())

    def overlay_runs(self, runs: list[RunRecord]) -> None:
        labels = [self.label(r) for r in runs]
        self.overlay.show_runs(runs, labels)
        self.tabs.setCurrentWidget(self.overlay)

    def diff_checked(self) -> None:
        chosen = self._chosen()
        if len(chosen) == 2:
            self.diff_runs(chosen[0], chosen[1])

    def diff_runs(self, before: RunRecord, after: RunRecord) -> None:
        self.diff.setPlainText(snapshot_diff.report(before.flow, after.flow, (self.label(before), self.label(after))))
        self.tabs.setCurrentWidget(self.diff)

    def open_folder(self) -> None:
        record = self._selected()
        if record is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(record.path)))

    def _emit_selected(self, signal: Signal) -> None:
        record = self._selected()
        if record is not None:
            signal.emit(record)
