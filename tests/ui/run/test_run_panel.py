"""The Run panel in the window: what it plots for selected and cached nodes, its size, a new flow."""

from __future__ import annotations

from flowstudio.core.document import FlowDocument
from tests.stubs import make_flow
from tests.ui import test_main_window_support as support
from tests.ui.run.test_presenter import TEXT_FLOW, _open, _run

home = support.home  # a fixture
window = support.window  # a fixture

TRAIN = ([("m", "stub.model", {}), ("t", "stub.train", {"steps": 5})], [("m.model", "t.model")])
LOSS = [(float(s), 1.0 / s) for s in range(1, 6)]


def test_a_node_selected_before_the_run_is_plotted(window, qtbot):
    _open(window, *TRAIN)
    window.canvas.select_nodes(["t"])
    assert window.run_panel.plotted == "t"
    result = _run(window, qtbot)
    assert result.ok, result.summary
    panel = window.run_panel
    assert panel.plotted == "t"  # the rows the run added did not take the plot over
    assert panel.plot.title == "t: metrics"
    xs, ys = panel.plot.plotted("loss")
    assert list(zip(xs, ys, strict=True)) == LOSS
    assert panel.plot.stack.currentWidget() is panel.plot.graphics


def test_a_cached_node_plots_the_metrics_its_run_recorded(window, qtbot, tmp_path):
    _open(window, *TRAIN, path=tmp_path / "train.flow.json")
    first = _run(window, qtbot)
    assert first.summary["nodes"]["t"]["status"] == "done"
    second = _run(window, qtbot)
    assert second.summary["nodes"]["t"]["status"] == "cached"
    panel = window.run_panel
    window.canvas.select_nodes(["m"])
    window.canvas.select_nodes(["t"])
    assert panel.plot.title == "t: metrics"  # not "no metrics yet"
    assert panel.plot.series["loss"] == LOSS
    assert list(zip(*panel.plot.plotted("loss"), strict=True)) == LOSS


def test_opening_another_flow_clears_the_run_panel(window, qtbot, tmp_path):
    _open(window, *TRAIN, path=tmp_path / "train.flow.json")
    window.canvas.select_nodes(["t"])
    assert _run(window, qtbot).ok
    panel = window.run_panel
    assert panel.rows and panel.plot.series
    window.set_document(FlowDocument(make_flow(*TEXT_FLOW), None, window.registry))
    assert panel.rows == {} and panel.table.topLevelItemCount() == 0
    assert panel.metrics == {} and panel.plot.series == {} and panel.plotted is None
    assert panel.log_text() == "" and panel.outputs.topLevelItemCount() == 0
    assert panel.run_dir is None and not panel.open_dir.isEnabled()
    assert panel.state.text().startswith("No run yet")
