"""launcher=accelerate's machinery with real `accelerate launch` processes (2 ranks, gloo) and a node that
trains nothing: events reach the engine, Stop stops every rank at the same step and Resume continues, a rank's
error fails the node with its text, and no process outlives the node or a killed worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from flowstudio.engine import ArtifactStore, DeviceInventory, Engine, RunOptions
from tests.nodes.training.launch_stubs import probe_registry
from tests.stubs import make_flow

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(registry=probe_registry(), inventory=DeviceInventory.fake(gpus=0),
                 store=ArtifactStore(tmp_path / "cache"))
    yield eng
    eng.close()


def rank_pids(ckpt: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(ckpt.glob("pid-*"))]


def gone(pids: list[int], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.2)
    return False


def test_stop_then_resume_through_the_launcher(engine: Engine, tmp_path: Path) -> None:
    pressed: list[int] = []

    def stop_at_step_3(event) -> None:
        if event.kind == "node_progress" and (event.step or 0) >= 3 and not pressed:
            pressed.append(event.step)
            engine.cancel()

    flow = make_flow([("p", "test.rank_probe", {"steps": 16})], [])
    stopped = engine.run(flow, options=RunOptions(run_dir=tmp_path / "run"), listeners=[stop_at_step_3])
    assert stopped.status == "cancelled", stopped.summary
    node = stopped.summary["nodes"]["p"]
    assert node["status"] == "cancelled"
    ckpt = Path(node["checkpoint_dir"])
    saved = json.loads((ckpt / "state.json").read_text())["step"]
    assert 3 <= saved < 16
    # both ranks stopped, at the same step (the stop is a collective)
    assert [(ckpt / f"stopped-{r}").read_text() for r in (0, 1)] == [str(saved)] * 2
    assert len(rank_pids(ckpt)) == 2 and gone(rank_pids(ckpt))

    events: list = []
    resumed = engine.resume(stopped.run_dir, listeners=[events.append])
    assert resumed.ok, resumed.summary
    metrics = resumed.summary["nodes"]["p"]["metrics"]
    assert metrics["world_size"] == 2 and metrics["start_step"] == saved
    assert resumed.summary["nodes"]["p"]["outputs"]["metrics"]["rank"] == 0  # rank 0's outputs
    progress = [e.step for e in events if e.kind == "node_progress" and e.node == "p" and e.step]
    assert progress and progress[-1] == 16 and min(progress) == saved + 1  # rank 0's events, relayed
    log = Path(resumed.summary["nodes"]["p"]["log"]).read_text()
    assert "launching 2 process(es) with accelerate" in log and f"rank 0 of 2 starts at step {saved}" in log
    assert "rank 1 of 2" not in log.split("launching")[-1].split("starts at step")[0]  # rank 1's events dropped
    assert gone(rank_pids(ckpt))


@pytest.mark.slow
def test_a_failing_rank_fails_the_node_with_its_error(engine: Engine, tmp_path: Path) -> None:
    flow = make_flow([("p", "test.rank_probe", {"fail_rank": 1, "steps": 2})], [])
    result = engine.run(flow, options=RunOptions(run_dir=tmp_path / "run"))
    node = result.summary["nodes"]["p"]
    assert node["status"] == "failed"
    assert "failed on purpose in rank 1" in node["error"] and "(rank 1 of 2)" in node["error"], node
    assert node["field"] == "fail_rank" and node["hint"] == "set fail_rank to -1"
    ckpt = result.run_dir / "nodes" / "p" / "checkpoint"
    assert len(rank_pids(ckpt)) == 2 and gone(rank_pids(ckpt))


KILLED_PARENT = """
import sys
from pathlib import Path
from flowstudio.core.node import PortValues
from flowstudio.engine.context import LocalContext
from tests.nodes.training.launch_stubs import RankProbe

tmp = Path(sys.argv[1])
ctx = LocalContext(node_id="p", work_dir=tmp / "work", checkpoint_dir=tmp / "ckpt")
RankProbe().run(ctx, PortValues({}), RankProbe.Params(hang=True))
"""


@pytest.mark.slow
def test_no_rank_outlives_a_killed_worker(tmp_path: Path) -> None:
    """The engine kills a worker with SIGKILL (a second Stop, a crash): its launcher and every rank die too,
    though the ranks run in sessions of their own."""
    parent = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, str(tmp_path)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(rank_pids(tmp_path / "ckpt")) < 2:
            assert parent.poll() is None and time.monotonic() < deadline, "the ranks never started"
            time.sleep(0.2)
        tree = [p.pid for p in psutil.Process(parent.pid).children(recursive=True)]
        ranks = rank_pids(tmp_path / "ckpt")
        assert set(ranks) <= set(tree)  # launcher -> ranks
        assert all(os.getsid(r) == r for r in ranks)  # each rank leads its own session: a group kill misses it
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert gone(tree), [p for p in tree if psutil.pid_exists(p)]
    finally:
        if parent.poll() is None:
            parent.kill()
