"""The served names. Each has one worker thread that takes jobs first come, first served, so a model is
loaded once, stays loaded, and concurrent requests are queued fairly without sharing generation state.

A job carries its own cancel flag: a client that disconnects sets it, and the generation stops within a
token (a job still waiting in the queue is dropped when its turn comes).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .errors import model_not_found


@dataclass
class Job:
    fn: Callable[[Callable[[], bool]], Any]  # called with `cancelled`
    future: Future = field(default_factory=Future)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.perf_counter)

    def cancel(self) -> None:
        self.cancel_event.set()

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class SerialWorker:
    """One thread running jobs in arrival order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name=f"serve-{name}", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[[Callable[[], bool]], Any]) -> Job:
        job = Job(fn)
        self.jobs.put(job)
        return job

    def pending(self) -> int:
        return self.jobs.qsize()

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if job.cancelled():
                job.future.cancel()
                continue
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(job.fn(job.cancelled))
            except BaseException as err:  # the request gets the error; the worker goes on
                job.future.set_exception(err)

    def stop(self) -> None:
        self.jobs.put(None)


@dataclass
class Served:
    backend: Any
    worker: SerialWorker
    created: int = field(default_factory=lambda: int(time.time()))


class ModelPool:
    def __init__(self) -> None:
        self.entries: dict[str, Served] = {}

    def add(self, backend: Any) -> None:
        """Serve `backend` under `backend.name` (loaded by `load_all`, or already loaded)."""
        if backend.name in self.entries:
            raise ValueError(f"the name {backend.name!r} is served twice")
        self.entries[backend.name] = Served(backend, SerialWorker(backend.name))

    def load_all(self, on_loaded: Callable[[str, float], None] | None = None) -> None:
        """Load every backend now (in its own worker thread, so models are used where they were loaded)."""
        for name, entry in self.entries.items():
            started = time.perf_counter()
            job = entry.worker.submit(lambda cancelled, b=entry.backend: b.load())
            job.future.result()
            if on_loaded is not None:
                on_loaded(name, time.perf_counter() - started)

    def names(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str) -> Served:
        entry = self.entries.get(name)
        if entry is None:
            raise model_not_found(name, self.names())
        return entry

    def close(self) -> None:
        for entry in self.entries.values():
            entry.worker.stop()
            close = getattr(entry.backend, "close", None)
            if callable(close):
                close()
