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
import os
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowstudio.core.errors import FlowStudioError
from flowstudio.core.flow import Flow
from flowstudio.core.registry import NodeRegistry, default_registry
from flowstudio.engine.cache import ArtifactStore
from flowstudio.engine.devices import DeviceInventory, detect_inventory
from flowstudio.engine.events import Event
from flowstudio.engine.plan import RunSetupError, apply_overrides, build_plan, restrict_until
from flowstudio.engine.rundir import RunDir, new_run_dir
from flowstudio.engine.runner import RunLoop
from flowstudio.engine.worker import WorkerHandle

Listener = Callable[[Event], None]

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


@dataclass
class RunOptions:
    sets: Sequence[str] = ()  # "NODE_ID.PARAM=VALUE" (JSON value, else a string)
    inputs: Sequence[str] = ()  # "NODE_ID=TEXT" for io.text nodes
    until: str | None = None  # run only this node and what it needs
    device: str = "auto"  # auto | cpu | cuda
    use_cache: bool = True  # False: run every node (results are still stored)
    run_dir: Path | None = None  # default: a new directory under runs_dir()
    allow_code: bool = False  # consent for nodes that run code from the flow file
    seed: int | None = None
    cpu_concurrency: int | None = None  # heavy CPU nodes at once (default: cores // 4, at least 1)
    light_concurrency: int = 4  # small in-process nodes at once
    workers: bool = True  # False: heavy nodes run in the engine process too (debugging)
    source: str | None = None  # the flow file, for messages and run.json

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir) if self.run_dir else None
        data["sets"], data["inputs"] = list(self.sets), list(self.inputs)
        return data


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


def worker_env(devices: str, cpu_count: int) -> dict[str, str]:
    env = dict(OFFLINE_ENV)
    env["CUDA_VISIBLE_DEVICES"] = devices
    # nvidia-smi numbers GPUs in PCI bus order; CUDA's default order is "fastest first". Make them agree.
    env["CUDA_DEVICE_ORDER"] = os.environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, cpu_count - 1))
    env.setdefault("TOKENIZERS_PARALLELISM", os.environ.get("TOKENIZERS_PARALLELISM", "false"))
    return env


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
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._workers: list[WorkerHandle] = []
        self._workers_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._cancel_request = 0  # 0 none, 1 stop cleanly, 2 kill at once
        self._run_thread: int | None = None
        _LIVE_ENGINES.add(self)

    # ----------------------------------------------------------------------------------------- runs

    def run(self, flow: Flow, flow_dir: Path | str | None = None, options: RunOptions | None = None,
            listeners: Iterable[Listener] = ()) -> RunResult:
        """Validate, plan and run `flow`. Raises RunSetupError (FlowInvalidError) before anything runs."""
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
        if options.device == "cuda" and self.inventory.gpu_count == 0:
            raise RunSetupError("--device cuda: no GPU was found on this machine (nvidia-smi lists none); "
                                "use --device auto or cpu")
        if options.device not in ("auto", "cpu", "cuda"):
            raise RunSetupError(f"device must be auto, cpu or cuda, not {options.device!r}")
        plan = build_plan(flow, self.registry, flow_dir, allow_code=options.allow_code, source=options.source)
        if not self._run_lock.acquire(blocking=False):
            raise FlowStudioError("this engine is already running a flow; wait for it or use another Engine")
        try:
            self._cancel_request = 0
            self._run_thread = threading.get_ident()
            self._drain_inbox()
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

            loop = RunLoop(self, plan, rundir, options, run_id, emit, prior)
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
            self._trim_idle_workers()
            return RunResult(summary, events, rundir.path)
        finally:
            self._cancel_request = 0
            self._run_thread = None
            self._run_lock.release()

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
        if listener_errors:
            summary["listener_errors"] = listener_errors
        return summary

    def _drain_inbox(self) -> None:
        while True:
            try:
                msg = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(msg[0], WorkerHandle) and msg[1][0] == "died":
                self._forget_worker(msg[0])

    # --------------------------------------------------------------------------------------- cancel

    def cancel(self, force: bool = False) -> None:
        """Stop the current run: running nodes see ctx.cancelled() (training saves a checkpoint and stops);
        nothing new starts. `force` (or a second cancel) kills worker processes at once. Thread-safe."""
        if force or self._cancel_request >= 1:
            self._cancel_request = 2
        else:
            self._cancel_request = 1

    # -------------------------------------------------------------------------------------- workers

    def _take_worker(self, devices: str, boot_log: str | None = None, node_type: str = "") -> WorkerHandle:
        """An idle worker on these devices (preferring one that ran this node type: its models are warm),
        or a new one."""
        with self._workers_lock:
            idle = [w for w in self._workers if w.node is None and w.alive and w.devices == devices
                    and w.is_running()]
            if idle:
                worker = max(idle, key=lambda w: (node_type in w.node_types, w.last_used))
                worker.last_used = time.time()
                return worker
        worker = WorkerHandle(worker_env(devices, self.inventory.cpu_count), self._inbox.put, devices, boot_log)
        with self._workers_lock:
            self._workers.append(worker)
        return worker

    def _idle_device_sets(self) -> list[tuple[int, ...]]:
        with self._workers_lock:
            sets = []
            for w in sorted(self._workers, key=lambda w: -w.last_used):
                if w.node is None and w.alive and w.devices:
                    sets.append(tuple(int(x) for x in w.devices.split(",")))
            return sets

    def _forget_worker(self, worker: WorkerHandle) -> None:
        with self._workers_lock:
            if worker in self._workers:
                self._workers.remove(worker)

    def _trim_idle_workers(self) -> None:
        with self._workers_lock:
            idle = sorted((w for w in self._workers if w.node is None), key=lambda w: w.last_used)
            extra = idle[: max(0, len(idle) - self.max_idle_workers)]
            for w in extra:
                self._workers.remove(w)
        for w in extra:
            w.close()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live worker processes (idle and busy)."""
        with self._workers_lock:
            return [w.pid for w in self._workers if w.alive and w.pid is not None]

    def close(self, timeout: float = 10.0) -> None:
        """Stop every worker process (idle ones exit, busy ones are killed). A run in progress in another
        thread is stopped at once first (its nodes end `cancelled`)."""
        if self._run_lock.locked():
            self.cancel(force=True)
            if self._run_thread != threading.get_ident() and self._run_lock.acquire(timeout=timeout):
                self._run_lock.release()
        with self._workers_lock:
            workers, self._workers = self._workers, []
        for w in workers:
            w.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
