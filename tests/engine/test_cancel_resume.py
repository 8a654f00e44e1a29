"""Stop a run (cancel()), then resume it in the same run dir: finished nodes are not redone and the
stopped training node continues from its checkpoint."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from flowstudio.engine import Engine
from tests.engine.helpers import cached, of_kind, ran, statuses
from tests.stubs import make_flow


def training_flow(steps: int = 12):
    # m -> t -> after ; side (independent, quick)
    return make_flow(
        [("m", "stub.model", {"size": 2}), ("t", "stub.train", {"steps": steps, "step_seconds": 0.1}),
         ("after", "stub.echo", {}), ("side", "stub.const", {"value": 5})],
        [("m.model", "t.model"), ("t.model", "after.value")],
    )


def stop_at_step(engine: Engine, step: int):
    """Press stop once (a second cancel() would kill the worker at once)."""
    pressed = []

    def listener(event) -> None:
        if event.kind == "node_progress" and event.node == "t" and event.step >= step and not pressed:
            pressed.append(True)
            engine.cancel()

    return listener


def test_cancel_then_resume_continues_from_the_checkpoint(engine: Engine, run_opts) -> None:
    flow = training_flow()
    stopped = engine.run(flow, options=run_opts(), listeners=[stop_at_step(engine, 3)])
    assert stopped.status == "cancelled"
    st = statuses(stopped)
    assert st["m"] == "done" and st["side"] == "done" and st["t"] == "cancelled" and st["after"] == "cancelled"
    ckpt = Path(stopped.summary["nodes"]["t"]["checkpoint_dir"])
    assert ckpt == stopped.run_dir / "nodes" / "t" / "checkpoint"
    saved = json.loads((ckpt / "state.json").read_text())["step"]
    assert 3 <= saved < 12
    cancelled = {e.node: e for e in of_kind(stopped.events, "node_cancelled")}
    assert cancelled["t"].started and not cancelled["after"].started

    resumed = engine.resume(stopped.run_dir)
    assert resumed.ok, resumed.summary
    assert resumed.run_dir == stopped.run_dir
    assert ran(resumed.events) == {"t", "after"}  # m and side are not redone
    assert cached(resumed.events) == {"m", "side"}
    meta = resumed.summary["nodes"]["t"]["outputs"]["model"]["meta"]
    assert meta["steps"] == 12 and meta["lineage"] == [saved]  # continued from the saved step
    # the run dir holds both attempts
    events = [json.loads(line) for line in (stopped.run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("run_started") == 2
    assert json.loads((stopped.run_dir / "summary.json").read_text())["status"] == "succeeded"


def test_resume_after_the_cache_was_cleared(engine: Engine, store, run_opts) -> None:
    stopped = engine.run(training_flow(), options=run_opts(), listeners=[stop_at_step(engine, 2)])
    store.clear()
    resumed = engine.resume(stopped.run_dir)
    assert resumed.ok
    # light results recorded in the run dir are reused; a model whose files went with the cache is rebuilt
    assert {e.node: e.source for e in of_kind(resumed.events, "node_cached")} == {"side": "run"}
    assert ran(resumed.events) == {"m", "t", "after"}
    assert resumed.summary["nodes"]["t"]["outputs"]["model"]["meta"]["lineage"] != []


def test_cancel_from_another_thread_while_running_in_a_non_main_thread(engine: Engine, run_opts) -> None:
    results = []
    started = threading.Event()

    def listener(event) -> None:
        if event.kind == "node_progress" and event.node == "t":
            started.set()

    thread = threading.Thread(target=lambda: results.append(
        engine.run(training_flow(steps=200), options=run_opts(), listeners=[listener])))
    thread.start()
    assert started.wait(30)
    engine.cancel()
    thread.join(30)
    assert not thread.is_alive()
    assert results[0].status == "cancelled" and statuses(results[0])["t"] == "cancelled"


def test_second_cancel_kills_the_worker_at_once(engine: Engine, run_opts) -> None:
    flow = make_flow([("slow", "stub.busy", {"sleep": 30})], [])
    started = threading.Event()
    results = []

    def listener(event) -> None:
        if event.kind == "node_started":
            started.set()

    thread = threading.Thread(target=lambda: results.append(engine.run(flow, options=run_opts(), listeners=[listener])))
    thread.start()
    assert started.wait(30)
    engine.cancel()  # the busy node does not look at ctx.cancelled(): a clean stop would wait 30 s
    engine.cancel()
    thread.join(15)
    assert not thread.is_alive()
    assert statuses(results[0]) == {"slow": "cancelled"}
    assert engine.worker_pids == []


def test_close_during_a_run_stops_it(engine: Engine, run_opts) -> None:
    flow = make_flow([("slow", "stub.busy", {"sleep": 30})], [])
    started = threading.Event()
    results = []
    thread = threading.Thread(target=lambda: results.append(engine.run(
        flow, options=run_opts(), listeners=[lambda e: started.set() if e.kind == "node_started" else None])))
    thread.start()
    assert started.wait(30)
    engine.close()  # e.g. the app quits while a run is going
    thread.join(15)
    assert not thread.is_alive()
    assert statuses(results[0]) == {"slow": "cancelled"} and engine.worker_pids == []
