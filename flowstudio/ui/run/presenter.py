"""Runs from the window: the `Runner` behind Run / Run to Selected / Stop, and the live feedback.

It validates before anything starts (errors: the Problems panel instead of a run), asks before
running code from the flow file and before replacing existing files (`Node.overwrites`), snapshots
the document's flow, and hands it to the `RunBridge`. A flow whose last run (this session) was stopped
or failed can be resumed in that run's directory (`Engine.resume` with the current flow); Run on such
a flow asks whether to resume it or start over.
The bridge's signals become node badges on the canvas, the Run panel's table, log and plot, and the
status bar's progress. Runs never touch the document: a run works on its own copy.
"""

from __future__ import annotations

import weakref
from pathlib import Path

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
        self._run_keys: tuple[FlowDocument | str, ...] = ()  # the running flow, as `_resume_keys` names it
        self._run_labels: dict[str, str] = {}  # io.output node id -> its label, for the Run panel
        # a flow's last run, when it was stopped or failed: by document, and by file once saved
        self._resumable_docs: weakref.WeakKeyDictionary[FlowDocument, RunResult] = weakref.WeakKeyDictionary()
        self._resumable_files: dict[str, RunResult] = {}
        bridge.event.connect(self._on_event)
        bridge.runFinished.connect(self._finished)
        bridge.runFailed.connect(self._failed)
        bridge.runningChanged.connect(window.set_running)
        panel.nodeActivated.connect(window.go_to_node)
        window.canvas.selectionChanged.connect(self._selection_changed)
        window.canvas.controller.documentReplaced.connect(self._document_replaced)

    # -- Runner

    def run(self, doc: FlowDocument, targets: list[str] | None) -> None:
        if self.bridge.running or not self._valid(doc):
            return
        until = None
        if targets is not None:
            if len(targets) != 1:
                self._say("Run to Selected: select one node")
                return
            until = targets[0]
        elif (stopped := self._last_stopped(doc)) is not None:
            answer = self.window.prompts.resume_run(
                self.window, f"The last run of this flow {'was stopped' if stopped.status == 'cancelled' else 'failed'}. "
                "Resume it, or start over?")
            if answer == "resume":
                self._start(doc, None, stopped.run_dir)
                return
            if answer != "restart":
                self._say("Not started")
                return
        self._start(doc, until, None)

    def can_resume(self, doc: FlowDocument) -> bool:
        return self._last_stopped(doc) is not None

    def resume(self, doc: FlowDocument) -> None:
        """Continue `doc`'s stopped or failed run from its checkpoints, with the flow as it is now."""
        stopped = self._last_stopped(doc)
        if self.bridge.running or stopped is None or not self._valid(doc):
            return
        self._start(doc, None, stopped.run_dir)

    def _valid(self, doc: FlowDocument) -> bool:
        errors = [p for p in doc.validate() if p.severity == "error"]
        if errors:
            self.window.validate_now()
            self._say(f"Not started: {len(errors)} problem{'s' if len(errors) != 1 else ''} to fix first")
        return not errors

    def _start(self, doc: FlowDocument, until: str | None, resume_dir: Path | None) -> None:
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
        self._run_keys = self._resume_keys(doc)
        self._run_labels = {n.id: str(n.params.get("label") or "") for n in doc.flow.nodes
                            if registry.resolve_id(n.type) == "io.output" and n.params.get("label")}
        self.panel.begin("Resuming…" if resume_dir is not None else "Running to " + until + "…" if until else "Running…")
        self.window.docks["run"].show()
        self.window.docks["run"].raise_()
        options = RunOptions(until=until, allow_code=bool(code), source=str(doc.path) if doc.path else None,
                             device=getattr(self.window, "run_device", "auto"))  # the Devices panel's choice
        self.bridge.start(doc.flow.copy_deep(), flow_dir, options, resume_dir=resume_dir)
        self._say("Resuming…" if resume_dir is not None else "Starting…")

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
        if isinstance(event, NodeFinished) and "value" in event.outputs and self._is_output(event.node):
            from flowstudio.ui.canvas.node_item import result_summary

            self.window.canvas.set_node_result(event.node, result_summary(event.outputs["value"]))
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
        for key in self._run_keys:  # before runningChanged(False), which refreshes Resume
            table = self._resumable_files if isinstance(key, str) else self._resumable_docs
            if result.status in ("cancelled", "failed"):
                table[key] = result  # type: ignore[index]
            else:
                table.pop(key, None)  # type: ignore[arg-type]
        self.panel.finish(result, self._run_labels)
        seconds = result.summary.get("seconds", 0.0)
        self._say(f"Run {result.status} in {seconds:.2f} s")

    def _failed(self, message: str, problems: list) -> None:
        self.panel.not_started(message)
        if problems:
            self.window.validate_now()
        self._say("Could not start the run")

    # -- helpers

    @staticmethod
    def _resume_keys(doc: FlowDocument) -> tuple[FlowDocument | str, ...]:
        """A flow is known by its document and, once saved, its file (reopening it finds its run again)."""
        return (doc,) + ((str(doc.path.absolute()),) if doc.path is not None else ())

    def _last_stopped(self, doc: FlowDocument) -> RunResult | None:
        """The flow's last run if it was stopped or failed and its run directory is still there."""
        for result in (self._resumable_docs.get(doc),
                       self._resumable_files.get(str(doc.path.absolute())) if doc.path is not None else None):
            if result is not None and (result.run_dir / "run.json").is_file():
                return result
        return None

    def _document_replaced(self) -> None:
        """Another flow was opened: the Run panel forgets the last run (a run still going keeps it)."""
        if self.bridge.running:
            return
        run_doc, doc = self._run_doc, self.window.doc
        if run_doc is not None and doc is not run_doc and doc.path is not None and doc.path == run_doc.path:
            return  # the same file again (Revert to Saved): its run still applies
        self.panel.reset()

    def _selection_changed(self, node_ids: list[str]) -> None:
        if len(node_ids) == 1:
            self.panel.show_node(node_ids[0])

    def _is_output(self, node_id: str) -> bool:
        doc = self._run_doc
        return doc is not None and any(n.id == node_id and n.type == "io.output" for n in doc.flow.nodes)

    def _clear_badges(self) -> None:
        for node_id in self._badged | {n.id for n in self.window.doc.flow.nodes}:
            self.window.canvas.set_node_status(node_id, None)
            self.window.canvas.set_node_run_error(node_id, None)
            self.window.canvas.set_node_result(node_id, None)
        self._badged.clear()

    def _say(self, text: str) -> None:
        self.window.status.show_run(text)
