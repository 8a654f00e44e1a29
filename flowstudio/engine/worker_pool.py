"""The warm worker processes an engine keeps between nodes and runs, and the queue they report to.

    pool = WorkerPool(cpu_count=8)
    pool.prestart("")                                 # a CPU worker starts while the engine plans
    worker = pool.take("0", boot_log, "train.sft")   # an idle worker on GPU 0 (warm for SFT), or a new one
    pool.inbox.get()                                  # (worker, message) from any worker
    pool.forget(worker)                               # it died
    pool.trim_idle(max_idle=2); pool.close()

Both `Engine` (life cycle) and `RunLoop` (scheduling) use this interface; neither reaches into the other.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any

from flowstudio.engine.worker import WorkerHandle

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def worker_env(devices: str, cpu_count: int) -> dict[str, str]:
    """The environment of a worker process that may use the GPUs `devices` ("" for none), offline."""
    env = dict(OFFLINE_ENV)
    env["CUDA_VISIBLE_DEVICES"] = devices
    # nvidia-smi numbers GPUs in PCI bus order; CUDA's default order is "fastest first". Make them agree.
    env["CUDA_DEVICE_ORDER"] = os.environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    if "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, cpu_count - 1))
    env.setdefault("TOKENIZERS_PARALLELISM", os.environ.get("TOKENIZERS_PARALLELISM", "false"))
    return env


class WorkerPool:
    """Worker processes keyed by the devices they see; thread-safe. Messages from every worker (and from
    nodes run in threads of the engine process) arrive on `inbox`."""

    def __init__(self, cpu_count: int) -> None:
        self.cpu_count = cpu_count
        self.inbox: queue.Queue[Any] = queue.Queue()
        self._workers: list[WorkerHandle] = []
        self._lock = threading.Lock()

    def take(self, devices: str, boot_log: str | None = None, node_type: str = "") -> WorkerHandle:
        """An idle worker on these devices (preferring one that ran this node type: its models are warm),
        or a new one."""
        with self._lock:
            idle = [w for w in self._workers if w.node is None and w.alive and w.devices == devices
                    and w.is_running()]
            if idle:
                worker = max(idle, key=lambda w: (node_type in w.node_types, w.last_used))
                worker.last_used = time.time()
                if boot_log:
                    worker.claim_boot_log(boot_log)  # a worker started ahead (`prestart`) may still be starting
                return worker
        worker = WorkerHandle(worker_env(devices, self.cpu_count), self.inbox.put, devices, boot_log)
        with self._lock:
            self._workers.append(worker)
        return worker

    def prestart(self, devices: str) -> None:
        """Start a worker on `devices` now, unless an idle one is there: it starts Python and imports the
        engine side while the engine is still planning, and `take` hands it to the first node."""
        with self._lock:
            if any(w.node is None and w.alive and w.devices == devices and w.is_running() for w in self._workers):
                return
        worker = WorkerHandle(worker_env(devices, self.cpu_count), self.inbox.put, devices)
        with self._lock:
            self._workers.append(worker)

    def idle_device_sets(self) -> list[tuple[int, ...]]:
        """The GPU sets of idle workers, most recently used first (the scheduler prefers warm ones)."""
        with self._lock:
            sets = []
            for w in sorted(self._workers, key=lambda w: -w.last_used):
                if w.node is None and w.alive and w.devices:
                    sets.append(tuple(int(x) for x in w.devices.split(",")))
            return sets

    def forget(self, worker: WorkerHandle) -> None:
        """Drop a worker that died."""
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)

    def drain(self) -> None:
        """Empty the inbox before a run: stale messages are dropped, dead workers forgotten."""
        while True:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(msg[0], WorkerHandle) and msg[1][0] == "died":
                self.forget(msg[0])

    def trim_idle(self, max_idle: int) -> None:
        """Close the least recently used idle workers beyond `max_idle`."""
        with self._lock:
            idle = sorted((w for w in self._workers if w.node is None), key=lambda w: w.last_used)
            extra = idle[: max(0, len(idle) - max_idle)]
            for w in extra:
                self._workers.remove(w)
        _close_all(extra)

    @property
    def pids(self) -> list[int]:
        """Process ids of the live worker processes (idle and busy)."""
        with self._lock:
            return [w.pid for w in self._workers if w.alive and w.pid is not None]

    def close(self) -> None:
        """Stop every worker process (idle ones exit, busy ones are killed)."""
        with self._lock:
            workers, self._workers = self._workers, []
        _close_all(workers)


def _close_all(workers: list[WorkerHandle], timeout: float = 3.0) -> None:
    """Close workers side by side: all are asked to exit first, so the waits overlap."""
    for w in workers:
        w.ask_exit()
    deadline = time.monotonic() + timeout
    for w in workers:
        w.finish_close(max(0.1, deadline - time.monotonic()))
