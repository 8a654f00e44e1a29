"""Run History with real runs: the SFT template on tiny-llama, run twice from the window (two learning
rates), then listed, overlaid, replayed, diffed, re-run and forked. Plotted data is checked against the
run directories' own files, read here independently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from flowstudio.core.registry import default_registry
from tests.ui.history.sft_runs import FIRST_LR, SECOND_LR, STEPS, save_shot, sft_flow_file, wait_until
from tests.ui.test_main_window_support import ScriptedPrompts, forget_changes


def _metric_points(run_dir: Path, node: str, name: str) -> list[tuple[float, float]]:
    lines = (run_dir / "nodes" / node / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [(float(r["step"]), float(r["value"])) for r in map(json.loads, lines) if r["name"] == name]


@pytest.fixture(scope="module")
def runs(qapp, tmp_path_factory):
    """A window that ran the flow twice: learning rate FIRST_LR, then SECOND_LR (unsaved edit)."""
    from flowstudio.ui import theme
    from flowstudio.ui.window.main_window import MainWindow

    theme.apply_theme("dark")
    prompts = ScriptedPrompts()
    window = MainWindow(registry=default_registry(), prompts=prompts, autosave_ms=100, restore_layout=False)
    window.resize(1500, 950)
    window.show()
    path = sft_flow_file(tmp_path_factory.mktemp("history"))
    assert window.open_path(path, ask=False)
    results = []
    window.run_bridge.runFinished.connect(results.append)

    def run_once(shot: str = "") -> None:
        count = len(results)
        window.actions_["run"].trigger()
        assert window.run_bridge.running

        def done() -> bool:
            loss = window.run_panel.metrics.get("sft", {}).get("loss", [])
            if shot and len(loss) >= STEPS // 2:
                plot = window.run_panel.plot
                for name in list(plot.series):  # the curves a user watches; the others are a click away
                    plot.set_hidden(name, name not in ("loss", "eval_loss", "learning_rate", "grad_norm"))
                for _ in range(3):  # lay out now, without letting the run's own events in (it may end)
                    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
                save_shot(window, shot)
                shot_taken.append(shot)
            return len(results) > count and not window.run_bridge.running

        shot_taken: list[str] = []
        wait_until(lambda: done() if not shot_taken else (len(results) > count and not window.run_bridge.running),
                   what="the run to finish")
        assert results[-1].ok, results[-1].summary

    run_once()
    doc = window.doc
    doc.apply(doc.set_param_edit("sft", "learning_rate", SECOND_LR))
    window.canvas.select_nodes(["sft"])
    window.run_panel.tabs.setCurrentWidget(window.run_panel.plot)
    if os.environ.get("FLOWSTUDIO_SCREENSHOTS"):  # room for the plots in the screenshot
        window.resize(1500, 1100)
        QTest.qWait(50)
        window.resizeDocks([window.docks["run"]], [640], Qt.Orientation.Vertical)
        QTest.qWait(50)
    run_once("run_in_progress.png")
    yield window, results, prompts
    forget_changes(window)
    window.close()


def test_a_node_selected_before_a_second_run_stays_plotted(runs):
    """Clearing the Run panel's table for a new run used to make its first row current, and plot that."""
    window, _, _ = runs
    assert window.run_panel.plotted == "sft" and window.run_panel.plot.title == "sft: metrics"
    assert len(window.run_panel.plot.plotted("loss")[1]) == STEPS


