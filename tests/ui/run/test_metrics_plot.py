"""The metrics plot (pyqtgraph): a panel per metric family, hide/show, log scale, EMA, hover read-out."""

from __future__ import annotations

import pytest

from flowstudio.ui.run.metrics_plot import MetricsPlot, ema, family


@pytest.fixture
def plot(qtbot):
    widget = MetricsPlot()
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _fill(plot, steps=20):
    for s in range(1, steps + 1):
        plot.add("loss", s, 2.0 / s)
        plot.add("eval_loss", s, 2.5 / s)
        plot.add("num_tokens", s, 1e5 * s)
        plot.add("lr", s, 1e-4)
    plot.flush()


def test_families_order_and_names():
    assert [family(n) for n in ("loss", "eval_loss", "reward", "kl", "lr", "grad_norm", "num_tokens",
                                "tokens_per_sec", "accuracy")] == \
        ["loss", "loss", "reward", "reward", "lr", "grad", "throughput", "throughput", "other"]


def test_loss_has_its_own_axis_when_num_tokens_is_reported(plot, qtbot):
    _fill(plot)
    assert list(plot.panels) == ["loss", "lr", "throughput"]  # loss first
    loss_panel = plot.panels["loss"]
    assert {c.name() for c in loss_panel.listDataItems()} == {"loss", "eval_loss"}
    vb = loss_panel.getViewBox()
    vb.autoRange()
    low, high = vb.viewRange()[1]
    assert -0.5 < low < 0.1 + 0.05 and 2.5 <= high < 3.0  # the loss's own range, not 0..2e6
    assert plot.plotted("num_tokens")[1][-1] == 2e6
    plot.grab()


def test_hiding_a_series_takes_it_off_its_plot_and_back(plot):
    _fill(plot)
    plot.checks["eval_loss"].setChecked(False)
    assert "eval_loss" in plot.hidden
    assert [c.name() for c in plot.panels["loss"].listDataItems()] == ["loss"]
    assert plot.plotted("eval_loss") == ([], [])
    plot.checks["lr"].setChecked(False)
    assert "lr" not in plot.panels  # its family has nothing left to show
    plot.checks["eval_loss"].setChecked(True)
    assert {c.name() for c in plot.panels["loss"].listDataItems()} == {"loss", "eval_loss"}


def test_legend_click_hides_the_series(plot, qtbot):
    _fill(plot)
    legend = plot.panels["loss"].legend
    legend.sigSampleClicked.emit(plot.curves["eval_loss"])
    qtbot.waitUntil(lambda: "eval_loss" in plot.hidden)
    assert not plot.checks["eval_loss"].isChecked()


def test_ema_smoothing_changes_the_plotted_values(plot):
    _fill(plot, steps=5)
    raw = [2.0 / s for s in range(1, 6)]
    assert plot.plotted("loss")[1] == raw
    plot.smooth_box.setValue(0.6)
    xs, ys = plot.plotted("loss")
    expected = [raw[0]]
    for y in raw[1:]:
        expected.append(0.6 * expected[-1] + 0.4 * y)
    assert xs == [1.0, 2.0, 3.0, 4.0, 5.0] and ys == pytest.approx(expected)
    assert ema([1.0, 3.0], 0.5) == [1.0, 2.0]
    assert "loss" in plot.raw_curves  # the raw values stay, faint
    plot.add("loss", 6, 0.1)
    assert plot.plotted("loss")[1][-1] == pytest.approx(0.6 * expected[-1] + 0.4 * 0.1)


def test_log_scale_toggle_sets_the_axis_mode(plot):
    _fill(plot)
    assert not plot.panels["loss"].getAxis("left").logMode
    plot.log_box.setChecked(True)
    assert all(p.getAxis("left").logMode for p in plot.panels.values())
    plot.add("grad_norm", 1, 3.0)  # a panel made later follows the setting
    assert plot.panels["grad"].getAxis("left").logMode
    plot.log_box.setChecked(False)
    assert not plot.panels["loss"].getAxis("left").logMode


def test_hover_readout_shows_step_and_values(plot, qtbot):
    _fill(plot, steps=4)
    assert plot.readout_at(2.2) == "step 2: loss 1  eval_loss 1.25  lr 0.0001  num_tokens 2e+05"
    vb = plot.panels["loss"].getViewBox()
    vb.autoRange()
    scene_pos = vb.mapViewToScene(vb.viewRect().center())
    plot._mouse_moved(scene_pos)
    assert plot.readout.text().startswith("step ")
    assert any(line.isVisible() for line in plot._cross.values())


def test_title_sits_above_the_plots_and_empty_state(plot):
    assert plot.stack.currentWidget() is plot.empty
    assert plot.empty.text() == "Select a node to plot its metrics"
    plot.set_series({"loss": [(1, 1.0)]}, "t: metrics")
    assert plot.title == "t: metrics" and plot.stack.currentWidget() is plot.graphics
    assert plot.title_label.geometry().bottom() <= plot.stack.geometry().top()  # never over a legend
    legend = plot.panels["loss"].legend
    # the legend is anchored inside the plot's right edge, so it never runs off the left
    assert legend.sceneBoundingRect().left() >= plot.panels["loss"].sceneBoundingRect().left()
