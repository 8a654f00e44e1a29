"""Runs from the window: the `Runner` behind Run / Run to Selected / Stop, and the live feedback.

It validates before anything starts (errors: the Problems panel instead of a run), asks before
running code from the flow file and before replacing existing files (`Node.overwrites`), snapshots
the document's flow, and hands it to the `RunBridge`.
The bridge's signals become node badges on the canvas, the Run panel's table, log and plot, and the
status bar's progress. Runs never touch the document: a run works on its own copy.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from flowstudio.core.document import FlowDocument
from flowstudio.engine import RunOptions, RunResult
from flowstudio.engine.events import (
    Event,
    NodeCached,
    NodeCancelled,
    NodeFailed,
    NodeFinished,
    NodeProgress,
    NodeQueued,
    NodeSkipped,
    NodeStarted,
    RunStarted,
)

from .bridge import RunBridge
from .host import RunHost
from .panel import RunPanel

BADGES: dict[type[Event], str] = {
    NodeQueued: "queued", NodeStarted: "running", NodeFinished: "done", NodeCached: "cached",
    NodeFailed: "failed", NodeCancelled: "cancelled", NodeSkipped: "skipped",
}


class RunPresenter(QObject):
    def __init__(self, window: RunHost, bridge: RunBridge, panel: RunPanel) -> None:
        super().__init__(window)
        self.window = window
        self.bridge = bridge
        self.panel = panel
        self.result: RunResult | None = None  # the last run's
        self._badged: set[str] = set()
        self._run_doc: FlowDocument | None = None  # badges belong to this document's canvas
        bridge.event.connect(self._on_event)
        bridge.runFinished.connect(self._finished)
        bridge.runFailed.connect(self._failed)
        bridge.runningChanged.connect(window.set_running)
        panel.nodeActivated.connect(window.go_to_node)
        window.canvas.selectionChanged.connect(self._selection_changed)

    # -- Runner

    def run(self, doc: FlowDocument, targets: list[str] | None) -> None:
        if self.bridge.running:
            return
        errors = [p for p in doc.validate() if p.severity == "error"]
        if errors:
            self.window.validate_now()
            self._say(f"Not started: {len(errors)} problem{'s' if len(errors) != 1 else ''} to fix first")
            return
        until = None
        if targets is not None:
            if len(targets) != 1:
                self._say("Run to Selected: select one node")
                return
            until = targets[0]
        registry = doc.registry
        code = sorted({f"{n.id} {risk}" for n in doc.flow.nodes
                       if (cls := registry.find(n.type)) is not None and (risk := cls.code_risk(n.params))})
        if code and not self.window.prompts.confirm(
                self.window, "Run code from this flow?",
                f"This flow may run code FlowStudio did not write ({'; '.join(code)}). Run it only if you "
                "trust where the file came from.", "Run"):
            return
        flow_dir = doc.path.parent if doc.path is not None else None
        replaced = [f"{n.id}: {what}" for n in doc.flow.nodes
                    if (cls := registry.find(n.type)) is not None for what in cls.overwrites(n.params, flow_dir)]
        if replaced and not self.window.prompts.confirm(
                self.window, "Replace existing files?",
                "This run replaces what is there now:\n" + "\n".join(replaced), "Replace"):
            self._say("Not started: nothing was replaced")
            return
        self._clear_badges()
        self._run_doc = doc
        self.panel.begin("Running to " + until + "…" if until else "Running…")
        self.window.docks["run"].show()
        self.window.docks["run"].raise_()
        options = RunOptions(until=until, allow_code=bool(code), source=str(doc.path) if doc.path else None)
        self.bridge.start(doc.flow.copy_deep(), flow_dir, options)
        self._say("Starting…")

    def stop(self) -> None:
        if not self.bridge.running:
            return
        first = self.bridge.stop_requests == 0
        self.bridge.stop()
        self._say("Stopping… (Stop again to end it at once)" if first else "Stopping now…")

    # -- events (GUI thread)

    def _on_event(self, event: Event) -> None:
        self.panel.on_event(event)
        if self.window.doc is not self._run_doc:  # another flow was opened meanwhile: the panel only
            return
        badge = BADGES.get(type(event))
        node = getattr(event, "node", "")
        if badge is not None and node:
            self.window.canvas.set_node_status(node, badge)
            self._badged.add(node)
        if isinstance(event, NodeFailed):
            text = event.error + (f" (hint: {event.hint})" if event.hint else "")
            self.window.canvas.set_node_run_error(event.node, text)
        elif isinstance(event, NodeStarted):
            self._say(f"Running {event.node}…")
        elif isinstance(event, NodeProgress):
            total = f"/{event.total}" if event.total else ""
            self._say(f"Running {event.node}: step {event.step}{total}")
            if event.total:
                self.window.canvas.set_node_progress(event.node, event.step / event.total)
        elif isinstance(event, RunStarted):
            self._say("Running…")

    def _finished(self, result: RunResult) -> None:
        self.result = result
        self.panel.finish(result)
        seconds = result.summary.get("seconds", 0.0)
        self._say(f"Run {result.status} in {seconds:.2f} s")

    def _failed(self, message: str, problems: list) -> None:
        self.panel.not_started(message)
        if problems:
            self.window.validate_now()
        self._say("Could not start the run")

    # -- helpers

    def _selection_changed(self, node_ids: list[str]) -> None:
        if len(node_ids) == 1:
            self.panel.show_node(node_ids[0])

    def _clear_badges(self) -> None:
        for node_id in self._badged | {n.id for n in self.window.doc.flow.nodes}:
            self.window.canvas.set_node_status(node_id, None)
            self.window.canvas.set_node_run_error(node_id, None)
        self._badged.clear()

    def _say(self, text: str) -> None:
        self.window.status.show_run(text)
