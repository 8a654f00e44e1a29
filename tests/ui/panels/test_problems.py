"""The problems panel: live validation; clicking a problem selects its node and focuses its field."""

from __future__ import annotations

from PySide6.QtCore import Qt

from flowstudio.core.document import FlowDocument
from flowstudio.core.edits import Connect, SetParam
from flowstudio.core.flow import EdgeSpec
from tests.stubs import make_flow
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture


def _open(window, nodes, edges=()) -> None:
    window.set_document(FlowDocument(make_flow(nodes, list(edges)), None, window.registry))


def _click(qtbot, panel, item) -> None:
    tree = panel.tree
    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())


def test_lists_a_missing_required_input_and_clicking_selects_the_node(window, qtbot):
    _open(window, [("one", "stub.const", {}), ("adder", "stub.add", {})])
    panel = window.problems
    item = panel.item_for(lambda p: p.code == "missing_input")
    assert item is not None
    assert "required input 'a'" in item.text(0) and item.text(1) == "adder"
    assert "1 error" in panel.summary.text()
    assert window.canvas.selected_node_ids() == []
    _click(qtbot, panel, item)
    assert window.canvas.selected_node_ids() == ["adder"]
    assert window.inspector.node_id == "adder"


def test_problems_follow_edits_live(window, qtbot):
    _open(window, [("one", "stub.const", {}), ("adder", "stub.add", {})])
    window.controller.push(Connect(EdgeSpec(source="one.value", target="adder.a")))
    qtbot.waitUntil(lambda: window.problems.problems == [], timeout=2000)
    assert "No problems" in window.problems.summary.text()
    assert "ready to run" in window.status.problems.text()
    window.controller.undo_stack.undo()
    qtbot.waitUntil(lambda: len(window.problems.problems) == 1, timeout=2000)


def test_clicking_a_bad_param_focuses_its_field(window, qtbot):
    _open(window, [("one", "stub.const", {}), ("adder", "stub.add", {"bias": 500})], [("one.value", "adder.a")])
    item = window.problems.item_for(lambda p: p.code == "bad_param")
    assert item.text(2) == "bias"
    _click(qtbot, window.problems, item)
    assert window.canvas.selected_node_ids() == ["adder"]
    spin = window.inspector.editor("bias").focus_widget()
    assert spin.hasFocus()
    assert "less than or equal to 100" in window.inspector.error_text("bias")
    qtbot.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(spin, "5")
    qtbot.waitUntil(lambda: window.problems.problems == [], timeout=2000)


def test_validation_is_debounced(window, qtbot):
    _open(window, [("adder", "stub.add", {})])
    calls = []
    window.problems.problemsChanged.connect(lambda problems: calls.append(len(problems)))
    for value in range(10):
        window.controller.push(SetParam("adder", "bias", float(value)), merge_key="bias")
    assert calls == []
    qtbot.waitUntil(lambda: len(calls) > 0, timeout=2000)
    qtbot.wait(300)
    assert len(calls) == 1


def test_nodes_with_problems_are_marked_on_the_canvas(window, qtbot):
    _open(window, [("one", "stub.const", {}), ("adder", "stub.add", {})])
    scene = window.canvas.canvas_scene
    assert list(scene.problems) == ["adder"]
    assert any("required input 'a'" in m for m in scene.problems["adder"])
    window.controller.push(Connect(EdgeSpec(source="one.value", target="adder.a")))
    qtbot.waitUntil(lambda: scene.problems == {}, timeout=2000)
