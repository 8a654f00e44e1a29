"""Comment frames: created around the selection, dragged with their nodes, resized, renamed."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from tests.ui.conftest import stub_document

POS = {"c": (0.0, 0.0), "a": (300.0, 0.0), "s": (700.0, 300.0)}


def _framed(make_canvas):
    cv = make_canvas(stub_document([("c", "stub.const", {}), ("a", "stub.add", {}), ("s", "stub.sum", {})],
                                   [("c.value", "a.a")], POS))
    cv.view.select_nodes(["c", "a"])
    cv.key(Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert len(cv.doc.flow.groups) == 1
    return cv, cv.doc.flow.groups[0]


def test_a_frame_is_created_around_the_selection(make_canvas):
    cv, group = _framed(make_canvas)
    assert group.nodes == ["c", "a"] and group.rect is not None
    item = cv.view.canvas_scene.groups[group.id]
    for node_id in ("c", "a"):
        assert item.rect().contains(cv.view.canvas_scene.nodes[node_id].rect_in_scene())
    assert not item.rect().contains(cv.view.canvas_scene.nodes["s"].rect_in_scene())


def test_dragging_a_frame_title_moves_its_nodes_in_one_step(make_canvas):
    cv, group = _framed(make_canvas)
    item = cv.view.canvas_scene.groups[group.id]
    first = cv.doc.to_json_text()
    title = cv.view.mapFromScene(item.title_rect().center())
    cv.drag(title, title + QPoint(50, 100), steps=5)
    assert cv.doc.flow.node("c").position == (50.0, 100.0)
    assert cv.doc.flow.node("a").position == (350.0, 100.0)
    assert cv.doc.flow.node("s").position == (700.0, 300.0)
    moved = cv.doc.flow.groups[0].rect
    assert moved[0] == group.rect[0] + 50 and moved[1] == group.rect[1] + 100
    assert cv.view.controller.undo_stack.count() == 2  # the frame, then the drag
    cv.view.controller.undo()
    assert cv.doc.to_json_text() == first


def test_the_corner_handle_resizes_the_frame(make_canvas):
    cv, group = _framed(make_canvas)
    item = cv.view.canvas_scene.groups[group.id]
    corner = cv.view.mapFromScene(item.handle_rect().center())
    cv.drag(corner, corner + QPoint(120, 80))
    x, y, w, h = cv.doc.flow.groups[0].rect
    assert (x, y) == group.rect[:2]
    assert w == group.rect[2] + 120 and h == group.rect[3] + 80
    assert item.rect().width() == w


def test_a_node_dragged_into_a_frame_joins_it_and_out_leaves_it(make_canvas):
    cv, group = _framed(make_canvas)
    item = cv.view.canvas_scene.groups[group.id]
    cv.view.select_nodes([])
    cv.drag(cv.node_pos("a"), cv.node_pos("a") + QPoint(0, 500))
    assert cv.doc.flow.groups[0].nodes == ["c"]
    assert not item.rect().contains(cv.view.canvas_scene.nodes["a"].rect_in_scene())
    cv.drag(cv.node_pos("a"), cv.scene_to_view(300 + 40, 0 + 14))  # back where it was, inside the frame
    assert cv.doc.flow.groups[0].nodes == ["c", "a"]


def test_double_clicking_a_frame_title_renames_it(make_canvas, qtbot):
    cv, group = _framed(make_canvas)
    item = cv.view.canvas_scene.groups[group.id]
    cv.double_click(cv.view.mapFromScene(item.title_rect().center() + QPointF(40, 0)))
    editor = cv.view.interaction.editors.editor
    assert editor is not None
    editor.selectAll()
    qtbot.keyClicks(editor, "Data prep")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert cv.doc.flow.groups[0].title == "Data prep"
    assert item.spec.title == "Data prep"


def test_deleting_a_frame_keeps_its_nodes(make_canvas):
    cv, group = _framed(make_canvas)
    item = cv.view.canvas_scene.groups[group.id]
    cv.click(cv.view.mapFromScene(item.title_rect().center() + QPointF(40, 0)))
    assert item.isSelected()
    cv.key(Qt.Key.Key_Delete)
    assert cv.doc.flow.groups == [] and len(cv.doc.flow.nodes) == 3
    assert not cv.view.canvas_scene.groups


def test_a_frame_without_a_rectangle_follows_its_nodes(make_canvas):
    from flowstudio.core.edits import AddGroup
    from flowstudio.core.flow import GroupSpec

    cv = make_canvas(stub_document([("c", "stub.const", {}), ("a", "stub.add", {})], [], {"a": (300.0, 0.0)}))
    cv.view.controller.push(AddGroup(GroupSpec(id="auto", title="Auto", nodes=["c", "a"])))
    item = cv.view.canvas_scene.groups["auto"]
    before = item.rect()
    cv.drag(cv.node_pos("a"), cv.node_pos("a") + QPoint(200, 0))
    assert item.rect().width() == before.width() + 200


def test_frame_colour_and_fit_are_undoable(make_canvas):
    from flowstudio.ui.canvas import actions as canvas_actions

    cv, group = _framed(make_canvas)
    canvas_actions.set_group_color(cv.view, group.id, "#66bb6a")
    assert cv.doc.flow.groups[0].color == "#66bb6a"
    assert cv.view.canvas_scene.groups[group.id].base_color().name() == "#66bb6a"
    item = cv.view.canvas_scene.groups[group.id]
    corner = cv.view.mapFromScene(item.handle_rect().center())
    cv.drag(corner, corner + QPoint(200, 150))
    canvas_actions.fit_group(cv.view, group.id)
    assert cv.doc.flow.groups[0].rect == pytest.approx(group.rect)
    cv.view.controller.undo()
    cv.view.controller.undo()
    cv.view.controller.undo()
    assert cv.doc.flow.groups[0].color is None
