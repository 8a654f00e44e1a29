"""A node that raises, a worker that is killed or exits: only that node fails (dependents are skipped),
the rest of the run finishes, the summary says why, and the run dir is complete."""

from __future__ import annotations

import json

import pytest

from flowstudio.engine import Engine
from flowstudio.engine.events import event_from_dict
from tests.engine.helpers import of_kind, statuses
from tests.stubs import make_flow


def failing_flow(mode: str, message: str = "stub failure", delay: float = 0.0):
    # bad -> after (skipped);  ok1 -> ok2 (independent, must finish)
    return make_flow(
        [("bad", "stub.fail", {"mode": mode, "message": message, "delay": delay}), ("after", "stub.echo", {}),
         ("ok1", "stub.model", {"size": 1}), ("ok2", "stub.train", {"steps": 2})],
        [("bad.value", "after.value"), ("ok1.model", "ok2.model")],
    )


def assert_run_dir_complete(result) -> None:
    run_dir = result.run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary, default=str))
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    kinds = [json.loads(line)["event"] for line in lines]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert [event_from_dict(json.loads(line)).kind for line in lines] == kinds
    assert (run_dir / "flow.json").is_file() and (run_dir / "run.json").is_file()
    for node_id, info in summary["nodes"].items():
        if info["status"] in ("done", "failed"):
            assert (run_dir / "nodes" / node_id / "result.json").is_file()
            assert (run_dir / "nodes" / node_id / "log.txt").is_file()


@pytest.mark.parametrize(("mode", "expect"), [
    ("raise", "RuntimeError: boom in the node"),
    ("kill", "killed by SIGKILL"),
    ("exit", "exited with status 3"),
])
def test_a_failing_worker_fails_only_its_node(engine: Engine, run_opts, mode: str, expect: str) -> None:
    result = engine.run(failing_flow(mode, "boom in the node", delay=0.2), options=run_opts())
    assert statuses(result) == {"bad": "failed", "after": "skipped", "ok1": "done", "ok2": "done"}
    assert result.status == "failed" and not result.ok
    bad = result.summary["nodes"]["bad"]
    assert expect in bad["error"]
    assert "about to fail" in bad["log_tail"]
    assert "printed by the failing node" in bad["log_tail"]  # the worker's stdout went to the node's log
    if mode == "raise":
        log = (result.run_dir / "nodes" / "bad" / "log.txt").read_text()
        assert "Traceback" in log and "RuntimeError: boom in the node" in log
    if mode == "kill":
        assert "out of memory" in bad["hint"]
    failed = of_kind(result.events, "node_failed")
    assert [e.node for e in failed] == ["bad"] and expect in failed[0].error
    assert "bad" in result.summary["nodes"]["after"]["error"]
    assert_run_dir_complete(result)


def test_the_engine_keeps_working_after_a_worker_died(engine: Engine, run_opts) -> None:
    engine.run(failing_flow("kill"), options=run_opts())
    again = engine.run(make_flow([("m", "stub.model", {"size": 7})], []), options=run_opts())
    assert again.ok


def test_node_run_error_carries_hint_and_field(engine: Engine, run_opts) -> None:
    result = engine.run(failing_flow("node_error", "the data has no 'text' column"), options=run_opts())
    bad = result.summary["nodes"]["bad"]
    assert bad["error"] == "the data has no 'text' column"
    assert bad["hint"] == "lower the stub's ambition" and bad["field"] == "message"
    event = of_kind(result.events, "node_failed")[0]
    assert event.hint == "lower the stub's ambition" and event.field == "message"


def test_cuda_oom_gets_a_hint(engine: Engine, run_opts) -> None:
    result = engine.run(failing_flow("raise", "CUDA out of memory. Tried to allocate 2.00 GiB"), options=run_opts())
    hint = result.summary["nodes"]["bad"]["hint"]
    assert "smaller batch" in hint and "LoRA" in hint and "max length" in hint


