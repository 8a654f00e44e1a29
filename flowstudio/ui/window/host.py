"""What the window's helpers use of the main window: the `WindowHost` protocol (`MainWindow` implements it).

`actions` (menus, toolbar) and `files` (the file commands mixed into the window) are typed against it
instead of importing `MainWindow`, so `main_window` imports them and never the other way round. Only
what they use is listed. `FileCommands` is part of the window itself (a mixin), so it also uses a few
of the window's own private members; they are listed at the end. Action slots are looked up by name
(`ActionSpec.slot`) and are not part of the protocol.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar, QStatusBar, QToolBar

from flowstudio.core.document import FlowDocument
from flowstudio.core.registry import NodeRegistry

from ..canvas.view import CanvasView
from ..controller import DocumentController
from .prompts import Prompts
from .recovery import Autosaver
from .start_page import StartPage


class WindowHost(Protocol):
    """The main window as its actions and file commands see it."""

    registry: NodeRegistry
    controller: DocumentController
    prompts: Prompts
    autosaver: Autosaver
    canvas: CanvasView
    start_page: StartPage
    docks: dict[str, QDockWidget]
    recent_menu: QMenu  # File > Open Recent, created by `actions.build_menus`
    has_flow: bool

    @property
    def doc(self) -> FlowDocument: ...

    def is_dirty(self) -> bool: ...

    def set_document(self, doc: FlowDocument, recovered: bool = False) -> None: ...

    def set_theme(self, name: str) -> None: ...

    def fill_recent_menu(self) -> None: ...

    # -- QMainWindow
    def statusBar(self) -> QStatusBar: ...  # noqa: N802 - Qt's name

    def menuBar(self) -> QMenuBar: ...  # noqa: N802 - Qt's name

    def fontMetrics(self) -> QFontMetrics: ...  # noqa: N802 - Qt's name

    def addToolBar(self, area: Qt.ToolBarArea, toolbar: QToolBar) -> None: ...  # noqa: N802 - Qt's name

    # -- the window's own state, used by the file commands mixed into it
    _recovered: bool  # restored from autosave: unsaved even though the undo stack is clean

    def _empty_document(self) -> FlowDocument: ...

    def _show_start_page(self) -> None: ...

    def _update_title(self) -> None: ...
