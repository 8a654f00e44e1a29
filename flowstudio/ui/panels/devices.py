"""The Devices panel: each GPU's memory and utilisation, which node runs where, the run's device, Free memory.

GPUs are read with `flowstudio.engine.gpu_usage` (NVML, else nvidia-smi; never torch) in a background
thread every few seconds while the panel is shown; with no driver it says "CPU only". Which node runs
where comes from the engine's `node_started` events. The device choice (auto / CPU / a GPU set) is what
the next run gets as `RunOptions.device`, like `flowstudio run --device`. Free memory closes the engine's
idle worker processes, which unloads every model they keep warm (`Engine.free_memory`).
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from flowstudio.engine.events import (
    Event,
    NodeCached,
    NodeCancelled,
    NodeFailed,
    NodeFinished,
    NodeSkipped,
    NodeStarted,
    RunStarted,
)
from flowstudio.engine.gpu_usage import GpuUsage, UsageReport, read_gpu_usage

CHOICES = (("auto", "Auto (GPUs when there are)"), ("cpu", "CPU only"), ("gpus", "These GPUs:"))
_ENDED = {NodeFinished: "done", NodeCached: "cached", NodeFailed: "failed", NodeCancelled: "cancelled",
          NodeSkipped: "skipped"}


class _Reports(QObject):
    """Carries results from background threads to the GUI thread (queued signal delivery)."""

    usage = Signal(object)  # UsageReport
    freed = Signal(int, str)  # workers closed, error text ("" when none)


def describe_gpu(gpu: GpuUsage) -> list[str]:
    """The panel's row for one GPU: index, name, memory in use, utilisation."""
    pct = f" ({gpu.memory_fraction:.0%})" if gpu.memory_total_mb else ""
    memory = f"{gpu.memory_used_mb:,} / {gpu.memory_total_mb:,} MiB{pct}"
    util = "n/a" if gpu.utilization_pct is None else f"{gpu.utilization_pct}%"
    return [str(gpu.index), gpu.name, memory, util]


def where(event: NodeStarted) -> str:
    """'GPU 0,1', 'CPU (worker 1234)' or 'CPU (in the app's engine)'."""
    if event.cuda_visible_devices:
        return f"GPU {event.cuda_visible_devices}" + (f" (worker {event.worker_pid})" if event.worker_pid else "")
    if event.worker_pid is not None:
        return f"CPU (worker {event.worker_pid})"
    return "CPU (in the engine)"


