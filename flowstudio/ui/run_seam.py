"""The seam between the window and the engine: Run, Run to Selected and Stop.

The UI never executes a node itself. Wiring runs into the app is a later issue: its bridge object
implements `Runner` (start a run without blocking, stop it), is attached with
`MainWindow.attach_runner`, reports progress with `MainWindow.set_running` and
`canvas.set_node_status(node_id, status)`. Until then the Run actions stay disabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from flowstudio.core.document import FlowDocument

    from .main_window import MainWindow


class Runner(Protocol):
    def run(self, doc: FlowDocument, targets: list[str] | None) -> None:
        """Start a run of the flow (or only of what `targets` need); return at once."""

    def stop(self) -> None:
        """Stop the current run (training nodes save a checkpoint)."""


class RunSeam:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.runner: Runner | None = None
        self.running = False

    def attach(self, runner: Runner) -> None:
        self.runner = runner
        self.set_running(False)

    def set_running(self, running: bool) -> None:
        """Run actions while idle, Stop while a run is going."""
        self.running = running
        actions = self.window.actions_
        attached = self.runner is not None
        actions["run"].setEnabled(attached and not running)
        actions["run_selected"].setEnabled(attached and not running)
        actions["stop"].setEnabled(attached and running)

    def run_flow(self) -> None:
        if self.runner is not None and self.window.has_flow:
            self.runner.run(self.window.doc, None)

    def run_selected(self) -> None:
        if self.runner is not None and self.window.has_flow:
            self.runner.run(self.window.doc, self.window.canvas.selected_node_ids())

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
