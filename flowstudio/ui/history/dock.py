"""The Run History dock in the main window: it follows the open flow, refreshes after each run, and
turns the panel's Re-run / Fork / Chat requests into window commands.

The window is seen through `HistoryHost`, so this package never imports the window package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QWidget

from flowstudio.core.document import FlowDocument
from flowstudio.core.flow import Flow
from flowstudio.core.registry import NodeRegistry

from .records import RunRecord

if TYPE_CHECKING:  # the panel (its plots, diff, replay) is built when the dock is first shown
    from .panel import RunHistoryPanel

DOCK_KEY = "run_history"


class HistoryHost(Protocol):
    registry: NodeRegistry
    docks: dict[str, QDockWidget]
    has_flow: bool
    controller: Any  # DocumentController: its documentReplaced signal
    run_presenter: Any  # RunPresenter: run(doc, targets)

    @property
    def doc(self) -> FlowDocument: ...

    def maybe_save(self) -> bool: ...

    def set_document(self, doc: FlowDocument, recovered: bool = False) -> None: ...

    def addDockWidget(self, area: Qt.DockWidgetArea, dock: QDockWidget) -> None: ...  # noqa: N802 - Qt's name

    def tabifyDockWidget(self, first: QDockWidget, second: QDockWidget) -> None: ...  # noqa: N802 - Qt's name


class RunHistory(QObject):
    """Owns the panel and its dock (`window.docks["run_history"]`). The panel is built the first time the
    dock is shown (or `panel` is read), not with the window: the first frame never shows it."""

    def __init__(self, window: HistoryHost, on_chat: Any = None) -> None:
        super().__init__(window if isinstance(window, QObject) else None)
        self.window = window
        self.on_chat = on_chat
        self._panel: RunHistoryPanel | None = None
        dock = QDockWidget("Run History", window if isinstance(window, QWidget) else None)
        dock.setObjectName(f"dock_{DOCK_KEY}")
        dock.setWidget(QWidget(dock))
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        if "run" in window.docks:
            window.tabifyDockWidget(window.docks["run"], dock)
        window.docks[DOCK_KEY] = dock
        self.dock = dock
        dock.visibilityChanged.connect(lambda shown: shown and self.follow_document())
        window.controller.documentReplaced.connect(self._follow_if_built)

    @property
    def panel(self) -> RunHistoryPanel:
        if self._panel is None:
            from .panel import RunHistoryPanel

            window = self.window
            panel = RunHistoryPanel(window if isinstance(window, QWidget) else None)
            panel.setMinimumSize(self.dock.widget().minimumSize())
            panel.rerunRequested.connect(self.rerun)
            panel.forkRequested.connect(self.fork)
            if self.on_chat is not None:
                panel.chatRequested.connect(self.on_chat)
                panel.run_view.chatRequested.connect(self.on_chat)
            self._panel = panel
            self.dock.setWidget(panel)
        return self._panel

    def _follow_if_built(self) -> None:
        if self._panel is not None:  # a panel never built is filled when it is first shown
            self.follow_document()

    def connect_runs(self, bridge: Any) -> None:
        """Refresh when a run of the window's engine ends (the bridge's `runFinished`)."""
        bridge.runFinished.connect(lambda _result: self._follow_if_built())

    def show(self) -> None:
        """View → Run History."""
        self.dock.show()
        self.dock.raise_()
        self.follow_document()

    def follow_document(self) -> None:
        window = self.window
        if window.has_flow:
            self.panel.set_flow(window.doc.path, window.doc.flow.name)
        else:
            self.panel.set_flow(None, "")

    def snapshot(self, record: RunRecord) -> Flow | None:
        """The run's flow.json as a flow (None, with a message in the panel, when it is not a valid flow)."""
        try:
            return Flow.model_validate(record.flow)
        except ValueError as err:  # pydantic's ValidationError
            first = str(err).splitlines()[:3]
            self.panel.state.setText(f"Run {self.panel.label(record)}: its flow.json is not a valid flow ("
                                     + " ".join(first) + ")")
            return None

    def rerun(self, record: RunRecord) -> None:
        """Run the snapshot again as it was (a new run of this flow); the open document is not touched."""
        window = self.window
        if not window.has_flow:
            return
        flow = self.snapshot(record)
        if flow is not None:
            window.run_presenter.run(FlowDocument(flow, window.doc.path, window.registry), None)

    def fork(self, record: RunRecord) -> None:
        """Open the snapshot as a new, unsaved flow."""
        window = self.window
        flow = self.snapshot(record)
        if flow is None or not window.maybe_save():
            return
        flow.name = f"{flow.name} (from run {self.panel.label(record)})"
        window.set_document(FlowDocument(flow, None, window.registry))
