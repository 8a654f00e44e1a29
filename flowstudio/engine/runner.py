"""One run of a plan: the loop that starts ready nodes, takes results and events, and records.

Everything that happens arrives in the engine's inbox (from worker reader threads and in-process
node threads); this loop is the only one that changes run state and calls listeners, in the
thread that called `Engine.run`.
"""

from __future__ import annotations

import queue
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowstudio.core.paths import is_hub_id, resolve_user_path
from flowstudio.core.values import Artifact, from_jsonable
from flowstudio.engine.cache import (
    ArtifactStore,
    artifacts_exist,
    compute_key,
    value_fingerprint,
)
from flowstudio.engine.cancel import KILL, NONE, STOP, CancelRequest
from flowstudio.engine.events import (
    Event,
    NodeArtifact,
    NodeCached,
    NodeCancelled,
    NodeFailed,
    NodeFinished,
    NodeLog,
    NodeQueued,
    NodeSkipped,
    NodeStarted,
    RunFinished,
    RunStarted,
    context_event,
)
from flowstudio.engine.execute import execute_node
from flowstudio.engine.fingerprint import fingerprint_path, hub_fingerprint
from flowstudio.engine.plan import Plan, PlannedNode
from flowstudio.engine.rundir import RunDir
from flowstudio.engine.scheduler import Allocation, ResourcePool, Unschedulable

if TYPE_CHECKING:
    from flowstudio.engine.devices import DeviceInventory
    from flowstudio.engine.options import RunOptions
    from flowstudio.engine.worker import WorkerHandle
    from flowstudio.engine.worker_pool import WorkerPool

FINISHED_OK = ("done", "cached")
FINAL = ("done", "cached", "failed", "cancelled", "skipped")

GPU_OOM_HINT = ("the GPU ran out of memory: use a smaller batch size (with gradient accumulation to keep the "
                "effective batch), train a LoRA adapter instead of the full model, or a shorter max length")
HOST_OOM_HINT = ("if nobody killed it, the machine probably ran out of memory: use a smaller model or batch, "
                 "a shorter max length, or run fewer heavy nodes at once")


def failure_hint(error_type: str, message: str) -> str:
    text = message.lower()
    if error_type == "OutOfMemoryError" or "cuda out of memory" in text or "cublas_status_alloc_failed" in text:
        return GPU_OOM_HINT
    if error_type == "MemoryError":
        return HOST_OOM_HINT
    return ""


def describe_exit(code: int | None) -> str:
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process was killed by {name}"
    return f"the worker process exited with status {code}"


@dataclass
class _Running:
    alloc: Allocation
    started: float
    key: str
    cancel: threading.Event = field(default_factory=threading.Event)
    worker: WorkerHandle | None = None


