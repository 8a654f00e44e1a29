"""Light nodes that a flow can make slow or big run in a worker: Stop works, a kill fails only that node."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources
from flowstudio.core.ports import Any as AnyValue
from flowstudio.core.registry import NodeRegistry, default_registry
from flowstudio.engine import DeviceInventory, Engine, RunOptions
from flowstudio.engine.runner import HOST_OOM_HINT
from flowstudio.engine.scheduler import ResourcePool
from tests.engine.helpers import of_kind, statuses
from tests.stubs import STUB_TYPES, make_flow


class WhereAmI(Node):
    """An isolated light node reporting the process it ran in."""

    type = "stub.where"
    title = "Where"
    resources = Resources(isolated=True)

    class Outputs(Ports):
        pid = Port(AnyValue)

    def run(self, ctx: Any, inputs: Any, params: NodeParams) -> dict[str, Any]:
        return {"pid": os.getpid()}


class Devour(Node):
    """Stands for a data file too big for memory: the kernel's OOM killer sends SIGKILL to the process."""

    type = "stub.devour"
    title = "Devour"
    resources = Resources(isolated=True)

    class Outputs(Ports):
        value = Port(AnyValue)

    def run(self, ctx: Any, inputs: Any, params: NodeParams) -> dict[str, Any]:
        os.kill(os.getpid(), signal.SIGKILL)
        return {"value": None}


class Backtrack(Node):
    """A catastrophic regex in the standard `re` module: it holds the GIL for hours, so nothing in its
    process can run — not ctx.cancelled(), not a signal handler."""

    type = "stub.backtrack"
    title = "Backtrack"
    resources = Resources(isolated=True)

    class Outputs(Ports):
        value = Port(AnyValue)

    def run(self, ctx: Any, inputs: Any, params: NodeParams) -> dict[str, Any]:
        return {"value": bool(re.match(r"(a|aa)+$", "a" * 80 + "b"))}


def registry() -> NodeRegistry:
    return NodeRegistry([*STUB_TYPES, WhereAmI, Devour, Backtrack])


@pytest.fixture
def iso_engine(tmp_path: Path):  # noqa: ANN201
    from flowstudio.engine import ArtifactStore

    engine = Engine(registry=registry(), inventory=DeviceInventory.fake(gpus=0, cpu_count=4),
                    store=ArtifactStore(tmp_path / "cache"))
    yield engine
    engine.close()


def test_an_isolated_node_takes_a_light_slot_but_runs_in_a_worker() -> None:
    pool = ResourcePool(DeviceInventory.fake(gpus=0, cpu_count=4), cpu_concurrency=1, light_concurrency=2)
    heavy = pool.request(Resources(worker=True), wants_worker=True)
    first = pool.request(Resources(isolated=True), wants_worker=False)
    second = pool.request(Resources(isolated=True), wants_worker=False)
    assert heavy is not None and heavy.heavy
    assert first is not None and first.worker and not first.heavy  # not blocked by the heavy node
    assert second is not None and second.worker
    assert pool.request(Resources(isolated=True), wants_worker=False) is None  # light slots are full
    pool.release(first)
    assert pool.request(Resources(), wants_worker=False) is not None
    plain = ResourcePool(DeviceInventory.fake(gpus=0), use_workers=False).request(Resources(isolated=True), False)
    assert plain is not None and not plain.worker  # RunOptions(workers=False) keeps everything in-process


def test_an_isolated_node_runs_outside_the_engine_process(iso_engine: Engine, tmp_path: Path) -> None:
    result = iso_engine.run(make_flow([("w", "stub.where", {})], []), options=RunOptions(run_dir=tmp_path / "r"))
    assert result.ok
    assert result.summary["nodes"]["w"]["outputs"]["pid"] != os.getpid()


def test_a_killed_isolated_node_fails_alone_and_the_summary_is_written(iso_engine: Engine, tmp_path: Path) -> None:
    flow = make_flow([("big", "stub.devour", {}), ("c", "stub.const", {"value": 3})], [])
    result = iso_engine.run(flow, options=RunOptions(run_dir=tmp_path / "r"))
    assert statuses(result) == {"big": "failed", "c": "done"}
    node = result.summary["nodes"]["big"]
    assert "killed by SIGKILL" in node["error"] and node["hint"] == HOST_OOM_HINT
    assert (tmp_path / "r" / "summary.json").exists()


def test_stop_ends_a_node_that_holds_the_gil(iso_engine: Engine, tmp_path: Path) -> None:
    """Stop asks nicely; the node cannot hear it, so the second Stop kills its worker. The run ends in
    seconds, with the node `cancelled`, and the engine is usable again."""
    started = threading.Event()
    iso_engine_listeners = [lambda e: started.set() if e.kind == "node_started" and e.node == "re" else None]
    out: dict[str, Any] = {}
    flow = make_flow([("re", "stub.backtrack", {})], [])

    def run() -> None:
        out["result"] = iso_engine.run(flow, options=RunOptions(run_dir=tmp_path / "r"),
                                       listeners=iso_engine_listeners)

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(60)
    time.sleep(0.5)
    t0 = time.time()
    iso_engine.cancel()
    time.sleep(1.0)
    iso_engine.cancel()  # the second Stop: kill
    thread.join(30)
    assert not thread.is_alive(), "the run did not end"
    assert time.time() - t0 < 15
    result = out["result"]
    assert result.status == "cancelled" and statuses(result) == {"re": "cancelled"}
    again = iso_engine.run(make_flow([("c", "stub.const", {"value": 1})], []),
                           options=RunOptions(run_dir=tmp_path / "r2"))
    assert again.ok


def test_tokenizer_and_data_load_side_by_side_on_a_cold_engine(tmp_path: Path) -> None:
    """They used to share the engine process, where two threads importing transformers at once failed
    data.load ("module 'transformers' has no attribute 'PreTrainedTokenizerBase'"). Now each runs in
    its own worker process; run the pair cold (a fresh engine, no warm worker) a few times."""
    from flowstudio.engine import ArtifactStore

    flow = make_flow([("tok", "tokenizer.load", {"source": "builtin:tiny-llama"}),
                      ("data", "data.load", {"source": "builtin:sft-chat"}),
                      ("stats", "data.tokenize", {})],
                     [("tok.tokenizer", "stats.tokenizer"), ("data.dataset", "stats.dataset")])
    for attempt in range(2):
        with Engine(registry=default_registry(), inventory=DeviceInventory.fake(gpus=0, cpu_count=4),
                    store=ArtifactStore(tmp_path / f"cache{attempt}")) as engine:
            result = engine.run(flow, options=RunOptions(run_dir=tmp_path / f"run{attempt}"))
        assert result.ok, result.summary["nodes"]
        pids = {e.node: e.worker_pid for e in of_kind(result.events, "node_started")}
        assert all(pids[n] not in (None, os.getpid()) for n in ("tok", "data", "stats")), pids
