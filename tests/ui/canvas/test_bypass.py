"""Bypass from the canvas: Ctrl+B and the context menu toggle it, one undo step, drawn dimmed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from flowstudio.ui.canvas import node_item
from tests.ui import test_main_window_support as support
from tests.ui.conftest import stub_document

home = support.home  # a fixture
window = support.window  # a fixture

POS = {"c": (0.0, 0.0), "a": (300.0, 0.0), "e": (600.0, 0.0)}


def _doc():
    return stub_document([("c", "stub.const", {"value": 3.0}), ("a", "stub.add", {"bias": 1.0}),
                          ("e", "stub.echo", {})], [("c.value", "a.a"), ("a.value", "e.value")], POS)


def test_ctrl_b_toggles_bypass_undoably_and_draws_it_dimmed(window, qtbot):
    window.set_document(_doc())
    canvas = window.canvas
    canvas.setFocus()
    canvas.reset_zoom()  # near: nodes drawn, not the overview
    canvas.select_nodes(["a"])
    item = canvas.canvas_scene.nodes["a"]
    assert item.opacity() == 1.0 and not item.bypassed
    QTest.keyClick(canvas.viewport(), Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.doc.flow.node("a").bypass is True
    assert item.bypassed and item.opacity() == node_item.BYPASS_OPACITY
    assert "Bypassed" in item.toolTip()
    stack = window.controller.undo_stack
    assert stack.count() == 1 and stack.undoText() == "Bypass 1 node"
    window.problems.refresh()
    assert [(p.node_id, p.code) for p in window.problems.problems] == [("a", "bypassed")]
    stack.undo()
    assert window.controller.doc.flow.node("a").bypass is False
    assert not item.bypassed and item.opacity() == 1.0
    stack.redo()
    assert item.bypassed
    QTest.keyClick(canvas.viewport(), Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)  # again: off
    assert window.controller.doc.flow.node("a").bypass is False and stack.undoText() == "Un-bypass 1 node"


def test_context_menu_bypasses_the_selection(make_canvas):
    cv = make_canvas(_doc())
    editors = cv.view.interaction.editors
    cv.view.select_nodes(["a", "e"])
    menu = editors.build_context_menu(cv.node_pos("a"))
    next(a for a in menu.actions() if a.text() == "Bypass").trigger()
    assert [n.bypass for n in cv.doc.flow.nodes] == [False, True, True]
    assert cv.view.controller.undo_stack.count() == 1
    menu = editors.build_context_menu(cv.node_pos("a"))
    assert "Un-bypass" in [a.text() for a in menu.actions()]
    cv.view.controller.undo()
    assert not any(n.bypass for n in cv.doc.flow.nodes)
