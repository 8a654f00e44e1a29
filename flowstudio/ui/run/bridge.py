"""The one bridge between the engine and the UI: runs flows in a worker QThread, events become Qt signals.

The bridge owns one long-lived `Engine`, created on the first run (so warm worker processes and the
models they hold survive between runs) and closed by `shutdown()` when the window goes. `Engine.run`
blocks, so it runs in a `QThread`; the engine calls our listener in that thread, and the listener
only emits signals, which Qt delivers to the GUI thread through queued connections. Nothing here
touches a widget.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from flowstudio.core.flow import Flow
from flowstudio.core.registry import NodeRegistry
from flowstudio.engine import Engine, RunOptions, RunResult
from flowstudio.engine.events import Event, RunStarted


class _RunThread(QThread):
    """Runs one `engine.run` (or `engine.resume`) call; reports through signals (emitted from this thread)."""

    eventEmitted = Signal(object)  # noqa: N815 - an engine Event
    runEnded = Signal(object)  # noqa: N815 - the RunResult
    runError = Signal(str, list)  # noqa: N815 - message, problems (FlowInvalidError) or []

    def __init__(self, bridge: RunBridge, flow: Flow, flow_dir: Path, options: RunOptions,
                 resume_dir: Path | None = None) -> None:
        super().__init__()
        self.bridge = bridge
        self.flow = flow
        self.flow_dir = flow_dir
        self.options = options
        self.resume_dir = resume_dir

    def run(self) -> None:
        try:
            engine = self.bridge.engine_for_run()
            if self.resume_dir is not None:  # finished nodes are reused, a stopped one continues from its checkpoint
                result = engine.resume(self.resume_dir, options=self.options, listeners=[self._listen],
                                       flow=self.flow, flow_dir=self.flow_dir)
            else:
                result = engine.run(self.flow, flow_dir=self.flow_dir, options=self.options, listeners=[self._listen])
        except Exception as exc:  # noqa: BLE001 - every failure to start is reported, never lost in a thread
            self.runError.emit(f"{type(exc).__name__}: {exc}" if not _is_flowstudio(exc) else str(exc),
                               list(getattr(exc, "problems", []) or []))
            return
        self.runEnded.emit(result)

    def _listen(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.bridge.replay_stop()  # a Stop pressed before the engine started its run
        self.eventEmitted.emit(event)


def _is_flowstudio(exc: Exception) -> bool:
    return type(exc).__module__.startswith("flowstudio")


class RunBridge(QObject):
    """Start, stop and observe runs. One run at a time; `run` returns at once."""

    runStarted = Signal()  # noqa: N815 - a run was handed to the engine
    event = Signal(object)  # noqa: N815 - every engine Event, in order, on the GUI thread
    runFinished = Signal(object)  # noqa: N815 - the RunResult
    runFailed = Signal(str, list)  # noqa: N815 - the run could not start: message, problems
    runningChanged = Signal(bool)  # noqa: N815

    def __init__(self, registry: NodeRegistry | None = None, engine: Engine | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self._engine = engine
        self._thread: _RunThread | None = None
        self._stops = 0
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        app = QCoreApplication.instance()
        if app is not None:  # however the app ends, no run thread outlives it
            app.aboutToQuit.connect(self.shutdown)

    # -- state

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def stop_requests(self) -> int:
        """Stop presses during the current run (2 or more: forced)."""
        return self._stops

    @property
    def engine(self) -> Engine | None:
        """The engine, once a run created it."""
        return self._engine

    def engine_for_run(self) -> Engine:
        """Called in the run thread: creating an Engine detects GPUs (nvidia-smi), so it stays off the GUI thread."""
        if self._engine is None:
            self._engine = Engine(registry=self.registry)
        return self._engine

    # -- commands

    def start(self, flow: Flow, flow_dir: Path | None, options: RunOptions | None = None,
              resume_dir: Path | None = None) -> bool:
        """Run a snapshot of `flow` (the caller copies it) with `flow_dir` (None: a temporary directory).

        With `resume_dir` (a stopped or failed run's directory) the run continues there instead
        (`Engine.resume`, with `flow` as the replacement snapshot)."""
        if self._thread is not None:
            return False
        if flow_dir is None:
            if self._temp_dir is None:
                self._temp_dir = tempfile.TemporaryDirectory(prefix="flowstudio-unsaved-")
            flow_dir = Path(self._temp_dir.name)
        self._stops = 0
        thread = _RunThread(self, flow, flow_dir, options or RunOptions(), resume_dir)
        thread.eventEmitted.connect(self.event)  # queued: emitted in the run thread, received here
        thread.runEnded.connect(self._ended)
        thread.runError.connect(self._failed)
        self._thread = thread
        thread.start()
        self.runningChanged.emit(True)
        self.runStarted.emit()
        return True

    def stop(self) -> None:
        """First call: stop cleanly (training saves a checkpoint); a second call kills the workers."""
        if self._thread is None:
            return
        self._stops += 1
        if self._engine is not None:
            self._engine.cancel(force=self._stops >= 2)

    def replay_stop(self) -> None:
        """`Engine.run` clears earlier cancel requests when it starts; apply ours again (run thread)."""
        if self._stops and self._engine is not None:
            self._engine.cancel(force=self._stops >= 2)

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the run thread ends (tests, shutdown). Its queued signals still need the event loop."""
        thread = self._thread
        return thread is None or thread.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 15_000) -> None:
        """Stop any run at once and close the engine's worker processes (the window is closing)."""
        thread = self._thread
        if thread is not None:
            thread.blockSignals(True)  # the window is going: nothing more to report
            self._stops = 1
            self.stop()  # counts as the second press: force
            thread.wait(timeout_ms)
            self._release_thread()
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None

    # -- the run thread's reports (GUI thread)

    def _ended(self, result: RunResult) -> None:
        self._release_thread()
        self.runFinished.emit(result)
        self.runningChanged.emit(False)

    def _failed(self, message: str, problems: list[Any]) -> None:
        self._release_thread()
        self.runFailed.emit(message, problems)
        self.runningChanged.emit(False)

    def _release_thread(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
