"""The seam between the window and the engine: Run, Run to Selected, Stop and Resume.

The UI never executes a node itself. The window attaches its `RunPresenter` (presenter.py,
which drives the engine through bridge.py) as the `Runner`; tests may attach another. The
runner reports with `MainWindow.set_running`. Run is enabled while a flow is open and no run goes;
Resume too, when the runner says the open flow's last run can be resumed (`can_resume`; a runner
without it never resumes).
The window is seen through the `RunHost` protocol (host.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from flowstudio.core.document import FlowDocument

    from .host import RunHost


class Runner(Protocol):
    def run(self, doc: FlowDocument, targets: list[str] | None) -> None:
        """Start a run of the flow (or only of what `targets` need); return at once."""

    def stop(self) -> None:
        """Stop the current run (training nodes save a checkpoint)."""


class ResumingRunner(Runner, Protocol):
    def can_resume(self, doc: FlowDocument) -> bool:
        """Whether `doc`'s last run (this session) was stopped or failed and its run directory is still there."""

    def resume(self, doc: FlowDocument) -> None:
        """Continue that run from its checkpoints with the current flow; return at once."""


class RunSeam:
    def __init__(self, window: RunHost) -> None:
        self.window = window
        self.runner: Runner | None = None
        self.running = False

    def attach(self, runner: Runner) -> None:
        self.runner = runner
        self.set_running(False)

    def set_running(self, running: bool) -> None:
        """Run actions while idle (with a flow open), Stop while a run is going."""
        self.running = running
        self.refresh()

    def refresh(self) -> None:
        actions = self.window.actions_
        attached = self.runner is not None
        can_run = attached and self.window.has_flow and not self.running
        actions["run"].setEnabled(can_run)
        actions["run_selected"].setEnabled(can_run)
        actions["stop"].setEnabled(attached and self.running)
        can_resume = getattr(self.runner, "can_resume", None)
        actions["resume"].setEnabled(bool(can_run and can_resume is not None and can_resume(self.window.doc)))

    def run_flow(self) -> None:
        if self.runner is not None and self.window.has_flow:
            self.runner.run(self.window.doc, None)

    def run_selected(self) -> None:
        if self.runner is not None and self.window.has_flow:
            self.runner.run(self.window.doc, self.window.canvas.selected_node_ids())

    def resume(self) -> None:
        resume = getattr(self.runner, "resume", None)
        if resume is not None and self.window.has_flow and not self.running:
            resume(self.window.doc)

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
