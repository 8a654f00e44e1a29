"""The engine's public face: `Engine`, `RunOptions`, `RunResult`.

    engine = Engine()                                   # default registry, detected devices
    result = engine.run(flow, flow_dir=Path("."), options=RunOptions(sets=["sft.epochs=2"]),
                        listeners=[print])
    result.summary["status"]                            # the `flowstudio run --json` object
    engine.cancel(); engine.resume(result.run_dir)      # stop, then continue in the same run dir
    engine.close()                                      # stop the warm worker processes

One run at a time per Engine; `run` may be called from any thread (listeners are called in it).
Worker processes outlive runs: an idle worker is reused for later nodes with the same devices.
"""

from __future__ import annotations

import atexit
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstudio.core import warm
from flowstudio.core.errors import FlowStudioError
from flowstudio.core.flow import Flow
from flowstudio.core.registry import NodeRegistry, default_registry
from flowstudio.engine.cache import ArtifactStore
from flowstudio.engine.cancel import CancelRequest
from flowstudio.engine.devices import DeviceInventory, detect_inventory, device_problem, parse_device
from flowstudio.engine.events import Event
from flowstudio.engine.options import RunOptions
from flowstudio.engine.plan import RunSetupError, apply_overrides, build_plan, restrict_until
from flowstudio.engine.rundir import RunDir, new_run_dir, run_dir_refusal
from flowstudio.engine.runner import RunLoop
from flowstudio.engine.worker_pool import WorkerPool

__all__ = ["Engine", "Listener", "RunOptions", "RunResult"]

Listener = Callable[[Event], None]


@dataclass
class RunResult:
    summary: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    run_dir: Path = Path()

    @property
    def status(self) -> str:
        return str(self.summary.get("status"))

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


_LIVE_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for engine in list(_LIVE_ENGINES):
        engine.close()


