"""Connecting ports with the mouse: create, refuse, replace, re-route, disconnect."""

from __future__ import annotations

from PySide6.QtCore import QPoint

from tests.ui.conftest import stub_document

POS = {"c": (0.0, 0.0), "c2": (0.0, 200.0), "a": (350.0, 0.0), "s": (350.0, 250.0), "score": (700.0, 0.0),
       "e": (700.0, 300.0)}


def _doc(edges=()):
    nodes = [("c", "stub.const", {"value": 1.0}), ("c2", "stub.const", {"value": 2.0}), ("a", "stub.add", {}),
             ("s", "stub.sum", {}), ("score", "stub.score", {}), ("e", "stub.echo", {})]
    return stub_document(nodes, edges, POS)


def test_dragging_from_an_output_to_an_input_connects_them(make_canvas):
    cv = make_canvas(_doc())
    cv.drag(cv.port_pos("c", "value", False), cv.port_pos("a", "a", True))
    assert cv.edges() == {("c.value", "a.a")}
    assert len(cv.view.canvas_scene.edges) == 1
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.controller.undo()
    assert cv.edges() == set() and not cv.view.canvas_scene.edges


def test_dragging_from_an_input_to_an_output_connects_them_too(make_canvas):
    cv = make_canvas(_doc())
    cv.drag(cv.port_pos("a", "b", True), cv.port_pos("c2", "value", False))
    assert cv.edges() == {("c2.value", "a.b")}


def test_an_incompatible_drag_is_refused_and_says_why(make_canvas, qtbot):
    cv = make_canvas(_doc())
    messages = []
    cv.view.statusMessage.connect(messages.append)
    cv.drag(cv.port_pos("c", "value", False), cv.port_pos("score", "reward_model", True))
    assert cv.edges() == set()
    assert cv.view.controller.undo_stack.count() == 0
    assert messages and "Number" in messages[-1] and "RewardModel" in messages[-1]


