"""Issue 13's canvas defects: new nodes land on free space, a long value does not widen a node over its
neighbour, the minimap never hides a node, and Paste with Connections keeps the inputs from outside."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QCursor
from PySide6.QtTest import QTest

from flowstudio.core.edits import AddNode, MoveNodes, SetParam
from flowstudio.ui.canvas import actions
from flowstudio.ui.canvas.layout import free_position
from tests.ui.conftest import stub_document


def _rects(cv) -> dict:
    return {nid: item.rect_in_scene() for nid, item in cv.view.canvas_scene.nodes.items()}


def _overlapping(cv) -> list[tuple[str, str]]:
    rects = _rects(cv)
    ids = sorted(rects)
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if rects[a].intersects(rects[b])]


def test_free_position_is_the_nearest_spot_that_covers_nothing():
    assert free_position((0, 0), (100, 50), []) == (0, 0)
    assert free_position((0, 0), (100, 50), [(500, 500, 10, 10)]) == (0, 0)
    x, y = free_position((0, 0), (100, 50), [(0, 0, 100, 50)], gap=20, step=20)
    assert (x, y) == (0, 80)  # straight below: 50 tall + 20 gap, on the 20 grid
    blocked = [(0, 0, 100, 50), (0, 70, 100, 50), (0, -70, 100, 50)]
    x, y = free_position((0, 0), (100, 50), blocked, gap=20, step=20)
    assert not any(x < rx + rw + 20 and rx < x + 100 + 20 and y < ry + rh + 20 and ry < y + 50 + 20
                   for rx, ry, rw, rh in blocked)


def test_quick_add_on_top_of_a_node_puts_the_new_one_beside_it(make_canvas, qtbot):
    cv = make_canvas(stub_document([("c", "stub.const", {})], [], {"c": (200.0, 200.0)}))
    cv.view.open_quick_add(QPointF(210.0, 210.0))  # the cursor is on the node
    qtbot.keyClicks(cv.view.quick_add.search, "sum")
    QTest.keyClick(cv.view.quick_add.search, Qt.Key.Key_Return)
    assert len(cv.doc.flow.nodes) == 2
    qtbot.waitUntil(lambda: len(cv.view.canvas_scene.nodes) == 2)
    assert _overlapping(cv) == []
    new = cv.doc.flow.nodes[1].position
    assert abs(new[0] - 210.0) + abs(new[1] - 210.0) < 260  # still next to where it was asked for


def test_pasting_twice_at_the_same_place_stacks_nothing(make_canvas, qtbot):
    doc = stub_document([("c", "stub.const", {}), ("a", "stub.add", {})], [("c.value", "a.a")],
                        {"c": (0.0, 0.0), "a": (260.0, 0.0)})
    cv = make_canvas(doc)
    cv.view.select_nodes(["c", "a"])
    cv.view.copy()
    QCursor.setPos(cv.vp.mapToGlobal(QPoint(-50, -50)))  # not over the canvas: pasted at an offset
    cv.view.paste()
    cv.view.paste()
    assert len(cv.doc.flow.nodes) == 6
    qtbot.waitUntil(lambda: len(cv.view.canvas_scene.nodes) == 6)
    assert _overlapping(cv) == []


def test_a_long_value_does_not_widen_a_node_over_its_neighbours_ports(make_canvas, qtbot):
    # the templates put nodes 280 apart
    doc = stub_document([("m", "stub.model", {}), ("t", "stub.train", {})], [],
                        {"m": (0.0, 0.0), "t": (280.0, 0.0)})
    cv = make_canvas(doc)
    cv.view.push(SetParam("m", "path", "/data/models/" + "very-long-directory-name/" * 8 + "weights.json"))
    qtbot.waitUntil(lambda: cv.view.canvas_scene.nodes["m"].width > 170)
    item = cv.view.canvas_scene.nodes["m"]
    port = cv.view.canvas_scene.nodes["t"].port("model", True)
    assert item.pos().x() + item.width + 8 < port.anchor().x() - 8  # clear of the port and its hit radius
    assert item.rect_in_scene().right() < cv.view.canvas_scene.nodes["t"].rect_in_scene().left()


def test_the_minimap_moves_off_a_node_in_its_corner_and_hides_when_every_corner_has_one(make_canvas, qtbot):
    nodes = [(f"n{i}", "stub.const", {}) for i in range(3)]
    cv = make_canvas(stub_document(nodes, [], {"n0": (0.0, 0.0), "n1": (3000.0, 0.0), "n2": (0.0, 2000.0)}))
    view, minimap = cv.view, cv.view.minimap
    cv.view.centerOn(QPointF(480, 330))
    qtbot.waitUntil(lambda: minimap.isVisible(), timeout=2000)
    vp = view.viewport().geometry()

    def covered(node_id: str) -> bool:
        box = QRect(minimap.geometry().topLeft() - vp.topLeft(), minimap.size())
        return minimap.isVisible() and view.mapToScene(box).boundingRect().intersects(
            view.canvas_scene.nodes[node_id].rect_in_scene())

    # a node right in the bottom-right corner of the view
    corner = view.mapToScene(QPoint(vp.width() - 120, vp.height() - 70))
    cv.view.push(MoveNodes({"n0": (corner.x(), corner.y())}))
    qtbot.waitUntil(lambda: not covered("n0"), timeout=2000)
    assert minimap.isVisible() and minimap.geometry().left() < vp.width() / 2  # moved to the left corner
    # nodes in all four corners: the minimap steps aside
    spots = {"n0": QPoint(vp.width() - 120, vp.height() - 70), "n1": QPoint(20, vp.height() - 70),
             "n2": QPoint(vp.width() - 120, 20)}
    moves = {nid: (view.mapToScene(p).x(), view.mapToScene(p).y()) for nid, p in spots.items()}
    cv.view.push(MoveNodes(moves))
    top_left = view.mapToScene(QPoint(20, 20))
    cv.view.push(AddNode(cv.doc.make_node("stub.const", (top_left.x(), top_left.y()))))
    cv.view.push(AddNode(cv.doc.make_node("stub.const", (9000.0, 9000.0))))  # the flow still reaches out of view
    qtbot.waitUntil(lambda: not minimap.isVisible(), timeout=2000)
    assert not any(covered(nid) for nid in view.canvas_scene.nodes)


def test_paste_with_connections_keeps_the_inputs_from_outside_and_undoes_in_one_step(make_canvas, qtbot):
    doc = stub_document([("c", "stub.const", {"value": 2.0}), ("a", "stub.add", {}), ("s", "stub.sum", {})],
                        [("c.value", "a.a"), ("a.value", "s.values")],
                        {"c": (0.0, 0.0), "a": (280.0, 0.0), "s": (560.0, 0.0)})
    cv = make_canvas(doc)
    cv.view.select_nodes(["a", "s"])
    cv.view.copy()
    QCursor.setPos(cv.vp.mapToGlobal(QPoint(-50, -50)))
    cv.view.paste()  # plain paste: only the edge inside the copy
    plain = [n.id for n in cv.doc.flow.nodes][3:]
    inside = {("c.value", "a.a"), ("a.value", "s.values")}
    assert cv.edges() == inside | {(f"{plain[0]}.value", f"{plain[1]}.values")}
    stack = cv.view.controller.undo_stack
    stack.undo()
    before = stack.index()
    actions.paste(cv.view, connections=True)
    pasted = [n.id for n in cv.doc.flow.nodes][3:]
    assert cv.edges() == inside | {(f"{pasted[0]}.value", f"{pasted[1]}.values"), ("c.value", f"{pasted[0]}.a")}
    assert stack.index() == before + 1 and "with connections" in stack.undoText()
    stack.undo()
    assert [n.id for n in cv.doc.flow.nodes] == ["c", "a", "s"] and cv.edges() == inside


def test_paste_with_connections_into_another_flow_skips_sources_it_does_not_have(make_canvas, qtbot):
    first = make_canvas(stub_document([("c", "stub.const", {}), ("a", "stub.add", {})], [("c.value", "a.a")],
                                      {"c": (0.0, 0.0), "a": (280.0, 0.0)}))
    first.view.select_nodes(["a"])
    first.view.copy()
    other = make_canvas(stub_document([("c", "stub.echo", {})], [], {"c": (0.0, 300.0)}))  # a `c`, other type
    actions.paste(other.view, connections=True)
    assert [n.type for n in other.doc.flow.nodes] == ["stub.echo", "stub.add"] and other.doc.flow.edges == []
