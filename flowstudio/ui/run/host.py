"""What the run package uses of the window: the `RunHost` protocol (`MainWindow` implements it).

`RunSeam` and `RunPresenter` are typed against it instead of importing the main window, so the
window imports the run package and never the other way round. Only what they use is listed; the
window's prompts and status bar are seen through the two one-method protocols below.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QWidget

from flowstudio.core.document import FlowDocument

from ..canvas.view import CanvasView


class RunPrompts(Protocol):
    """The window's questions (`Prompts`): the presenter asks before running code from the flow file
    and before a run replaces existing files, and whether Run on a stopped run resumes it."""

    def confirm(self, parent: QWidget, title: str, text: str, action: str) -> bool: ...

    def resume_run(self, parent: QWidget, text: str) -> str:
        """Returns "resume", "restart" or "cancel"."""
        ...


class RunStatus(Protocol):
    """The window's status bar (`StatusBar`): where the run's progress is told."""

    def show_run(self, text: str) -> None: ...


class RunHost(Protocol):
    """The main window as the Run seam and the run presenter see it."""

    actions_: dict[str, QAction]  # Run, Run to Selected, Stop and Resume are enabled from here
    docks: dict[str, QDockWidget]  # the "run" dock is shown when a run starts
    has_flow: bool
    canvas: CanvasView

    @property
    def doc(self) -> FlowDocument: ...

    @property
    def prompts(self) -> RunPrompts: ...

    @property
    def status(self) -> RunStatus: ...

    def set_running(self, running: bool) -> None: ...

    def go_to_node(self, node_id: str) -> None: ...

    def validate_now(self) -> None: ...