def test_while_dragging_compatible_ports_are_highlighted_and_others_dimmed(make_canvas):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    cv = make_canvas(_doc())
    scene = cv.view.canvas_scene
    start = cv.port_pos("c", "value", False)
    QTest.mousePress(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(cv.vp, start + QPoint(40, 40))
    assert scene.nodes["a"].port("a", True).info.state == "compatible"
    assert scene.nodes["s"].port("values", True).info.state == "compatible"
    assert scene.nodes["score"].port("reward_model", True).info.state == "dimmed"
    assert scene.nodes["score"].dimmed and not scene.nodes["a"].dimmed
    assert scene.nodes["e"].port("value", True).info.state == "compatible"  # Any takes everything
    QTest.mouseRelease(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(40, 40))
    assert scene.nodes["a"].port("a", True).info.state == "normal"
    assert not scene.nodes["score"].dimmed


def test_dropping_on_a_connected_single_input_replaces_its_edge_in_one_step(make_canvas):
    cv = make_canvas(_doc([("c.value", "a.a")]))
    cv.drag(cv.port_pos("c2", "value", False), cv.port_pos("a", "a", True))
    assert cv.edges() == {("c2.value", "a.a")}
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.controller.undo()
    assert cv.edges() == {("c.value", "a.a")}
    assert {(e.source, e.target) for e in cv.view.canvas_scene.edges} == {("c.value", "a.a")}


def test_a_multiple_input_keeps_its_edges(make_canvas):
    cv = make_canvas(_doc([("c.value", "s.values")]))
    cv.drag(cv.port_pos("c2", "value", False), cv.port_pos("s", "values", True))
    assert cv.edges() == {("c.value", "s.values"), ("c2.value", "s.values")}


def test_a_drop_near_a_port_snaps_to_it(make_canvas):
    cv = make_canvas(_doc())
    cv.drag(cv.port_pos("c", "value", False), cv.port_pos("a", "a", True) + QPoint(-12, 6))
    assert cv.edges() == {("c.value", "a.a")}


def test_a_drop_on_a_node_body_uses_its_first_free_compatible_port(make_canvas):
    cv = make_canvas(_doc([("c.value", "a.a")]))
    cv.drag(cv.port_pos("c2", "value", False), cv.node_pos("a", 90, 14))
    assert cv.edges() == {("c.value", "a.a"), ("c2.value", "a.b")}


def test_a_connection_that_would_make_a_cycle_is_refused(make_canvas):
    cv = make_canvas(_doc([("c.value", "a.a"), ("a.value", "e.value")]))
    # e.text is Text, a.b takes Number: incompatible anyway; use a Sum fed by a instead
    cv.view.controller.push(cv.doc.connect_edit("a.value", "s.values"))
    cv.drag(cv.port_pos("s", "value", False), cv.port_pos("a", "b", True))
    assert ("s.value", "a.b") not in cv.edges()


def test_dragging_an_edge_end_off_an_input_disconnects_it(make_canvas):
    cv = make_canvas(_doc([("c.value", "a.a")]))
    cv.drag(cv.port_pos("a", "a", True), cv.port_pos("a", "a", True) + QPoint(-150, 250))
    assert cv.edges() == set()
    assert not cv.view.canvas_scene.edges
    cv.view.controller.undo()
    assert cv.edges() == {("c.value", "a.a")}
    assert cv.view.canvas_scene.edges[next(iter(cv.doc.flow.edges))].isVisible()


def test_dragging_an_edge_end_to_another_input_reroutes_it_in_one_step(make_canvas):
    cv = make_canvas(_doc([("c.value", "a.a")]))
    cv.drag(cv.port_pos("a", "a", True), cv.port_pos("s", "values", True))
    assert cv.edges() == {("c.value", "s.values")}
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.controller.undo()
    assert cv.edges() == {("c.value", "a.a")}


def test_clicking_a_connected_input_without_dragging_changes_nothing(make_canvas):
    cv = make_canvas(_doc([("c.value", "a.a")]))
    cv.click(cv.port_pos("a", "a", True))
    assert cv.edges() == {("c.value", "a.a")}
    assert cv.view.controller.undo_stack.count() == 0


def test_edges_can_be_selected_and_deleted(make_canvas):
    from PySide6.QtCore import Qt

    cv = make_canvas(_doc([("c.value", "a.a")]))
    edge = next(iter(cv.view.canvas_scene.edges.values()))
    mid = edge.path().pointAtPercent(0.5)
    cv.click(cv.view.mapFromScene(mid))
    assert edge.isSelected()
    cv.key(Qt.Key.Key_Delete)
    assert cv.edges() == set()
    assert [n.id for n in cv.doc.flow.nodes] == ["c", "c2", "a", "s", "score", "e"]


def test_a_new_document_or_an_undo_during_a_drag_does_not_break_the_canvas(make_canvas):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    cv = make_canvas(_doc([("c.value", "a.a")]))
    start = cv.port_pos("c2", "value", False)
    QTest.mousePress(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(cv.vp, start + QPoint(30, 30))
    cv.view.controller.set_document(_doc())  # e.g. File > Open while dragging
    QTest.mouseMove(cv.vp, start + QPoint(60, 30))
    QTest.mouseRelease(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(60, 30))
    assert cv.edges() == set()
    cv.drag(cv.port_pos("c", "value", False), cv.port_pos("a", "a", True))
    assert cv.edges() == {("c.value", "a.a")}
    # a node removed by undo in the middle of dragging it
    start = cv.node_pos("c2")
    QTest.mousePress(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(cv.vp, start + QPoint(30, 30))
    cv.view.controller.push(cv.doc.remove_nodes_edit(["c2"]))
    QTest.mouseMove(cv.vp, start + QPoint(60, 30))
    QTest.mouseRelease(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(60, 30))
    assert "c2" not in cv.view.canvas_scene.nodes


def test_edges_light_up_under_the_cursor(make_canvas):
    from PySide6.QtTest import QTest

    cv = make_canvas(_doc([("c.value", "a.a")]))
    edge = next(iter(cv.view.canvas_scene.edges.values()))
    QTest.mouseMove(cv.vp, cv.view.mapFromScene(edge.path().pointAtPercent(0.5)))
    assert edge.hover
    QTest.mouseMove(cv.vp, cv.view.mapFromScene(edge.path().pointAtPercent(0.5)) + QPoint(0, 200))
    assert not edge.hover