class DevicesPanel(QWidget):
    deviceChanged = Signal(str)  # noqa: N815 - the RunOptions.device the next run gets

    def __init__(self, bridge: Any = None, poll_ms: int = 3000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.report: UsageReport | None = None
        self._polling = False
        self._reports = _Reports(self)
        self._reports.usage.connect(self.show_report)
        self._reports.freed.connect(self._freed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.summary = QLabel("Looking for GPUs…", self)
        self.summary.setObjectName("DevicesSummary")
        self.summary.setWordWrap(True)
        self.gpus = QTreeWidget(self)
        self.gpus.setHeaderLabels(["GPU", "Name", "Memory in use", "Utilisation"])
        self.gpus.setRootIsDecorated(False)
        self.gpus.setMaximumHeight(140)
        choice_row = QHBoxLayout()
        choice_row.addWidget(QLabel("Run on:", self))
        self.choice = QComboBox(self)
        for key, text in CHOICES:
            self.choice.addItem(text, key)
        self.choice.setToolTip("The device for the next run, as `flowstudio run --device` (auto, cpu, cuda:0,1)")
        choice_row.addWidget(self.choice, 1)
        self.gpu_set = QListWidget(self)
        self.gpu_set.setMaximumHeight(80)
        self.gpu_set.setToolTip("The GPUs the next run may use")
        self.nodes = QTreeWidget(self)
        self.nodes.setHeaderLabels(["Node", "Runs on", "State"])
        self.nodes.setRootIsDecorated(False)
        free_row = QHBoxLayout()
        self.free_button = QPushButton("Free memory", self)
        self.free_button.setToolTip("Close the idle worker processes: every model they keep loaded is unloaded "
                                    "(the next run loads it again)")
        self.free_status = QLabel("", self)
        self.free_status.setWordWrap(True)
        free_row.addWidget(self.free_button)
        free_row.addWidget(self.free_status, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.gpus)
        layout.addLayout(choice_row)
        layout.addWidget(self.gpu_set)
        layout.addWidget(QLabel("Nodes in the current run:", self))
        layout.addWidget(self.nodes, 1)
        layout.addLayout(free_row)
        self.choice.currentIndexChanged.connect(self._choice_changed)
        self.gpu_set.itemChanged.connect(lambda _item: self.deviceChanged.emit(self.device()))
        self.free_button.clicked.connect(self.free_memory)
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.poll)
        if bridge is not None:
            bridge.event.connect(self.on_event)
        self._choice_changed()

    # -- GPUs

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        # A dock tab behind another counts as visible but has nothing on screen: poll only when the panel can
        # be seen (the window also calls `set_shown` when its tab is raised). The first read imports NVML.
        QTimer.singleShot(0, lambda: self.set_shown(self.on_screen()))

    def on_screen(self) -> bool:
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def set_shown(self, shown: bool) -> None:
        """Poll every `poll_ms` while the panel is on screen, not while its tab is behind another."""
        if shown and not self.timer.isActive():
            self.poll()
            self.timer.start()
        elif not shown:
            self.timer.stop()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self.timer.stop()
        super().hideEvent(event)

    def poll(self) -> None:
        """Read the GPUs in a background thread (a hung driver must not freeze the window)."""
        if self._polling:
            return
        self._polling = True
        threading.Thread(target=self._poll_thread, name="flowstudio-gpu-poll", daemon=True).start()

    def _poll_thread(self) -> None:
        try:
            report = read_gpu_usage()
        except Exception as exc:  # noqa: BLE001 - a broken driver is reported, never raised in a thread
            report = UsageReport((), "none", f"{type(exc).__name__}: {exc}")
        self._reports.usage.emit(report)

    def show_report(self, report: UsageReport) -> None:
        self._polling = False
        first = self.report is None or [g.index for g in self.report.gpus] != [g.index for g in report.gpus]
        self.report = report
        self.gpus.clear()
        for gpu in report.gpus:
            self.gpus.addTopLevelItem(QTreeWidgetItem(describe_gpu(gpu)))
        if report.gpus:
            n = len(report.gpus)
            self.summary.setText(f"{n} GPU{'s' if n != 1 else ''} (read through {report.source})")
        else:
            self.summary.setText("CPU only: no NVIDIA GPU was found" + (f" ({report.note})" if report.note else ""))
            self.summary.setToolTip(report.note)
        self.gpus.setVisible(bool(report.gpus))
        if first:
            self._fill_gpu_set(report.gpus)

    def _fill_gpu_set(self, gpus: tuple[GpuUsage, ...]) -> None:
        self.gpu_set.blockSignals(True)
        self.gpu_set.clear()
        for gpu in gpus:
            item = QListWidgetItem(f"GPU {gpu.index}: {gpu.name}")
            item.setData(Qt.ItemDataRole.UserRole, gpu.index)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.gpu_set.addItem(item)
        self.gpu_set.blockSignals(False)
        gpus_row = self.choice.model().item(self.choice.findData("gpus"))
        gpus_row.setEnabled(bool(gpus))
        if not gpus and self.choice.currentData() == "gpus":
            self.choice.setCurrentIndex(self.choice.findData("auto"))
        self._choice_changed()

    # -- the device choice

    def _choice_changed(self) -> None:
        self.gpu_set.setVisible(self.choice.currentData() == "gpus" and self.gpu_set.count() > 0)
        self.deviceChanged.emit(self.device())

    def device(self) -> str:
        """The next run's `RunOptions.device`: auto, cpu, or cuda:i,j for the checked GPUs."""
        key = self.choice.currentData()
        if key != "gpus":
            return key
        chosen = [self.gpu_set.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.gpu_set.count())
                  if self.gpu_set.item(i).checkState() == Qt.CheckState.Checked]
        return "cuda:" + ",".join(str(i) for i in chosen) if chosen else "cpu"

    def set_device(self, device: str) -> None:
        """Choose `device` (auto, cpu, cuda, cuda:0,2) in the panel."""
        device = device.strip().lower()
        if device in ("auto", "cpu"):
            self.choice.setCurrentIndex(self.choice.findData(device))
            return
        wanted = None if device == "cuda" else {int(i) for i in device.removeprefix("cuda:").split(",")}
        self.gpu_set.blockSignals(True)
        for i in range(self.gpu_set.count()):
            item = self.gpu_set.item(i)
            on = wanted is None or item.data(Qt.ItemDataRole.UserRole) in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.gpu_set.blockSignals(False)
        self.choice.setCurrentIndex(self.choice.findData("gpus"))
        self._choice_changed()

    # -- which node runs where

    def on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.nodes.clear()
        elif isinstance(event, NodeStarted):
            self._node_row(event.node).setText(1, where(event))
            self._node_row(event.node).setText(2, "running")
        elif type(event) in _ENDED:
            row = self._node_row(getattr(event, "node", ""))
            if not row.text(1):  # it never started: served from the cache, or skipped
                row.setText(1, "—")
            row.setText(2, _ENDED[type(event)])

    def _find_row(self, node_id: str) -> QTreeWidgetItem | None:
        for i in range(self.nodes.topLevelItemCount()):
            if self.nodes.topLevelItem(i).text(0) == node_id:
                return self.nodes.topLevelItem(i)
        return None

    def _node_row(self, node_id: str) -> QTreeWidgetItem:
        row = self._find_row(node_id)
        if row is None:
            row = QTreeWidgetItem([node_id, "", ""])
            self.nodes.addTopLevelItem(row)
        return row

    def rows(self) -> list[tuple[str, str, str]]:
        return [tuple(self.nodes.topLevelItem(i).text(c) for c in range(3))  # type: ignore[misc]
                for i in range(self.nodes.topLevelItemCount())]

    # -- free memory

    def free_memory(self) -> None:
        """Close the engine's idle workers in a background thread (closing waits for them to exit)."""
        engine = getattr(self.bridge, "engine", None)
        if engine is None:
            self.free_status.setText("Nothing is loaded: no run has started a worker yet")
            return
        if getattr(self.bridge, "running", False):
            self.free_status.setText("A run is in progress: free memory when it has ended")
            return
        self.free_button.setEnabled(False)
        self.free_status.setText("Freeing…")

        def work() -> None:
            try:
                self._reports.freed.emit(engine.free_memory(), "")
            except Exception as exc:  # noqa: BLE001 - shown in the panel
                self._reports.freed.emit(0, str(exc))

        threading.Thread(target=work, name="flowstudio-free-memory", daemon=True).start()

    def _freed(self, closed: int, error: str) -> None:
        self.free_button.setEnabled(True)
        if error:
            self.free_status.setText(f"Not freed: {error}")
        elif closed:
            self.free_status.setText(f"Closed {closed} worker process{'es' if closed != 1 else ''}: the models "
                                     "they held are unloaded")
        else:
            self.free_status.setText("Nothing to free: no worker holds a model")
        self.poll()
