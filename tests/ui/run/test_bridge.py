"""The RunBridge on its own: engine runs off the GUI thread, events arrive on it, the engine stays warm."""

from __future__ import annotations

import threading

import pytest

from flowstudio.engine import DeviceInventory, Engine
from flowstudio.ui.run.bridge import RunBridge
from tests.stubs import make_flow, stub_registry


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch) -> None:
    """Runs and the cache go under tmp_path, not the user's data directory."""
    monkeypatch.setenv("FLOWSTUDIO_HOME", str(tmp_path / "home"))


def _run(qtbot, bridge: RunBridge, flow, flow_dir=None):
    threads: set[int] = set()
    kinds: list[str] = []

    def seen(event) -> None:
        threads.add(threading.get_ident())
        kinds.append(event.kind)

    bridge.event.connect(seen)
    with qtbot.waitSignal(bridge.runFinished, timeout=20_000) as blocker:
        assert bridge.start(flow, flow_dir)
        assert not bridge.start(flow, flow_dir)  # one run at a time
    bridge.event.disconnect(seen)
    qtbot.waitUntil(lambda: not bridge.running)
    return blocker.args[0], threads, kinds


def test_events_arrive_on_the_gui_thread_and_workers_stay_warm(qtbot, tmp_path):
    engine = Engine(registry=stub_registry(), inventory=DeviceInventory.fake(gpus=0))
    bridge = RunBridge(engine=engine)
    flow = make_flow([("w", "stub.warm", {"key": "k"})], [])
    first, threads, kinds = _run(qtbot, bridge, flow)  # no flow_dir: an unsaved flow gets a temp dir
    assert first.ok, first.summary
    assert threads == {threading.get_ident()}  # delivered here, not in the run thread
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert first.summary["nodes"]["w"]["outputs"]["info"]["warm"] is False
    second, _, _ = _run(qtbot, bridge, flow, tmp_path)
    assert second.summary["nodes"]["w"]["outputs"]["info"]["warm"] is True  # same worker, still loaded
    assert bridge.engine is engine
    pids = engine.worker_pids
    assert pids
    bridge.shutdown()
    assert bridge.engine is None and engine.worker_pids == []


def test_a_run_that_cannot_start_reports_why(qtbot):
    bridge = RunBridge(registry=stub_registry())
    flow = make_flow([("a", "stub.add", {})], [])  # a required input is missing
    with qtbot.waitSignal(bridge.runFailed, timeout=20_000) as blocker:
        bridge.start(flow, None)
    message, problems = blocker.args
    assert "a" in message and problems and problems[0].node_id == "a"
    qtbot.waitUntil(lambda: not bridge.running)
    bridge.shutdown()
