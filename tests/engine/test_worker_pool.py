"""The worker pool on its own: reuse by devices and node type, forgetting the dead, trimming the idle."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from flowstudio.engine.worker_pool import WorkerPool


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(cpu_count=2)
    yield pool
    pool.close()


def _wait_ready(pool: WorkerPool, count: int) -> None:
    """Take the workers' "ready" messages (each worker sends one when it has started)."""
    for _ in range(count):
        _, msg = pool.inbox.get(timeout=60)
        assert msg[0] == "ready"


def test_an_idle_worker_is_reused_for_the_same_devices_only(pool: WorkerPool) -> None:
    cpu = pool.take("")
    cpu.node_types.add("stub.warm")
    again = pool.take("", node_type="stub.warm")
    assert again is cpu
    again.node = "busy"  # running a node: not idle any more
    other = pool.take("")
    assert other is not cpu
    gpu = pool.take("0")
    assert gpu is not cpu and gpu is not other and gpu.devices == "0"
    _wait_ready(pool, 3)
    assert sorted(pool.pids) == sorted(w.pid for w in (cpu, other, gpu))


def test_idle_device_sets_lists_idle_gpu_workers_most_recent_first(pool: WorkerPool) -> None:
    first, second = pool.take("0"), pool.take("1,2")
    first.last_used, second.last_used = time.time() - 10, time.time()
    assert pool.idle_device_sets() == [(1, 2), (0,)]
    second.node = "busy"
    assert pool.idle_device_sets() == [(0,)]


def test_a_dead_worker_is_forgotten_when_the_inbox_is_drained(pool: WorkerPool) -> None:
    worker = pool.take("")
    _wait_ready(pool, 1)
    worker.kill()
    deadline = time.time() + 30
    while worker.alive and time.time() < deadline:
        time.sleep(0.05)
    pool.drain()
    assert pool.pids == []
    assert pool.take("") is not worker


def test_trim_keeps_the_most_recently_used_idle_workers(pool: WorkerPool) -> None:
    workers = [pool.take(str(i)) for i in range(3)]
    for age, worker in zip((30, 20, 10), workers, strict=True):
        worker.last_used = time.time() - age
    _wait_ready(pool, 3)
    pool.trim_idle(max_idle=1)
    assert pool.pids == [workers[2].pid]
    assert not workers[0].is_running() and not workers[1].is_running()