class Engine:
    def __init__(self, registry: NodeRegistry | None = None, inventory: DeviceInventory | None = None,
                 store: ArtifactStore | None = None, max_idle_workers: int = 2) -> None:
        self.registry = registry or default_registry()
        self.inventory = inventory if inventory is not None else detect_inventory()
        self.store = store or ArtifactStore()
        self.max_idle_workers = max_idle_workers
        self.workers = WorkerPool(self.inventory.cpu_count)
        self._run_lock = threading.Lock()
        self._cancel = CancelRequest()
        self._run_thread: int | None = None
        _LIVE_ENGINES.add(self)

    # ----------------------------------------------------------------------------------------- runs

    def run(self, flow: Flow, flow_dir: Path | str | None = None, options: RunOptions | None = None,
            listeners: Iterable[Listener] = ()) -> RunResult:
        """Validate, plan and run `flow`. Raises RunSetupError (FlowInvalidError) before anything runs, also
        when `options.run_dir` exists and is not empty (an earlier run there is continued with `resume`)."""
        options = options or RunOptions()
        flow_dir = Path(flow_dir).absolute() if flow_dir is not None else Path.cwd()
        prepared = apply_overrides(flow, options.sets, options.inputs, self.registry)
        if options.until:
            prepared = restrict_until(prepared, options.until)
        return self._run(prepared, flow_dir, options, list(listeners), resumed=False)

    def resume(self, run_dir: Path | str, options: RunOptions | None = None, listeners: Iterable[Listener] = (),
               flow: Flow | None = None, flow_dir: Path | str | None = None) -> RunResult:
        """Continue a stopped or failed run in its own directory: finished nodes are reused, a stopped
        node finds its checkpoint_dir again. `flow` replaces the run's snapshot (e.g. after a fix)."""
        rundir = RunDir(Path(run_dir))
        info = rundir.read_info()
        if not info or not (rundir.path / "flow.json").exists():
            raise RunSetupError(f"{run_dir} is not a FlowStudio run directory (no run.json / flow.json)")
        if flow is None:
            flow = rundir.read_flow()
        options = options or RunOptions()
        saved = info.get("attempts", [{}])[0].get("options", {})
        if options.until is None and saved.get("until"):
            options.until = saved["until"]
        if options.source is None:
            options.source = info.get("source")
        options.run_dir = rundir.path
        flow_dir = Path(flow_dir or info.get("flow_dir") or rundir.path).absolute()
        prepared = apply_overrides(flow, options.sets, options.inputs, self.registry)
        if options.until:
            prepared = restrict_until(prepared, options.until)
        return self._run(prepared, flow_dir, options, list(listeners), resumed=True)

    def _run(self, flow: Flow, flow_dir: Path, options: RunOptions, listeners: list[Listener],
             resumed: bool) -> RunResult:
        if (device_error := device_problem(options.device, self.inventory)) is not None:
            raise RunSetupError(device_error)
        if options.workers and not self._run_lock.locked() and self._wants_cpu_worker(flow, options.device):
            self.workers.prestart("")  # it starts (~0.3 s of Python and imports) while the flow is planned
        try:
            plan = build_plan(flow, self.registry, flow_dir, allow_code=options.allow_code, source=options.source)
        except RunSetupError:
            self.workers.trim_idle(self.max_idle_workers)
            raise
        if not self._run_lock.acquire(blocking=False):
            raise FlowStudioError("this engine is already running a flow; wait for it or use another Engine")
        try:
            self._cancel.clear()
            self._run_thread = threading.get_ident()
            self.workers.drain()
            if options.run_dir is not None and not resumed:
                refusal = run_dir_refusal(Path(options.run_dir).absolute())
                if refusal is not None:
                    raise RunSetupError(refusal)
            rundir = RunDir(options.run_dir or new_run_dir(flow.name))
            prior = rundir.read_node_results() if resumed else {}
            run_id = rundir.read_info().get("run_id") or uuid.uuid4().hex[:12]
            rundir.open(flow, {"run_id": run_id, "source": options.source, "flow_dir": str(flow_dir),
                               "options": options.to_json(), "inventory": self.inventory.to_json()})
            events: list[Event] = []
            listener_errors: list[str] = []

            def emit(event: Event) -> None:
                events.append(event)
                rundir.record(event)
                for listener in listeners:
                    try:
                        listener(event)
                    except Exception as exc:  # a broken listener must not break the run
                        if len(listener_errors) < 5:
                            listener_errors.append(f"{type(exc).__name__}: {exc}")

            loop = RunLoop(plan, rundir, options, run_id, emit, prior, store=self.store, inventory=self.inventory,
                           workers=self.workers, cancel=self._cancel)
            started = time.time()
            try:
                status, seconds = loop.run(resumed)
            except BaseException:
                loop.abort()
                rundir.close()
                raise
            summary = self._summary(loop, status, seconds, rundir, run_id, started, listener_errors)
            rundir.write_summary(summary)
            rundir.close()
            self.workers.trim_idle(self.max_idle_workers)
            return RunResult(summary, events, rundir.path)
        finally:
            self._cancel.clear()
            self._run_thread = None
            self._run_lock.release()

    def _wants_cpu_worker(self, flow: Flow, device: str) -> bool:
        """Whether a node of `flow` will run in a worker without a GPU (the scheduler's rule, read ahead)."""
        gpus = bool(self.inventory.gpus) and parse_device(device)[0] != "cpu"
        for spec in flow.nodes:
            cls = self.registry.find(spec.type)
            if cls is None:
                continue
            res = cls.resources
            if res.gpus > 0 and gpus:
                continue  # a GPU worker, started when the GPUs are chosen
            if res.worker or res.gpus > 0 or res.isolated:
                return True
        return False

    def _summary(self, loop: RunLoop, status: str, seconds: float, rundir: RunDir, run_id: str, started: float,
                 listener_errors: list[str]) -> dict[str, Any]:
        nodes = {}
        outputs = {}
        for node_id in loop.plan.order:
            node = loop.plan.nodes[node_id]
            res = loop.results.get(node_id, {"status": loop.status[node_id]})
            entry = {
                "type": node.type,
                "status": res.get("status"),
                "seconds": res.get("seconds", 0.0),
                "metrics": res.get("metrics", {}),
                "outputs": res.get("outputs", {}),
                "error": res.get("error"),
                "log": str(rundir.log_path(node_id)) if rundir.log_path(node_id).exists() else None,
            }
            for extra in ("hint", "field", "error_type", "log_tail", "checkpoint_dir", "cache_key"):
                if res.get(extra):
                    entry[extra] = res[extra]
            nodes[node_id] = entry
            if self.registry.resolve_id(node.type) == "io.output" and res.get("status") in ("done", "cached"):
                outputs[node_id] = res.get("outputs", {}).get("value")
        summary: dict[str, Any] = {"status": status, "run_dir": str(rundir.path), "run_id": run_id,
                                   "flow": loop.plan.flow.name, "started": started, "seconds": round(seconds, 4),
                                   "nodes": nodes, "outputs": outputs}
        if loop.plan.bypassed:
            summary["bypassed"] = dict(loop.plan.bypassed)
        if listener_errors:
            summary["listener_errors"] = listener_errors
        return summary

    def free_memory(self) -> int:
        """Close the idle worker processes, and with them every model they keep warm (GPU memory
        included: the process goes). Returns how many were closed. Refused while a run is going on."""
        if self._run_lock.locked():
            raise FlowStudioError("a run is in progress; free memory when it has ended")
        closed = len(self.workers.pids)
        self.workers.trim_idle(0)
        warm.clear()  # nodes run in this process (RunOptions(workers=False)) keep theirs here
        return closed

    # --------------------------------------------------------------------------------------- cancel

    def cancel(self, force: bool = False) -> None:
        """Stop the current run: running nodes see ctx.cancelled() (training saves a checkpoint and stops);
        nothing new starts. `force` (or a second cancel) kills worker processes at once. Thread-safe."""
        self._cancel.ask(force)

    # -------------------------------------------------------------------------------------- workers

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live worker processes (idle and busy)."""
        return self.workers.pids

    def close(self, timeout: float = 10.0) -> None:
        """Stop every worker process (idle ones exit, busy ones are killed). A run in progress in another
        thread is stopped at once first (its nodes end `cancelled`)."""
        if self._run_lock.locked():
            self.cancel(force=True)
            if self._run_thread != threading.get_ident() and self._run_lock.acquire(timeout=timeout):
                self._run_lock.release()
        self.workers.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
