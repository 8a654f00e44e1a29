"""Warm workers between runs, the workers' environment, listeners and the event record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flowstudio.engine import DeviceInventory, Engine
from flowstudio.engine.events import EVENT_TYPES, NodeProgress, event_from_dict
from tests.engine.helpers import of_kind
from tests.stubs import make_flow, stub_registry


def warm_flow(key: str = "model-a"):
    return make_flow([("w", "stub.warm", {"key": key})], [])


def test_a_model_loaded_in_a_worker_stays_warm_for_the_next_run(engine: Engine, run_opts) -> None:
    first = engine.run(warm_flow(), options=run_opts()).summary["nodes"]["w"]["outputs"]["info"]
    second = engine.run(warm_flow(), options=run_opts()).summary["nodes"]["w"]["outputs"]["info"]
    assert first["warm"] is False and second["warm"] is True
    assert second["pid"] == first["pid"] and second["loaded_at"] == first["loaded_at"]
    assert first["pid"] != os.getpid()


def test_close_stops_the_workers(store, run_opts) -> None:
    engine = Engine(stub_registry(), DeviceInventory.fake(), store)
    pid = engine.run(warm_flow(), options=run_opts()).summary["nodes"]["w"]["outputs"]["info"]["pid"]
    assert engine.worker_pids == [pid]
    engine.close()
    assert engine.worker_pids == []
    try:
        os.kill(pid, 0)
        # the process may linger as a zombie for a moment only if nobody waited; close() waits
        raise AssertionError(f"worker {pid} still alive")
    except ProcessLookupError:
        pass


def test_workers_run_offline_with_bounded_threads(store, run_opts, monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with Engine(stub_registry(), DeviceInventory.fake(gpus=0, cpu_count=4), store) as engine:
        env = engine.run(warm_flow(), options=run_opts()).summary["nodes"]["w"]["outputs"]["info"]["env"]
    assert env["HF_HUB_OFFLINE"] == env["HF_DATASETS_OFFLINE"] == env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert env["OMP_NUM_THREADS"] == "3"  # cores - 1
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # a CPU worker sees no GPU


def test_user_thread_setting_is_respected(store, run_opts, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with Engine(stub_registry(), DeviceInventory.fake(gpus=0, cpu_count=8), store) as engine:
        env = engine.run(warm_flow(), options=run_opts()).summary["nodes"]["w"]["outputs"]["info"]["env"]
    assert env["OMP_NUM_THREADS"] == "1"


def test_events_reach_listeners_in_order_and_are_recorded(engine: Engine, run_opts) -> None:
    seen = []

    def broken(event) -> None:
        raise ValueError("listener bug")

    flow = make_flow([("m", "stub.model", {}), ("t", "stub.train", {"steps": 3})], [("m.model", "t.model")])
    result = engine.run(flow, options=run_opts(), listeners=[broken, seen.append])
    assert result.ok  # a broken listener does not break the run
    assert "ValueError: listener bug" in result.summary["listener_errors"][0]
    assert seen == result.events
    kinds = [e.kind for e in seen]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    t_events = [e.kind for e in seen if getattr(e, "node", None) == "t"]
    assert t_events[0] == "node_queued" and t_events[1] == "node_started" and t_events[-1] == "node_finished"
    assert [(e.step, e.total) for e in of_kind(seen, "node_progress")] == [(1, 3), (2, 3), (3, 3)]
    assert [e.value for e in of_kind(seen, "node_metric")] == [1.0, 0.5, 1 / 3]
    assert {e.node for e in of_kind(seen, "node_artifact")} == {"m", "t"}
    assert result.summary["nodes"]["t"]["metrics"] == {"loss": 1 / 3}
    recorded = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    assert [event_from_dict(r) for r in recorded] == seen
    metrics = (result.run_dir / "nodes" / "t" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(m)["step"] for m in metrics] == [1, 2, 3]


def test_every_event_type_round_trips_through_json() -> None:
    for cls in EVENT_TYPES.values():
        event = cls()
        assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event
    # a reader ignores fields it does not know (events.jsonl written by a newer FlowStudio)
    newer = event_from_dict({"event": "node_progress", "node": "x", "step": 1, "t": 5.0, "new_field": 2})
    assert newer == NodeProgress(node="x", step=1, t=5.0)


def test_the_engine_imports_neither_torch_nor_qt() -> None:
    code = ("import sys, flowstudio.engine, flowstudio.cli.run, flowstudio.cli.cache; "
            "bad = [m for m in ('torch', 'transformers', 'PySide6') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_streamed_tokens_and_log_lines_arrive_in_order(engine: Engine, run_opts) -> None:
    result = engine.run(make_flow([("g", "stub.stream", {"text": "one two three four"})], []), options=run_opts())
    pieces = [e.text for e in of_kind(result.events, "node_stream")]
    assert pieces == ["one ", "two ", "three ", "four "]
    assert [e.line for e in of_kind(result.events, "node_log")] == ["generated 4 pieces"]
    assert "generated 4 pieces" in (result.run_dir / "nodes" / "g" / "log.txt").read_text()
    assert result.summary["nodes"]["g"]["outputs"]["text"] == "one two three four"


def test_a_node_goes_back_to_the_worker_that_has_its_model_warm(engine: Engine, run_opts) -> None:
    both = make_flow([("w", "stub.warm", {"key": "m1"}), ("b", "stub.busy", {"sleep": 0.5})], [])
    first = engine.run(both, options=run_opts(cpu_concurrency=2))
    warm_pid = first.summary["nodes"]["w"]["outputs"]["info"]["pid"]
    assert first.summary["nodes"]["b"]["outputs"]["span"]["pid"] != warm_pid  # two workers, busy one used last
    again = engine.run(warm_flow("m1"), options=run_opts())
    info = again.summary["nodes"]["w"]["outputs"]["info"]
    assert info["pid"] == warm_pid and info["warm"] is True
