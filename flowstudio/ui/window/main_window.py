"""The main window: palette, canvas, inspector, problems and history around one flow document.

The file commands (new, open, save, recovery, ...) are in `files.FileCommands`. Modal
questions go through `self.prompts` (a `Prompts` object) so tests and scripts can answer them
without a dialog blocking.
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QByteArray, QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QStackedWidget, QWidget

from flowstudio.core.document import FlowDocument
from flowstudio.core.flow import Flow
from flowstudio.core.limits import clip
from flowstudio.core.registry import NodeRegistry, default_registry

from .. import theme
from ..canvas import actions as canvas_actions
from ..canvas.view import CanvasView
from ..controller import DocumentController
from ..history.dock import RunHistory
from ..panels.dataset_preview import DatasetPreviewPanel
from ..panels.devices import DevicesPanel
from ..panels.history import HistoryPanel
from ..panels.inspector import Inspector
from ..panels.palette import NodePalette
from ..panels.problems import ProblemsPanel
from ..playground.launcher import Playground
from ..run.bridge import RunBridge
from ..run.panel import RunPanel
from ..run.presenter import RunPresenter
from ..run.seam import Runner, RunSeam
from ..settings import app_settings
from . import actions as act
from .action_search import ActionSearch
from .files import FileCommands
from .prompts import Prompts
from .recent_files import recent_files
from .recovery import Autosaver
from .start_page import StartPage
from .status_bar import StatusBar


class MainWindow(FileCommands, QMainWindow):
    def __init__(self, registry: NodeRegistry | None = None, prompts: Prompts | None = None,
                 autosave_ms: int | None = None, restore_layout: bool = True, fill_after_paint: bool = False) -> None:
        """`fill_after_paint`: the node list and the template cards (which import every node module) are
        filled after the first frame is painted, as the app does when it starts on the start page."""
        super().__init__()
        self.setObjectName("FlowStudioMainWindow")
        self.registry = registry if registry is not None else default_registry()
        self._after_paint: list[Callable[[], None]] | None = [] if fill_after_paint else None
        self.prompts = prompts or Prompts()
        self.has_flow = False
        self._recovered = False  # restored from autosave: unsaved even though the undo stack is clean
        self.controller = DocumentController(self._empty_document(), self)
        self.autosaver = Autosaver(self.controller, autosave_ms, parent=self, dirty=self.is_dirty)

        self.canvas = CanvasView(self.controller, self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.canvas)
        self.start_page = self._make_start_page()
        self.setCentralWidget(self.stack)

        self.palette = NodePalette(self.registry, self, populate=not fill_after_paint)
        self.inspector = Inspector(self.controller, self)
        self.problems = ProblemsPanel(self.controller, parent=self)
        self.history = HistoryPanel(self.controller, self)
        self.run_panel = RunPanel(self)
        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("palette", "Nodes", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("inspector", "Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("problems", "Problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("history", "History", self.history, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("run", "Run", self.run_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["problems"], self.docks["history"])
        self.tabifyDockWidget(self.docks["history"], self.docks["run"])
        self.docks["problems"].raise_()
        self.playground = Playground(self)  # Run → Chat Playground, "Chat with this model"
        self.run_history = RunHistory(self, on_chat=self.playground.chat_with)  # View → Run History
        self.docks["problems"].raise_()  # tabifying Run History raised it; Problems is the first tab shown
        self.canvas.interaction.editors.node_menu_hooks.append(self.playground.extend_node_menu)
        self.run_panel.chatRequested.connect(self.playground.chat_with)
        em = self.fontMetrics().height()

        self.run_seam = RunSeam(self)
        self.actions_ = act.build_actions(self)
        for spec in act.SPECS:
            if spec.canvas:
                self.canvas.addAction(self.actions_[spec.key])
        self.menus = act.build_menus(self, self.actions_)
        self.toolbar = act.build_toolbar(self, self.actions_)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        # the engine: one bridge (its Engine is created on the first run, closed with the window)
        self.run_bridge = RunBridge(registry=self.registry, parent=self)
        self.run_presenter = RunPresenter(self, self.run_bridge, self.run_panel)
        self.run_bridge.runningChanged.connect(self.status.set_running)  # no "ready to run" while running
        self.run_bridge.runningChanged.connect(lambda on: on and self.make_room_for_run())
        self.attach_runner(self.run_presenter)
        self.devices = DevicesPanel(self.run_bridge, parent=self)
        self._add_dock("devices", "Devices", self.devices, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.docks["inspector"], self.docks["devices"])
        self.docks["devices"].visibilityChanged.connect(self.devices.set_shown)
        self.dataset_preview = DatasetPreviewPanel(self.controller, parent=self)
        self._add_dock("dataset_preview", "Dataset", self.dataset_preview, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.docks["inspector"], self.docks["dataset_preview"])
        self.canvas.selectionChanged.connect(self.dataset_preview.show_selection)
        self.docks["inspector"].raise_()
        self.run_history.connect_runs(self.run_bridge)
        # tabbed docks share one area whose minimum is the largest of theirs: keep the window shrinkable
        for key in ("run_history", "devices", "dataset_preview"):
            self.docks[key].widget().setMinimumSize(160, 90)

        self._connect()
        self.setAcceptDrops(True)
        self.resize(em * 90, em * 56)
        self._layout_restored = restore_layout and self._restore_layout()
        self._show_start_page()
        if fill_after_paint:
            self.when_painted(self.palette.rebuild)
            self.when_painted(self.start_page.templates.populate)
            self._first_paint = _FirstPaint(self)
            self.installEventFilter(self._first_paint)

    def when_painted(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the window's first frame is on screen (at once when it already is)."""
        if self._after_paint is None:
            QTimer.singleShot(0, callback)
        else:
            self._after_paint.append(callback)

    def _painted(self) -> None:
        callbacks, self._after_paint = self._after_paint or [], None
        self.removeEventFilter(self._first_paint)
        for callback in callbacks:
            callback()

    # -- construction

    def _empty_document(self) -> FlowDocument:
        return FlowDocument(Flow(name="Untitled"), None, self.registry)

    def _add_dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock

    def _connect(self) -> None:
        self.palette.nodeRequested.connect(self.add_node_at_center)
        self.inspector.editingFinished.connect(self.canvas.setFocus)
        self.inspector.nodeLinkActivated.connect(self.go_to_node)
        self.canvas.selectionChanged.connect(self.inspector.show_selection)
        self.canvas.nodeActivated.connect(self._node_activated)
        self.canvas.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.problems.problemActivated.connect(self.show_problem)
        self.problems.problemsChanged.connect(self.inspector.set_problems)
        self.problems.problemsChanged.connect(self._update_status)
        self.problems.problemsChanged.connect(self._mark_problem_nodes)
        self.controller.changed.connect(lambda _c: self._update_title())
        self.controller.undo_stack.cleanChanged.connect(lambda _c: self._dirty_changed())
        self.autosaver.saved.connect(self.status.backed_up)
        self.autosaver.discarded.connect(lambda: self.status.backed_up(None))

    def _make_start_page(self) -> StartPage:
        page = StartPage(self.registry, self, populate=self._after_paint is None)
        page.newRequested.connect(self.new_flow)
        page.openRequested.connect(self.open_flow)
        page.templateChosen.connect(self.open_template)
        page.recentChosen.connect(self.open_path)
        page.set_recent(recent_files())
        self.stack.insertWidget(0, page)
        return page

    # -- state

    @property
    def doc(self) -> FlowDocument:
        return self.controller.doc

    def is_dirty(self) -> bool:
        """Unsaved changes: edits since the last save, or a flow restored from autosave."""
        return self.has_flow and (self._recovered or not self.controller.undo_stack.isClean())

    def _dirty_changed(self) -> None:
        if not shiboken6.isValid(self.controller.undo_stack):  # the stack emits while it is destroyed
            return
        self.autosaver.changed()
        self._update_title()

    def _update_title(self) -> None:
        if not self.has_flow:
            self.setWindowTitle("FlowStudio")
            self.setWindowModified(False)
            return
        name = self.doc.path.name if self.doc.path else f"{clip(self.doc.flow.name, 80) or 'Untitled'} (unsaved)"
        self.setWindowTitle(f"{name}[*] — FlowStudio")
        self.setWindowModified(self.is_dirty())
        self.actions_["revert"].setEnabled(self.doc.path is not None and self.is_dirty())

    def _update_status(self, problems: list) -> None:
        self.status.show_flow(self.doc.flow if self.has_flow else None, problems)

    def _mark_problem_nodes(self, problems: list) -> None:
        """The canvas marks each node that has a problem (its messages in the node's tooltip)."""
        by_node: dict[str, list[str]] = {}
        for problem in problems:
            if problem.node_id is not None:
                where = f"{problem.field}: " if problem.field else ""
                by_node.setdefault(problem.node_id, []).append(where + problem.message)
        self.canvas.set_node_problems(by_node)

    def _show_start_page(self) -> None:
        self.has_flow = False
        self.start_page.set_recent(recent_files())
        self.stack.setCurrentWidget(self.start_page)
        self.inspector.show_nothing()
        self.problems.clear()
        for key in ("save", "save_as", "revert", "close_flow", "auto_layout", "frame_all", "validate", "quick_add"):
            self.actions_[key].setEnabled(False)
        self.run_seam.refresh()
        self._update_title()

    def _show_canvas(self) -> None:
        self.has_flow = True
        self.stack.setCurrentWidget(self.canvas)
        for key in ("save", "save_as", "close_flow", "auto_layout", "frame_all", "validate", "quick_add"):
            self.actions_[key].setEnabled(True)
        self.run_seam.refresh()
        self.canvas.setFocus()
        self._update_title()

    def set_document(self, doc: FlowDocument, recovered: bool = False) -> None:
        """Show `doc` (a fresh undo history); the previous one must already be saved or given up."""
        self.autosaver.discard()
        self._recovered = recovered
        self.canvas.select_nodes([])  # the old selection goes with the old document
        self.controller.set_document(doc)
        self.controller.undo_stack.setClean()
        self._show_canvas()
        self.problems.refresh()
        QTimer.singleShot(0, self.canvas.frame_all)
        if recovered:
            self.autosaver.changed()

    # -- edits that start in the window

    def add_node_at_center(self, type_id: str) -> str | None:
        if not self.has_flow:
            self.new_flow()
            if not self.has_flow:
                return None
        centre = self.canvas.viewport_center_scene()
        node_id = self.canvas.add_node(type_id, QPointF(*_snap(centre - QPointF(90, 30))))
        self.canvas.setFocus()
        return node_id

    def show_problem(self, node_id: str | None, field: str | None) -> None:
        """Select the problem's node and put the cursor in its field."""
        if node_id is None or self.doc.flow.node(node_id) is None:
            return
        self.canvas.select_nodes([node_id])
        self.inspector.show_selection([node_id])
        self.docks["inspector"].show()
        self.docks["inspector"].raise_()
        self.inspector.focus_field(field)

    def go_to_node(self, node_id: str) -> None:
        """Select a node and bring it into view (links in the inspector)."""
        if self.doc.flow.node(node_id) is not None:
            self.canvas.select_nodes([node_id])
            self.canvas.frame_selection()

    def _node_activated(self, node_id: str) -> None:
        self.docks["inspector"].raise_()
        self.inspector.show_selection([node_id])
        first = next(iter(self.inspector.field_names()), None)
        if first:
            self.inspector.focus_field(first)

    # -- action slots (canvas verbs go straight to the canvas, see actions.py)

    def quick_add(self) -> None:
        self.canvas.setFocus()
        self.canvas.open_quick_add()

    def paste_with_connections(self) -> None:
        """Edit → Paste with Connections (Ctrl+Shift+V): also rewire the inputs from outside the copy."""
        canvas_actions.paste(self.canvas, connections=True)

    @property
    def run_device(self) -> str:
        """The device the next run gets (RunOptions.device), chosen in the Devices panel."""
        return self.devices.device()

    def toggle_bypass(self) -> None:
        canvas_actions.toggle_bypass(self.canvas)

    def rename_node(self) -> None:
        if self.inspector.node_id:
            self.docks["inspector"].raise_()
            self.inspector.title_edit.setFocus()
            self.inspector.title_edit.selectAll()

    def focus_palette(self) -> None:
        self.docks["palette"].show()
        self.docks["palette"].raise_()
        self.palette.focus_search()

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def set_theme(self, name: str) -> None:
        theme.apply_theme(name, remember=True)  # type: ignore[arg-type]
        self.actions_[f"theme_{name}"].setChecked(True)
        act.refresh_icons(self.actions_)
        self.palette.refresh_icons()
        self.history.refresh_icons()
        showing_start = self.stack.currentWidget() is self.start_page
        old, self.start_page = self.start_page, self._make_start_page()  # re-tinted icons
        if showing_start:
            self.stack.setCurrentWidget(self.start_page)
        self.stack.removeWidget(old)
        old.deleteLater()
        if self.has_flow:
            self.problems.refresh()
            self.inspector.rebuild()

    # -- run (run/presenter.py drives the engine through run/bridge.py)

    def attach_runner(self, runner: Runner) -> None:
        """Replace what Run / Stop call (see run/seam.py); the window attaches its RunPresenter itself."""
        self.run_seam.attach(runner)

    def set_running(self, running: bool) -> None:
        self.run_seam.set_running(running)

    def validate_now(self) -> None:
        self.problems.refresh()
        self.docks["problems"].show()
        self.docks["problems"].raise_()

    # -- help

    def show_action_search(self) -> ActionSearch:
        """Find Action: every command by name (not modal-blocking: tests type into it)."""
        actions = [a for key, a in self.actions_.items() if key != "find_action"]
        search = ActionSearch(actions, self)
        search.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        search.show()
        search.search.setFocus()
        return search

    def show_shortcuts(self) -> None:
        self.prompts.show_shortcuts(self, act.shortcut_rows(self.actions_))

    def show_serve_dialog(self) -> None:
        """Run → Serve: the saved flow (when it has an io.text input and an io.output) or a model."""
        from .serve_dialog import ServeDialog

        flow_path, allow_code = None, False
        if self.has_flow and self.doc.path is not None and not self.is_dirty():
            types = {self.registry.resolve_id(n.type) for n in self.doc.flow.nodes}
            if {"io.text", "io.output"} <= types:
                flow_path = self.doc.path
                risks = [r for n in self.doc.flow.nodes if (cls := self.registry.find(n.type))
                         and (r := cls.code_risk(n.params))]
                allow_code = bool(risks) and self.prompts.confirm(
                    self, "Serve code from this flow?", "Serving this flow runs code FlowStudio did not write ("
                    + "; ".join(risks) + "). Allow it only if you trust where the file came from.", "Allow")
        self.serve_dialog = ServeDialog(self, flow_path, allow_code)
        self.serve_dialog.show()

    def _export_view_args(self) -> tuple:
        """The open flow, its directory and the selected node (one), for the export views."""
        from pathlib import Path

        flow_dir = self.doc.path.parent if self.doc.path is not None else Path.cwd()
        selected = self.canvas.selected_node_ids()
        return self.doc.flow, flow_dir, (selected[0] if len(selected) == 1 else None)

    def show_export_dialog(self) -> None:
        """File → Export…: the open flow to a standalone script (flowstudio export)."""
        from .export_dialog import ExportDialog

        flow, flow_dir, node_id = self._export_view_args()
        self.export_dialog = ExportDialog(self, flow, flow_dir, node_id, self.registry)
        self.export_dialog.show()

    def show_script_preview(self) -> None:
        """File → Preview Script: the script of the open flow, or of the selected node."""
        from .export_dialog import PreviewDialog

        flow, flow_dir, node_id = self._export_view_args()
        self.script_preview = PreviewDialog(self, flow, flow_dir, node_id, self.registry)
        self.script_preview.show()

    def show_about(self) -> None:
        from flowstudio import __version__

        self.prompts.info(self, "About FlowStudio",
                          f"<b>FlowStudio {__version__}</b><p>Build, run and export language-model flows "
                          "offline: wire nodes on the canvas, run them locally, export a script.</p>")

    # -- window state

    def _restore_layout(self) -> bool:
        settings = app_settings()
        geometry = settings.value("window/geometry")
        state = settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        return isinstance(state, QByteArray) and self.restoreState(state)

    def default_layout(self) -> None:
        """Dock sizes in font units, so they suit any screen scale."""
        em = self.fontMetrics().height()
        self.resizeDocks([self.docks["palette"], self.docks["inspector"]], [em * 14, em * 24],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["problems"]], [em * 12], Qt.Orientation.Vertical)

    def make_room_for_run(self) -> None:
        """A run starts: the Run panel gets at least ~45% of the window's height, so its plots can be read
        (it is never shrunk, and a floating panel keeps its size)."""
        dock = self.docks["run"]
        target = max(self.fontMetrics().height() * 18, round(self.height() * 0.45))
        if not dock.isFloating() and dock.height() < target:
            self.resizeDocks([dock], [target], Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        """View > Reset Panel Layout: every panel back in its place, shown and docked."""
        areas = {"palette": Qt.DockWidgetArea.LeftDockWidgetArea, "inspector": Qt.DockWidgetArea.RightDockWidgetArea,
                 "problems": Qt.DockWidgetArea.BottomDockWidgetArea, "history": Qt.DockWidgetArea.BottomDockWidgetArea,
                 "run": Qt.DockWidgetArea.BottomDockWidgetArea}
        for key, area in areas.items():
            dock = self.docks[key]
            dock.setFloating(False)
            self.addDockWidget(area, dock)
            dock.show()
        self.tabifyDockWidget(self.docks["problems"], self.docks["history"])
        self.tabifyDockWidget(self.docks["history"], self.docks["run"])
        if "run_history" in self.docks:  # tabbed with the Run panel
            self.docks["run_history"].setFloating(False)
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.docks["run_history"])
            self.tabifyDockWidget(self.docks["run"], self.docks["run_history"])
        self.docks["problems"].raise_()
        for key in ("devices", "dataset_preview"):  # tabbed with the inspector
            if key in self.docks:
                self.docks[key].setFloating(False)
                self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.docks[key])
                self.tabifyDockWidget(self.docks["inspector"], self.docks[key])
        self.docks["inspector"].raise_()
        self.toolbar.show()
        self.default_layout()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._layout_restored:
            self._layout_restored = True
            self.default_layout()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.run_bridge.running and not self.prompts.confirm(
                self, "Stop the run?", "A flow is running. Closing FlowStudio stops it.", "Stop and Close"):
            event.ignore()
            return
        if not self.maybe_save():
            event.ignore()
            return
        self.run_bridge.shutdown()  # stops the run, closes the worker processes
        self.playground.shutdown()  # stops the playground's model servers
        self.autosaver.discard()
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        event.accept()


def _snap(point: QPointF, grid: float = 20.0) -> tuple[float, float]:
    return (round(point.x() / grid) * grid, round(point.y() / grid) * grid)


class _FirstPaint(QObject):
    """Calls the window's `_painted` after its first Paint event has been handled (a zero timer runs once
    that frame has been flushed)."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint and isinstance(obj, MainWindow) and obj._after_paint is not None:
            QTimer.singleShot(0, obj._painted)
        return False