class RunLoop:
    def __init__(self, plan: Plan, rundir: RunDir, options: RunOptions, run_id: str,
                 emit: Callable[[Event], None], prior: dict[str, dict[str, Any]], *, store: ArtifactStore,
                 inventory: DeviceInventory, workers: WorkerPool, cancel: CancelRequest) -> None:
        self.plan = plan
        self.rundir = rundir
        self.options = options
        self.run_id = run_id
        self.emit = emit
        self.prior = prior  # node results recorded by an earlier attempt in this run dir (resume)
        self.token = uuid.uuid4().hex  # tells this attempt's in-process results from abandoned threads' ones
        self.store = store
        self.workers = workers
        self.cancel_request = cancel
        self.pool = ResourcePool(inventory, options.device, options.cpu_concurrency,
                                 options.light_concurrency, options.workers)
        self.status: dict[str, str] = {n: "pending" for n in plan.order}
        self._pending = list(plan.order)
        self.outputs: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.running: dict[str, _Running] = {}
        self.cancelling = False
        self.forced = False
        self.used_ports: dict[str, set[str]] = {}
        for edge in plan.flow.edges:
            self.used_ports.setdefault(edge.source_node, set()).add(edge.source_port)

    # ------------------------------------------------------------------------------------------ loop

    def run(self, resumed: bool) -> tuple[str, float]:
        t0 = time.time()
        self.emit(RunStarted(run_id=self.run_id, run_dir=str(self.rundir.path), flow_name=self.plan.flow.name,
                             nodes=list(self.plan.order), resumed=resumed))
        for node_id in self.plan.order:
            self.emit(NodeQueued(node=node_id, node_type=self.plan.nodes[node_id].type))
        for node_id, reason in self.plan.bypassed.items():  # they do not run (bypass); the run may succeed
            self.emit(NodeSkipped(node=node_id, reason=reason))
        inbox = self.workers.inbox
        while True:
            try:
                self._check_cancel()
                self._schedule()
                if not self.running:
                    if all(s in FINAL for s in self.status.values()):
                        break
                    self._fail_stuck()
                    continue
                try:
                    msg = inbox.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._handle(msg)
                while True:  # take what else is there before scheduling again
                    try:
                        self._handle(inbox.get_nowait())
                    except queue.Empty:
                        break
            except KeyboardInterrupt:
                self.cancel_request.ask(force=self.cancelling)
        statuses = set(self.status.values())
        if self.cancelling or "cancelled" in statuses:
            status = "cancelled"
        elif statuses & {"failed", "skipped"}:
            status = "failed"
        else:
            status = "succeeded"
        seconds = time.time() - t0
        self.emit(RunFinished(run_id=self.run_id, status=status, seconds=round(seconds, 4)))
        return status, seconds

    def abort(self) -> None:
        """The loop itself failed (a bug): kill what runs so nothing is left behind."""
        for running in self.running.values():
            if running.worker is not None:
                running.worker.kill()
            running.cancel.set()

    def _check_cancel(self) -> None:
        request = self.cancel_request.level
        if request == NONE or (request == STOP and self.cancelling) or (request == KILL and self.forced):
            return
        if not self.cancelling:
            self.cancelling = True
            for node_id, running in self.running.items():
                running.cancel.set()
                if running.worker is not None:
                    running.worker.cancel()
                self._log_line(node_id, "[flowstudio] stop requested; the node is finishing its current step")
        if request == KILL and not self.forced:
            self.forced = True
            for node_id, running in list(self.running.items()):
                if running.worker is not None:
                    running.worker.kill()
                else:  # a thread cannot be killed: stop waiting for it
                    self._finish_cancelled(node_id, "killed at once (second stop)")

    def _fail_stuck(self) -> None:
        for node_id, status in self.status.items():
            if status == "pending":
                self._set_final(node_id, "failed")
                self.results[node_id] = {"status": "failed", "error": "could not be scheduled", "seconds": 0.0}
                self.emit(NodeFailed(node=node_id, error="could not be scheduled (internal error)",
                                     error_type="SchedulerError"))

    # ------------------------------------------------------------------------------------ scheduling

    def _schedule(self) -> None:
        pending = [n for n in self._pending if self.status[n] == "pending"]
        self._pending = pending
        for node_id in pending:
            if self.status[node_id] != "pending":
                continue
            node = self.plan.nodes[node_id]
            ups = {u: self.status[u] for u in node.upstream}
            bad = sorted(u for u, s in ups.items() if s in ("failed", "skipped", "cancelled"))
            if bad:
                if self.cancelling:
                    self._not_started(node_id)
                else:
                    self._skip(node_id, f"upstream node(s) {', '.join(bad)} did not finish")
                continue
            if any(s not in FINISHED_OK for s in ups.values()):
                continue
            if self.cancelling:
                self._not_started(node_id)
                continue
            try:
                inputs, key = self._inputs_and_key(node)
            except Exception as exc:  # e.g. an upstream output missing: this node's problem
                self._fail(node_id, f"{type(exc).__name__}: {exc}", type(exc).__name__, 0.0)
                continue
            self.keys[node_id] = key
            if self._from_cache(node, key):
                continue
            try:
                prefer = self.workers.idle_device_sets()
                alloc = self.pool.request(node.resources, node.wants_worker, prefer)
            except Unschedulable as exc:
                self._fail(node_id, str(exc), "Unschedulable", 0.0,
                           hint="run on a machine with a GPU, or use a node that can run on the CPU")
                continue
            if alloc is None:
                continue
            self._start(node, alloc, inputs, key)

    def _inputs_and_key(self, node: PlannedNode) -> tuple[dict[str, Any], str]:
        inputs: dict[str, Any] = {}
        input_keys: dict[str, list[str]] = {}
        for spec in node.inputs:
            values, keys = [], []
            for src, port in spec.sources:
                src_outputs = self.outputs[src]
                if port not in src_outputs:
                    raise KeyError(f"upstream node '{src}' produced no output '{port}'")
                value = src_outputs[port]
                values.append(value)
                if self.plan.nodes[src].cacheable and src in self.keys:
                    keys.append(f"{self.keys[src]}:{port}")
                else:
                    keys.append("value:" + value_fingerprint(value))
            if spec.multiple:
                inputs[spec.port] = values
            else:
                inputs[spec.port] = values[0] if values else None
            input_keys[spec.port] = keys
        files = {}
        for name in node.path_params:
            value = getattr(node.params, name)
            if isinstance(value, str) and value:
                files[name] = fingerprint_path(Path(value))
        for name in node.source_params:  # a model source may be a local directory or GGUF file
            value = getattr(node.params, name)
            if isinstance(value, str) and value and ":" not in value.split("/")[0]:
                path = resolve_user_path(value, self.plan.flow_dir)
                if path.exists():
                    files[name] = fingerprint_path(path)
                elif is_hub_id(value) and (hub := hub_fingerprint(value.strip())) is not None:
                    files[name] = hub  # the cached revision the node will load
        key = compute_key(node.type, node.cls.version, node.params_json, input_keys, files)
        return inputs, key

    def _from_cache(self, node: PlannedNode, key: str) -> bool:
        """Serve the node from this run dir's earlier attempt or the store when its result is there and intact.
        A damaged store entry is removed (by the store) and reported in the node's log; the node then runs.
        When a node that reads this one failed in the earlier attempt, every byte of the entry is checked."""
        source, outputs, metrics = None, {}, {}
        prior = self.prior.get(node.id)
        suspects: set[str] | None = getattr(self, "_read_by_failed", None)  # computed once per attempt
        if suspects is None:
            suspects = self._read_by_failed = {u for d, r in self.prior.items() if r.get("status") == "failed"
                                               and d in self.plan.nodes for u in self.plan.nodes[d].upstream}
        entry, problem = (self.store.lookup(key, full=node.id in suspects)
                          if node.cacheable and (self.options.use_cache or prior) else (None, ""))
        if problem:
            line = f"[flowstudio] the cached result {key[:12]} is damaged ({problem}): removed it; running the node again"
            self._log_line(node.id, line)
            self.emit(NodeLog(node=node.id, line=line))
        if (prior and prior.get("status") in FINISHED_OK and prior.get("cache_key") == key and not problem
                and artifacts_exist(prior.get("outputs", {}))):
            source, outputs, metrics = "run", prior.get("outputs", {}), prior.get("metrics", {})
            if entry is not None:  # the checked record, not the run dir's copy of it
                outputs, metrics = entry.outputs, entry.metrics
        elif entry is not None and self.options.use_cache:
            source, outputs, metrics = "cache", entry.outputs, entry.metrics
        if source is None:
            return False
        self.outputs[node.id] = outputs
        self._set_final(node.id, "cached")
        self.results[node.id] = {"status": "cached", "seconds": 0.0, "metrics": metrics, "outputs": outputs,
                                 "error": None, "cache_key": key, "source": source}
        self.rundir.write_node_result(node.id, self.results[node.id])
        self.emit(NodeCached(node=node.id, cache_key=key, source=source, outputs=outputs, metrics=metrics))
        return True

    def _start(self, node: PlannedNode, alloc: Allocation, inputs: dict[str, Any], key: str) -> None:
        work = self.rundir.work_dir(node.id)
        self.rundir.unlink_planted(node.id)  # a received run dir must not lead the deletes below elsewhere
        if work.is_symlink():
            work.unlink()
        elif work.exists():
            shutil.rmtree(work, ignore_errors=True)
        checkpoint = self.rundir.checkpoint_dir(node.id)
        work.mkdir(parents=True, exist_ok=True)
        checkpoint.mkdir(parents=True, exist_ok=True)
        task = {
            "node_id": node.id, "node_type": node.type, "module": node.cls.__module__,
            "qualname": node.cls.__qualname__, "params": node.params_json, "inputs": inputs,
            "work_dir": str(work), "checkpoint_dir": str(checkpoint), "flow_dir": str(self.plan.flow_dir),
            "device": alloc.device, "seed": self.options.seed, "log_path": str(self.rundir.log_path(node.id)),
            "required_outputs": sorted(self.used_ports.get(node.id, set())),
            "sys_path": list(sys.path) if alloc.worker else [],
        }
        running = _Running(alloc, time.time(), key)
        self.running[node.id] = running
        self.status[node.id] = "running"
        if alloc.worker:
            worker = self.workers.take(alloc.cuda_visible_devices or "", task["log_path"], node.type)
            running.worker = worker
            self.emit(NodeStarted(node=node.id, node_type=node.type, device=alloc.device,
                                  cuda_visible_devices=alloc.cuda_visible_devices, worker_pid=worker.pid,
                                  cache_key=key))
            if not worker.run(task):
                self._handle((worker, ("died", worker.process.poll())))
            return
        self.emit(NodeStarted(node=node.id, node_type=node.type, device="cpu", cuda_visible_devices=None,
                              worker_pid=None, cache_key=key))
        inbox = self.workers.inbox
        token = self.token

        def target() -> None:
            result = execute_node(task, lambda e: inbox.put(("ctx", token, node.id, e)), running.cancel,
                                  cls=node.cls)
            inbox.put(("result", token, node.id, result))

        threading.Thread(target=target, name=f"flowstudio-node-{node.id}", daemon=True).start()

    # -------------------------------------------------------------------------------------- messages

    def _handle(self, msg: Any) -> None:
        if msg[0] in ("ctx", "result"):
            _, token, node_id, payload = msg
            if token != self.token or node_id not in self.running:
                return  # from an abandoned thread of an earlier run
            if msg[0] == "ctx":
                self._context_event(payload)
            else:
                self._result(node_id, payload)
            return
        worker, body = msg
        kind = body[0]
        if kind == "event":
            node_id = body[1]
            if node_id in self.running and self.running[node_id].worker is worker:
                self._context_event(body[2])
        elif kind == "result":
            node_id = body[1]
            if node_id in self.running and self.running[node_id].worker is worker:
                worker.node = None
                worker.last_used = time.time()
                self._result(node_id, body[2])
        elif kind == "garbled":  # an unreadable message: the worker cannot be trusted any more
            worker.kill()  # its death message follows and fails the node
        elif kind == "died":
            self.workers.forget(worker)
            node_id = worker.node
            worker.node = None
            if node_id is None or node_id not in self.running or self.running[node_id].worker is not worker:
                return
            if self.forced:
                self._finish_cancelled(node_id, "the worker was stopped at once")
                return
            seconds = time.time() - self._release(node_id).started
            code = body[1]
            hint = HOST_OOM_HINT if code == -signal.SIGKILL else "see the end of the node's log for what it printed last"
            self._fail(node_id, describe_exit(code), "WorkerDied", seconds, hint=hint)

    def _context_event(self, data: dict[str, Any]) -> None:
        event = context_event(data)
        if event is not None:
            self.emit(event)

    def _release(self, node_id: str) -> _Running:
        running = self.running.pop(node_id)
        self.pool.release(running.alloc)
        return running

    def _result(self, node_id: str, result: dict[str, Any]) -> None:
        if not result.get("ok") and result.get("cancelled"):
            self._finish_cancelled(node_id, result.get("message", ""))
            return
        running = self._release(node_id)
        seconds = time.time() - running.started
        node = self.plan.nodes[node_id]
        if not result.get("ok"):
            error_type = result.get("error_type", "")
            hint = result.get("hint") or failure_hint(error_type, result.get("message", ""))
            message = result.get("message", "")
            if not result.get("node_error"):  # an unexpected exception: say which
                message = f"{error_type}: {message}"
            self._fail(node_id, message, error_type, seconds, hint=hint, field=result.get("field"),
                       metrics=result.get("metrics", {}))
            return
        outputs = result["outputs"]
        metrics = result.get("metrics", {})
        if node.cacheable:
            try:
                entry = self.store.put(running.key, node.type, outputs, metrics, self.rundir.work_dir(node_id))
                outputs = entry.outputs
                self.rundir.link_work(node_id, entry.path / "files")
            except OSError as exc:
                self._log_line(node_id, f"[flowstudio] could not store the result in the cache: {exc}")
        self.outputs[node_id] = outputs
        self._set_final(node_id, "done")
        for port, value in outputs.items():
            value_obj = from_jsonable(value)
            if isinstance(value_obj, Artifact):
                self.emit(NodeArtifact(node=node_id, port=port, artifact_kind=value_obj.kind, path=value_obj.path))
        self.results[node_id] = {"status": "done", "seconds": round(seconds, 4), "metrics": metrics,
                                 "outputs": outputs, "error": None, "cache_key": running.key}
        self.rundir.write_node_result(node_id, self.results[node_id])
        self.emit(NodeFinished(node=node_id, seconds=round(seconds, 4), outputs=outputs, metrics=metrics,
                               cache_key=running.key))

    # -------------------------------------------------------------------------------------- outcomes

    def _set_final(self, node_id: str, status: str) -> None:
        self.status[node_id] = status

    def _fail(self, node_id: str, message: str, error_type: str, seconds: float, hint: str = "",
              field: str | None = None, metrics: dict[str, float] | None = None) -> None:
        self._set_final(node_id, "failed")
        tail = self.rundir.log_tail(node_id)
        self.results[node_id] = {"status": "failed", "seconds": round(seconds, 4), "metrics": metrics or {},
                                 "outputs": {}, "error": message, "error_type": error_type, "hint": hint,
                                 "field": field, "log_tail": tail, "cache_key": self.keys.get(node_id, "")}
        self.rundir.write_node_result(node_id, self.results[node_id])
        self.emit(NodeFailed(node=node_id, error=message, error_type=error_type, hint=hint, field=field,
                             log_tail=tail, seconds=round(seconds, 4)))

    def _finish_cancelled(self, node_id: str, message: str) -> None:
        running = self._release(node_id)
        if running.worker is not None and running.worker.node == node_id:
            running.worker.node = None
        seconds = time.time() - running.started
        self._set_final(node_id, "cancelled")
        self.results[node_id] = {"status": "cancelled", "seconds": round(seconds, 4), "metrics": {},
                                 "outputs": {}, "error": f"stopped: {message}" if message else "stopped",
                                 "cache_key": running.key,
                                 "checkpoint_dir": str(self.rundir.checkpoint_dir(node_id))}
        self.rundir.write_node_result(node_id, self.results[node_id])
        self.emit(NodeCancelled(node=node_id, message=message, started=True, seconds=round(seconds, 4)))

    def _not_started(self, node_id: str) -> None:
        self._set_final(node_id, "cancelled")
        self.results[node_id] = {"status": "cancelled", "seconds": 0.0, "metrics": {}, "outputs": {},
                                 "error": "the run was stopped before this node started"}
        self.emit(NodeCancelled(node=node_id, message="the run was stopped before this node started",
                                started=False))

    def _skip(self, node_id: str, reason: str) -> None:
        self._set_final(node_id, "skipped")
        self.results[node_id] = {"status": "skipped", "seconds": 0.0, "metrics": {}, "outputs": {},
                                 "error": reason}
        self.emit(NodeSkipped(node=node_id, reason=reason))

    def _log_line(self, node_id: str, line: str) -> None:
        try:
            path = self.rundir.log_path(node_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError:
            pass