def test_history_lists_both_runs_with_the_param_that_differed_and_final_metrics(runs):
    window, results, _ = runs
    window.actions_["run_history"].trigger()
    panel = window.run_history.panel
    assert window.docks["run_history"].isVisible()
    assert panel.table.topLevelItemCount() == 2
    assert [r.path for r in panel.records] == [results[1].run_dir, results[0].run_dir]  # newest first
    assert panel.differ == ["sft.learning_rate"]
    newest, oldest = panel.table.topLevelItem(0), panel.table.topLevelItem(1)
    assert (newest.text(0), oldest.text(0)) == ("#2", "#1")
    assert newest.text(2) == oldest.text(2) == "succeeded"
    assert newest.text(4) == f"sft.learning_rate={SECOND_LR}" and oldest.text(4) == f"sft.learning_rate={FIRST_LR}"
    summary = json.loads((results[0].run_dir / "summary.json").read_text())
    final = summary["nodes"]["sft"]["metrics"]
    assert final["steps"] == STEPS
    for name, value in final.items():
        assert f"{name} {value:.4g}" in oldest.toolTip(5)
    assert oldest.text(3) == f"{summary['seconds']:.1f} s"
    # a run of another flow is not listed
    assert all(r.info.get("source") == str(window.doc.path.absolute()) for r in panel.records)


def test_overlaying_two_runs_draws_two_loss_series(runs, qtbot):
    window, results, _ = runs
    panel = window.run_history.panel
    panel.refresh()
    panel.set_checked([r.run_dir for r in results[:2]])
    assert panel.buttons["overlay"].isEnabled()
    qtbot.mouseClick(panel.buttons["overlay"], Qt.MouseButton.LeftButton)
    plot = panel.overlay.plot
    assert panel.tabs.currentWidget() is panel.overlay
    assert panel.overlay.node_box.currentText() == "sft" and panel.overlay.metric_box.currentText() == "loss"
    assert sorted(plot.curves) == ["#1 · loss", "#2 · loss"]
    loss_panel = plot.panels["loss"]
    assert set(loss_panel.listDataItems()) == {plot.curves["#1 · loss"], plot.curves["#2 · loss"]}
    expected = {"#1 · loss": _metric_points(results[0].run_dir, "sft", "loss"),
                "#2 · loss": _metric_points(results[1].run_dir, "sft", "loss")}
    for name, points in expected.items():
        assert len(points) == STEPS
        xs, ys = plot.plotted(name)
        assert list(zip(xs, ys, strict=True)) == points
    assert expected["#1 · loss"] != expected["#2 · loss"]  # two learning rates: two curves
    low = min(v for pts in expected.values() for _, v in pts)
    high = max(v for pts in expected.values() for _, v in pts)
    vb = loss_panel.getViewBox()
    assert vb.autoRangeEnabled()[1]  # the y axis follows the data
    vb.autoRange()
    (_, _), (y0, y1) = vb.viewRange()
    assert y0 <= low and y1 >= high and (y1 - y0) < 3 * (high - low) + 1e-6  # the losses' own range

    panel.overlay.metric_box.setCurrentText("All metrics")  # every metric, each family in its panel
    assert {"#1 · loss", "#2 · loss", "#1 · learning_rate", "#2 · learning_rate"} <= set(plot.curves)
    assert plot.curves["#1 · learning_rate"] in plot.panels["lr"].listDataItems()
    panel.overlay.metric_box.setCurrentText("loss")
    if save_shot is not None and os.environ.get("FLOWSTUDIO_SCREENSHOTS"):
        dock = window.docks["run_history"]
        dock.setFloating(True)  # a screenshot at a readable size
        dock.resize(1300, 820)
        qtbot.wait(200)
        save_shot(dock, "run_history_overlay.png")
        dock.setFloating(False)


def test_opening_a_past_run_replays_its_nodes_plots_log_and_outputs(runs):
    window, results, _ = runs
    panel = window.run_history.panel
    panel.refresh()
    panel.open_run(results[0].run_dir)
    view = panel.run_view
    assert panel.tabs.currentWidget() is view
    recorded = json.loads((Path(results[0].run_dir) / "summary.json").read_text())["nodes"]
    shown = {k: view.rows[k].text(1) for k in ("model", "sft", "merge")}
    assert shown == {k: recorded[k]["status"] for k in shown}  # what that run recorded (model may be cached)
    assert shown["sft"] == "done" and shown["merge"] == "done"
    assert view.metrics["sft"]["loss"] == _metric_points(results[0].run_dir, "sft", "loss")
    events = [json.loads(line) for line in (results[0].run_dir / "events.jsonl").read_text().splitlines()]
    logged = [f"[{e['node']}] {e['line']}" for e in events if e["event"] == "node_log"]
    assert logged and all(line in view.log_text() for line in logged)
    view.table.setCurrentItem(view.rows["sft"])  # the node's whole log file, worker output included
    log = (results[0].run_dir / "nodes" / "sft" / "log.txt").read_text(encoding="utf-8")
    assert log.strip() and log.strip() in panel.node_log.toPlainText()
    assert view.outputs.topLevelItemCount() == 1 and view.outputs.topLevelItem(0).text(0) == "metrics"
    assert str(results[0].run_dir) in view.dir_label.text()
    # its model outputs offer "Chat with this model" like the live Run panel
    assert set(view.model_outputs["sft"]) == {"model"} and Path(view.model_outputs["merge"]["model"]).is_dir()


