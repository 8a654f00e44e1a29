"""Running flows from the window: the real engine behind Run / Run to Selected / Stop, live feedback.

The window's own RunBridge runs the test registry (stub nodes, io.text, io.output); heavy stub nodes
run in real worker processes, which the window closes when it goes.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowstudio.core.document import FlowDocument
from tests.stubs import make_flow
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture

RUN_TIMEOUT_MS = 20_000


def _open(window, nodes, edges=(), path: Path | None = None) -> None:
    if path is not None:
        support.write_flow(path, nodes, edges)
        assert window.open_path(path)
    else:
        window.set_document(FlowDocument(make_flow(nodes, list(edges)), None, window.registry))


def _run(window, qtbot, action: str = "run"):
    """Trigger a Run action and wait for the run to end; returns the RunResult."""
    with qtbot.waitSignal(window.run_bridge.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        window.actions_[action].trigger()
    qtbot.waitUntil(lambda: not window.run_bridge.running)
    return blocker.args[0]


def _badge(window, node_id: str) -> str | None:
    return window.canvas.canvas_scene.nodes[node_id].status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


TEXT_FLOW = ([("greeting", "io.text", {"text": "Hello, flow"}), ("answer", "io.output", {})],
             [("greeting.text", "answer.value")])


def test_run_shows_badges_and_outputs_then_cached_on_the_second_run(window, qtbot, tmp_path):
    _open(window, *TEXT_FLOW, path=tmp_path / "hello.flow.json")
    assert window.actions_["run"].isEnabled() and not window.actions_["stop"].isEnabled()
    result = _run(window, qtbot)
    assert result.ok, result.summary
    assert result.summary["outputs"] == {"answer": "Hello, flow"}
    assert _badge(window, "greeting") == "done" and _badge(window, "answer") == "done"
    panel = window.run_panel
    assert panel.outputs.topLevelItem(0).text(0) == "answer"
    assert panel.outputs.topLevelItem(0).text(1) == "Hello, flow"
    assert panel.rows["greeting"].text(1) == "done"
    assert panel.run_dir == result.run_dir and panel.open_dir.isEnabled()
    assert "answer: Hello, flow" in panel.log_text()  # io.output's log line
    assert "Succeeded" in panel.state.text()
    assert window.actions_["run"].isEnabled() and not window.actions_["stop"].isEnabled()
    # the flow's directory is the run's flow_dir; the run used a snapshot (the document is untouched)
    assert (result.run_dir / "flow.json").exists()
    assert not window.is_dirty()

    again = _run(window, qtbot)
    assert again.ok
    assert _badge(window, "greeting") == "cached" and _badge(window, "answer") == "done"  # io.output always runs
    assert panel.rows["greeting"].text(1) == "cached"
    assert "Run succeeded" in window.status.run.text()


def test_a_flow_with_problems_does_not_start(window, qtbot):
    _open(window, [("greeting", "io.text", {}), ("answer", "io.output", {})])  # answer.value is not connected
    window.docks["history"].raise_()
    window.actions_["run"].trigger()
    assert not window.run_bridge.running
    assert window.run_bridge.engine is None  # nothing was started
    assert window.problems.problems and any(p.node_id == "answer" for p in window.problems.problems)
    assert window.docks["problems"].isVisible() and not window.docks["problems"].visibleRegion().isEmpty()
    assert "problem" in window.status.run.text()
    assert _badge(window, "greeting") is None


def test_run_to_selected_runs_only_what_the_node_needs(window, qtbot):
    _open(window, [("a", "stub.const", {"value": 2}), ("b", "stub.add", {"bias": 1}), ("c", "stub.echo", {})],
          [("a.value", "b.a"), ("b.value", "c.value")])
    window.canvas.select_nodes(["b"])
    result = _run(window, qtbot, "run_selected")
    assert result.ok and set(result.summary["nodes"]) == {"a", "b"}
    assert _badge(window, "a") == "done" and _badge(window, "b") == "done" and _badge(window, "c") is None


def test_a_failed_node_shows_its_error_and_hint(window, qtbot):
    _open(window, [("f", "stub.fail", {"mode": "node_error", "message": "out of ideas"}), ("e", "stub.echo", {})],
          [("f.value", "e.value")])
    result = _run(window, qtbot)
    assert result.status == "failed"
    assert _badge(window, "f") == "failed" and _badge(window, "e") == "skipped"
    tip = window.canvas.canvas_scene.nodes["f"].toolTip()
    assert "out of ideas" in tip and "lower the stub's ambition" in tip
    panel = window.run_panel
    assert panel.rows["f"].text(1) == "failed" and "out of ideas" in panel.rows["f"].text(4)
    assert "lower the stub's ambition" in panel.errors["f"]
    assert "FAILED: out of ideas" in panel.log_text()


def test_metrics_reach_the_plot_of_the_selected_node(window, qtbot):
    _open(window, [("m", "stub.model", {}), ("t", "stub.train", {"steps": 5})], [("m.model", "t.model")])
    window.canvas.select_nodes(["t"])
    result = _run(window, qtbot)
    assert result.ok, result.summary
    plot = window.run_panel.plot
    assert [p for p in plot.series["loss"]] == [(float(s), 1.0 / s) for s in range(1, 6)]
    assert "loss 0.2" in window.run_panel.rows["t"].text(4)
    assert window.run_panel.rows["t"].text(3).startswith("5/5")
    window.canvas.select_nodes(["m"])  # another node: its (empty) metrics
    assert plot.series == {}
    window.canvas.select_nodes(["t"])
    assert len(plot.series["loss"]) == 5
    plot.grab()  # paints with data


def test_stop_cancels_a_slow_run_and_a_second_stop_forces(window, qtbot):
    _open(window, [("m", "stub.model", {}), ("t", "stub.train", {"steps": 400, "step_seconds": 0.05}),
                   ("after", "stub.echo", {})], [("m.model", "t.model"), ("t.model", "after.value")])
    bridge = window.run_bridge
    window.actions_["run"].trigger()
    assert bridge.running and window.actions_["stop"].isEnabled() and not window.actions_["run"].isEnabled()
    qtbot.waitUntil(lambda: "t" in window.run_panel.rows and window.run_panel.rows["t"].text(3) != "",
                    timeout=RUN_TIMEOUT_MS)
    assert _badge(window, "t") == "running"
    item = window.canvas.canvas_scene.nodes["t"]
    assert item.progress is not None and 0 < item.progress < 1  # the bar under its header
    assert "Running t: step" in window.status.run.text()
    window.canvas.grab()  # paints the bar
    with qtbot.waitSignal(bridge.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        window.actions_["stop"].trigger()
    result = blocker.args[0]
    assert result.status == "cancelled"
    assert _badge(window, "t") == "cancelled" and _badge(window, "after") == "cancelled"
    assert item.progress is None
    assert (result.run_dir / "nodes" / "t" / "checkpoint" / "state.json").exists()  # stopped cleanly
    qtbot.waitUntil(lambda: window.actions_["run"].isEnabled())

    # a node that never looks at cancel: the first Stop waits for it, the second kills its worker
    _open(window, [("b", "stub.busy", {"sleep": 60})])
    window.actions_["run"].trigger()
    qtbot.waitUntil(lambda: _badge(window, "b") == "running", timeout=RUN_TIMEOUT_MS)
    window.actions_["stop"].trigger()
    qtbot.wait(300)
    assert bridge.running
    qtbot.waitUntil(lambda: window.run_panel.rows["b"].text(2).endswith(" s…"))  # its time ticks while it runs
    with qtbot.waitSignal(bridge.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        window.actions_["stop"].trigger()
    assert blocker.args[0].status == "cancelled" and _badge(window, "b") == "cancelled"


def test_closing_the_window_during_a_run_asks_and_stops_it(qtbot, home):
    prompts = support.ScriptedPrompts()
    window = support.make_window(qtbot, prompts)
    _open(window, [("b", "stub.busy", {"sleep": 60})])
    window.actions_["run"].trigger()
    qtbot.waitUntil(lambda: _badge(window, "b") == "running", timeout=RUN_TIMEOUT_MS)
    pids = window.run_bridge.engine.worker_pids
    assert pids
    prompts.confirms = [False]  # keep it running
    assert not window.close()
    assert window.run_bridge.running and prompts.asked[-1] == "confirm:Stop the run?"
    prompts.confirms = [True]
    assert window.close()
    assert not window.run_bridge.running and window.run_bridge.engine is None
    qtbot.waitUntil(lambda: not any(_alive(pid) for pid in pids), timeout=5000)


def test_code_from_the_flow_file_runs_only_with_consent(qtbot, home):
    prompts = support.ScriptedPrompts()
    window = support.make_window(qtbot, prompts)
    _open(window, [("code", "stub.code", {})])
    prompts.confirms = [False]
    window.actions_["run"].trigger()
    assert prompts.asked[-1] == "confirm:Run code from this flow?" and not window.run_bridge.running
    prompts.confirms = [True]
    result = _run(window, qtbot)
    assert result.ok and _badge(window, "code") == "done"


def test_streamed_text_flows_into_the_log(window, qtbot):
    _open(window, [("s", "stub.stream", {"text": "one two three"}), ("out", "io.output", {})],
          [("s.text", "out.value")])
    result = _run(window, qtbot)
    assert result.ok
    log = window.run_panel.log_text()
    assert "[s] one two three " in log  # the pieces on one line, in order
    assert "[s] generated 3 pieces" in log


def test_run_to_selected_needs_exactly_one_node(window, qtbot):
    _open(window, [("a", "stub.const", {}), ("b", "stub.const", {})])
    window.canvas.select_nodes(["a", "b"])
    window.actions_["run_selected"].trigger()
    assert not window.run_bridge.running and "select one node" in window.status.run.text()