def test_in_process_failures_are_contained_too(engine: Engine, run_opts) -> None:
    result = engine.run(failing_flow("raise", "in process"), options=run_opts(workers=False))
    assert statuses(result)["bad"] == "failed" and statuses(result)["ok2"] == "done"
    assert "RuntimeError: in process" in result.summary["nodes"]["bad"]["error"]


def test_a_node_returning_a_non_json_value_fails_with_a_clear_error(run_opts, store) -> None:
    from typing import Any

    from flowstudio.core.node import Node, Port, Ports
    from flowstudio.core.ports import Number
    from flowstudio.core.registry import NodeRegistry
    from flowstudio.engine import DeviceInventory

    class Weird(Node):
        type = "test.weird"

        class Outputs(Ports):
            value = Port(Number)

        def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
            return {"value": object()}

    with Engine(NodeRegistry([Weird]), DeviceInventory.fake(), store) as engine:
        result = engine.run(make_flow([("w", "test.weird", {})], []), options=run_opts())
    assert "output 'value' is neither JSON nor an Artifact" in result.summary["nodes"]["w"]["error"]


def test_a_worker_node_class_that_workers_cannot_import_fails_clearly(run_opts, store) -> None:
    from typing import Any

    from flowstudio.core.node import Node, Port, Ports, Resources
    from flowstudio.core.ports import Number
    from flowstudio.core.registry import NodeRegistry
    from flowstudio.engine import DeviceInventory

    class Local(Node):
        type = "test.local"
        resources = Resources(worker=True)

        class Outputs(Ports):
            value = Port(Number)

        def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
            return {"value": 1}

    with Engine(NodeRegistry([Local]), DeviceInventory.fake(), store) as engine:
        result = engine.run(make_flow([("l", "test.local", {})], []), options=run_opts())
        info = result.summary["nodes"]["l"]
        assert info["status"] == "failed" and "cannot import it" in info["error"]
        assert "importable" in info["hint"]
        assert engine.run(make_flow([("l", "test.local", {})], []), options=run_opts(workers=False)).ok


def test_a_worker_that_cannot_start_fails_its_node_with_what_it_printed(engine: Engine, run_opts, tmp_path,
                                                                        monkeypatch) -> None:
    broken = tmp_path / "broken_site"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text(
        "import sys, os\nsys.stderr.write('broken environment: no such library\\n')\nsys.stderr.flush()\nos._exit(7)\n")
    monkeypatch.setenv("PYTHONPATH", str(broken))
    result = engine.run(make_flow([("m", "stub.model", {})], []), options=run_opts())
    info = result.summary["nodes"]["m"]
    assert info["status"] == "failed" and "exited with status 7" in info["error"]
    assert "broken environment: no such library" in info["log_tail"]


def test_a_node_that_forgets_a_connected_output_fails_not_its_consumer(run_opts, store) -> None:
    from typing import Any

    from flowstudio.core.node import Node, Port, Ports
    from flowstudio.core.ports import Number
    from flowstudio.core.registry import NodeRegistry
    from flowstudio.engine import DeviceInventory
    from tests.stubs import STUB_TYPES

    class Forgetful(Node):
        type = "test.forgetful"

        class Outputs(Ports):
            value = Port(Number)
            extra = Port(Number)

        def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
            return {"value": 1.0}

    flow = make_flow([("f", "test.forgetful", {}), ("e", "stub.echo", {})], [("f.extra", "e.value")])
    with Engine(NodeRegistry([*STUB_TYPES, Forgetful]), DeviceInventory.fake(), store) as engine:
        result = engine.run(flow, options=run_opts())
        assert statuses(result) == {"f": "failed", "e": "skipped"}
        assert "no value for output(s) extra" in result.summary["nodes"]["f"]["error"]
        # unconnected outputs may be left out
        alone = engine.run(make_flow([("f", "test.forgetful", {})], []), options=run_opts())
        assert alone.ok
