"""Workers start ahead of their first node (while the engine plans) and end without the interpreter's
teardown, yet their start-up output still reaches the node's log and their at-exit hooks still run."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstudio.core.registry import NodeRegistry
from flowstudio.engine import ArtifactStore, DeviceInventory, Engine
from flowstudio.engine.worker_pool import WorkerPool
from tests.engine import startup_nodes
from tests.engine.helpers import of_kind
from tests.stubs import STUB_TYPES, make_flow


@pytest.fixture
def probe_engine(store: ArtifactStore) -> Iterator[Engine]:
    eng = Engine(NodeRegistry([*STUB_TYPES, startup_nodes.AtExit, startup_nodes.PlanProbe]),
                 DeviceInventory.fake(gpus=0), store)
    yield eng
    eng.close()
    startup_nodes.ON_PLAN.clear()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_cpu_worker_starts_while_the_flow_is_planned_and_runs_the_first_worker_node(probe_engine: Engine,
                                                                                        run_opts) -> None:
    seen: list[list[int]] = []
    startup_nodes.ON_PLAN.append(lambda: seen.append(probe_engine.worker_pids))
    flow = make_flow([("p", "test.plan_probe", {}), ("w", "stub.busy", {"sleep": 0.0})], [])
    result = probe_engine.run(flow, options=run_opts())
    assert result.ok
    assert len(seen) == 1 and len(seen[0]) == 1  # one worker was there before the plan was finished
    started = {e.node: e.worker_pid for e in of_kind(result.events, "node_started")}
    assert started["w"] == seen[0][0]  # ... and the worker node ran in it
    assert started["p"] is None
    assert probe_engine.worker_pids == seen[0]


def test_no_worker_is_started_ahead_for_a_flow_of_in_process_nodes(probe_engine: Engine, run_opts) -> None:
    seen: list[list[int]] = []
    startup_nodes.ON_PLAN.append(lambda: seen.append(probe_engine.worker_pids))
    result = probe_engine.run(make_flow([("p", "test.plan_probe", {}), ("c", "stub.const", {"value": 2})], []),
                              options=run_opts())
    assert result.ok and seen == [[]] and probe_engine.worker_pids == []


def test_no_worker_is_started_ahead_for_gpu_nodes_on_a_gpu_or_without_workers(store, run_opts) -> None:
    gpu_flow = make_flow([("m", "stub.model", {})], [])  # Resources(gpus=1): a GPU worker, chosen later
    with Engine(NodeRegistry(STUB_TYPES), DeviceInventory.fake(gpus=1), store) as engine:
        assert not engine._wants_cpu_worker(gpu_flow, "auto")
        assert engine._wants_cpu_worker(gpu_flow, "cpu")  # it falls back to a CPU worker
        result = engine.run(gpu_flow, options=run_opts())
        assert result.ok and result.summary["nodes"]["m"]["outputs"]
        started = of_kind(result.events, "node_started")[0]
        assert started.cuda_visible_devices == "0" and engine.worker_pids == [started.worker_pid]
    with Engine(NodeRegistry(STUB_TYPES), DeviceInventory.fake(gpus=0), store) as engine:
        assert engine.run(make_flow([("w", "stub.busy", {"sleep": 0.0})], []), options=run_opts(workers=False)).ok
        assert engine.worker_pids == []


def test_a_started_worker_is_taken_by_the_next_node_and_not_started_twice(tmp_path: Path) -> None:
    pool = WorkerPool(cpu_count=2)
    try:
        pool.prestart("")
        pool.prestart("")  # an idle one is there: nothing new
        assert len(pool.pids) == 1
        log = tmp_path / "node" / "log.txt"
        worker = pool.take("", str(log), "stub.busy")
        assert [worker.pid] == pool.pids
        assert log.exists()  # the node's log is where its start-up output goes (none here)
    finally:
        pool.close()


def test_start_up_output_of_a_worker_started_ahead_reaches_the_log_of_the_node_that_took_it(tmp_path: Path,
                                                                                            monkeypatch) -> None:
    broken = tmp_path / "broken_site"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text(
        "import sys, os, time\nsys.stderr.write('broken environment: no such library\\n')\nsys.stderr.flush()\n"
        "time.sleep(1.0)\nos._exit(7)\n")
    monkeypatch.setenv("PYTHONPATH", str(broken))
    pool = WorkerPool(cpu_count=2)
    try:
        pool.prestart("")
        log = tmp_path / "node" / "log.txt"
        worker = pool.take("", str(log), "stub.busy")  # still starting: it sleeps before it dies
        _, msg = pool.inbox.get(timeout=30)
        assert msg == ("died", 7)
        assert "broken environment: no such library" in log.read_text()
        assert not worker.alive
    finally:
        pool.close()


def test_a_worker_ends_without_teardown_but_runs_its_at_exit_hooks(probe_engine: Engine, run_opts,
                                                                   tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    result = probe_engine.run(make_flow([("a", "test.atexit", {"marker": str(marker)})], []), options=run_opts())
    pid = result.summary["nodes"]["a"]["outputs"]["pid"]
    assert pid in probe_engine.worker_pids and not marker.exists()
    probe_engine.close()
    assert _gone(pid)
    assert marker.read_text() == f"exited {pid}"


def test_close_asks_every_idle_worker_to_exit_before_waiting_for_any(tmp_path: Path) -> None:
    pool = WorkerPool(cpu_count=2)
    workers = [pool.take(str(i)) for i in range(3)]
    for _ in workers:
        assert pool.inbox.get(timeout=60)[1][0] == "ready"
    asked: list[int] = []
    waited: list[int] = []
    for w in workers:
        ask, finish = w.ask_exit, w.finish_close
        w.ask_exit = lambda w=w, ask=ask: (asked.append(w.id), ask())[1]  # type: ignore[method-assign]
        w.finish_close = (lambda timeout=3.0, w=w, finish=finish:  # type: ignore[method-assign]
                          (waited.append(len(asked)), finish(timeout))[1])
    pool.close()
    assert sorted(asked) == sorted(w.id for w in workers)
    assert waited == [3, 3, 3]  # every worker had been asked when the first wait began
    deadline = time.time() + 10
    while not all(_gone(w.pid) for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert all(_gone(w.pid) for w in workers)


def test_wait_exit_returns_the_exit_status_and_times_out_on_a_live_process() -> None:
    import subprocess
    import sys

    from flowstudio.engine.worker import wait_exit

    quick = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(5)"])
    assert wait_exit(quick, 30) == 5
    assert wait_exit(quick, 0) == 5  # already reaped: at once
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            wait_exit(slow, 0.2)
        slow.kill()
        assert wait_exit(slow, 30) == -9
    finally:
        slow.kill()
        slow.wait()
