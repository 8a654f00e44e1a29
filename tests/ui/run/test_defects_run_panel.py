"""Issue 13's Run panel defects, in a 1280×820 window on the real engine: the plot gets real room when a run
starts, outputs show as text and as sortable tables, an Output node's label names its result, and the
status bar does not say "ready to run" while a run goes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from flowstudio.core.node import Node, Port, Ports
from flowstudio.core.ports import Table
from flowstudio.core.registry import NodeRegistry
from flowstudio.core.values import Artifact
from tests.stubs import STUB_TYPES
from tests.ui import test_main_window_support as support
from tests.ui.run.test_presenter import _open, _run

home = support.home  # a fixture

ROWS = [{"question": "2+2?", "answer": "4", "score": 1.0}, {"question": "capital of France?", "answer": "Paris",
                                                           "score": 0.25},
        {"question": "10 / 4?", "answer": "2.5", "score": 10.0}]


class WriteTable(Node):
    """Writes ROWS as a JSONL table artifact, as the evaluation nodes do."""

    type = "test.table"
    title = "Table"
    category = "Testing"

    class Outputs(Ports):
        table = Port(Table)

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        path = Path(ctx.work_dir) / "rows.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
        return {"table": Artifact("table", str(path.resolve()), {"rows": len(ROWS)})}


def _window(qtbot):
    from flowstudio.nodes.io.text import Output, TextInput

    return support.make_window(qtbot, registry=NodeRegistry([*STUB_TYPES, WriteTable, TextInput, Output]))


FLOW = ([("m", "stub.model", {}), ("t", "stub.train", {"steps": 5}),
         ("greeting", "io.text", {"text": "Hello,\nworld"}), ("shown", "io.output", {"label": "Greeting"}),
         ("rows", "test.table", {})],
        [("m.model", "t.model"), ("greeting.text", "shown.value")])


def test_a_run_gets_a_readable_plot_labelled_outputs_text_and_sortable_tables(qtbot, home):
    window = _window(qtbot)
    assert (window.width(), window.height()) == (1280, 820)
    _open(window, *FLOW)
    window.canvas.select_nodes(["t"])
    while_running: list[str] = []
    window.run_bridge.runningChanged.connect(
        lambda on: on and while_running.append(window.status.problems.text()))
    result = _run(window, qtbot)
    assert result.ok, result.summary
    # the status bar said the run was going, not "ready to run"; afterwards it is ready again
    assert while_running and "running" in while_running[0] and "ready to run" not in while_running[0]
    assert "ready to run" in window.status.problems.text()

    panel = window.run_panel
    panel.tabs.setCurrentWidget(panel.plot)
    qtbot.waitUntil(lambda: panel.plot.graphics.isVisible())
    assert panel.plot.plotted("loss")[1] == [1.0 / s for s in range(1, 6)]
    assert panel.plot.graphics.height() >= 150  # was ~30 px in a ~150 px dock
    assert window.canvas.height() >= 300  # and the flow stays in view

    names = [panel.outputs.topLevelItem(i).text(0) for i in range(panel.outputs.topLevelItemCount())]
    assert names == ["Greeting", "rows.table"]  # the label, not the node id; every table a node wrote
    panel.tabs.setCurrentWidget(panel.outputs_split)
    view = panel.output_view
    panel.outputs.setCurrentItem(panel.outputs.topLevelItem(0))
    assert view.mode == "text" and view.text.toPlainText() == "Hello,\nworld"  # text as text, not JSON

    panel.outputs.setCurrentItem(panel.outputs.topLevelItem(1))
    assert view.mode == "table" and view.table.isVisible()
    model = view.table.model()
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers == ["question", "answer", "score"] and model.rowCount() == 3
    score = headers.index("score")
    view.table.sortByColumn(score, Qt.SortOrder.DescendingOrder)
    column = [model.index(r, score).data() for r in range(3)]
    assert column == [10.0, 1.0, 0.25]  # as numbers (as text "10.0" would sort between "1.0" and "0.25")
    view.filter.setText("paris")
    assert model.rowCount() == 1 and model.index(0, headers.index("answer")).data() == "Paris"