def test_diff_of_the_two_snapshots_names_the_changed_param(runs):
    window, results, _ = runs
    panel = window.run_history.panel
    panel.refresh()
    panel.set_checked([r.run_dir for r in results[:2]])
    panel.buttons["diff"].click()
    text = panel.diff.toPlainText()
    assert text.splitlines()[:2] == ["#1 → #2: 1 change", f"  sft.learning_rate: {FIRST_LR} → {SECOND_LR}"]
    assert f'-        "learning_rate": {FIRST_LR},' in text and f'+        "learning_rate": {SECOND_LR},' in text


def test_rerun_runs_a_past_snapshot_again_and_fork_opens_it_as_a_new_flow(runs):
    window, results, prompts = runs
    panel = window.run_history.panel
    panel.refresh()
    first = next(r for r in panel.records if r.path == results[0].run_dir)
    edited_lr = window.doc.flow.node("sft").params["learning_rate"]
    count = len(results)
    window.run_history.rerun(first)
    wait_until(lambda: len(results) > count and not window.run_bridge.running, what="the re-run")
    again = results[-1]
    assert again.ok and again.run_dir not in (results[0].run_dir, results[1].run_dir)
    assert json.loads((again.run_dir / "flow.json").read_text())["nodes"][4]["params"]["learning_rate"] == FIRST_LR
    assert again.summary["nodes"]["sft"]["status"] == "cached"  # the same snapshot: every node from the cache
    assert window.doc.flow.node("sft").params["learning_rate"] == edited_lr  # the open flow was not touched
    assert panel.table.topLevelItemCount() == 3  # refreshed after the run
    rerun = next(r for r in panel.records if r.path == again.run_dir)
    # the cached node's curves come from the run that produced them
    assert rerun.series("sft")["loss"] == _metric_points(results[0].run_dir, "sft", "loss")

    prompts.unsaved = ["discard"]  # the open flow has an unsaved edit
    window.run_history.fork(first)
    assert window.doc.path is None and window.doc.flow.name.endswith("(from run #1)")
    assert window.doc.flow.node("sft").params["learning_rate"] == FIRST_LR
    assert window.run_history.panel.flow_path is None  # the history follows the open flow


def test_chat_with_this_model_is_offered_for_model_outputs_on_the_canvas(runs):
    window, results, _ = runs
    source = json.loads((results[0].run_dir / "run.json").read_text())["source"]
    assert window.open_path(Path(source), ask=False)
    editors = window.canvas.interaction.editors
    menu = QMenu()
    window.playground.extend_node_menu(menu, ["sft"])
    chat = [a for a in menu.actions() if a.objectName() == "action_chat_with_model"]
    assert len(chat) == 1 and chat[0].isEnabled()
    newest = max(results, key=lambda r: r.summary["started"])  # the run panel was reset: from the run folders
    assert window.playground.node_source("sft") == newest.summary["nodes"]["sft"]["outputs"]["model"]["path"]
    menu = QMenu()
    window.playground.extend_node_menu(menu, ["data"])  # a dataset node: no chat
    assert not [a for a in menu.actions() if a.objectName() == "action_chat_with_model"]
    assert window.playground.extend_node_menu in editors.node_menu_hooks
