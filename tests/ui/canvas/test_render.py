"""What the canvas shows: themes, badges, far-zoom drawing, incremental sync, offscreen grabs."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from flowstudio.core.edits import MoveNodes, SetParam
from flowstudio.ui.canvas import style as canvas_style
from tests.ui.conftest import stub_document

POS = {"c": (0.0, 0.0), "a": (300.0, 0.0), "s": (600.0, 0.0)}


def _doc():
    return stub_document([("c", "stub.const", {"value": 2.0}), ("a", "stub.add", {}), ("s", "stub.sum", {})],
                         [("c.value", "a.a"), ("a.value", "s.values")], POS)


@pytest.fixture
def light_theme_restored():
    yield
    canvas_style.set_canvas_theme("dark")


def _pixel(image, view, scene_x, scene_y) -> QColor:
    p = view.mapFromScene(scene_x, scene_y)
    return QColor(image.pixel(p.x(), p.y()))


def test_grab_renders_nodes_in_dark_and_light(make_canvas, light_theme_restored):
    cv = make_canvas(_doc())
    image = cv.view.grab().toImage()
    background = _pixel(image, cv.view, 150, 300)
    assert background.lightness() < 60
    header = _pixel(image, cv.view, 100, 4)  # inside the Constant node's header
    assert header != background
    canvas_style.set_canvas_theme("light")
    image = cv.view.grab().toImage()
    assert _pixel(image, cv.view, 150, 300).lightness() > 200
    body = _pixel(image, cv.view, 100, 60)
    assert body.lightness() > 200
    with pytest.raises(ValueError):
        canvas_style.set_canvas_theme("sepia")


def test_run_status_shows_as_a_badge_and_survives_a_rebuild(make_canvas):
    cv = make_canvas(_doc())
    node = cv.view.canvas_scene.nodes["a"]
    before = cv.view.grab().toImage()
    cv.view.set_node_status("a", "failed")
    after = cv.view.grab().toImage()
    badge = cv.view.mapFromScene(node.pos().x() + node.width - 15, node.pos().y() + 14)
    assert before.pixel(badge) != after.pixel(badge)
    cv.view.controller.set_document(cv.doc)  # a full rebuild keeps the badge
    assert cv.view.canvas_scene.nodes["a"].status == "failed"
    cv.view.set_node_status("a", None)
    assert cv.view.canvas_scene.nodes["a"].status is None


def test_changes_touch_only_their_items(make_canvas):
    cv = make_canvas(_doc())
    scene = cv.view.canvas_scene
    items = dict(scene.nodes)
    edges = dict(scene.edges)
    cv.view.controller.push(MoveNodes({"a": (320.0, 40.0)}))
    cv.view.controller.push(SetParam("c", "value", 9.0))
    assert all(scene.nodes[k] is v for k, v in items.items())
    assert all(scene.edges[k] is v for k, v in edges.items())
    assert ("value", "9") in scene.nodes["c"].params


def test_param_edits_that_change_ports_keep_edges_attached(make_canvas):
    cv = make_canvas(_doc())
    scene = cv.view.canvas_scene
    before = scene.nodes["a"].height
    cv.view.controller.push(SetParam("a", "bias", 4.0))  # adds a param row: the node grows
    assert scene.nodes["a"].height > before
    edge = scene.edges[cv.doc.flow.edges[1]]
    port = scene.nodes["a"].port("value", False)
    assert edge.path().elementAt(0).y == pytest.approx(port.anchor().y())


def test_far_zoom_draws_an_overview_and_nodes_stay_selectable(make_canvas):
    cv = make_canvas(_doc())
    scene = cv.view.canvas_scene
    cv.view.set_zoom(0.2)
    assert scene.overview_mode and scene.overview.isVisible()
    assert scene.nodes["a"].opacity() == 0.0
    image = cv.view.grab().toImage()
    assert _pixel(image, cv.view, 100, 4) != _pixel(image, cv.view, 150, 300)  # the overview drew the header
    cv.click(cv.node_pos("s", 30, 10))
    assert cv.view.selected_node_ids() == ["s"]
    cv.drag(cv.node_pos("c", 30, 10), cv.node_pos("c", 30, 10) + QPoint(20, 10))
    assert cv.doc.flow.node("c").position == (100.0, 50.0)
    cv.drag(cv.scene_to_view(-50, -50), cv.scene_to_view(450, 100))
    assert cv.view.selected_node_ids() == ["c", "a"]
    cv.view.reset_zoom()
    assert not scene.overview_mode and scene.nodes["a"].opacity() == 1.0


def test_keyboard_zoom_uses_the_view_keys(make_canvas):
    cv = make_canvas(_doc())
    cv.key(Qt.Key.Key_Minus)
    assert cv.view.zoom() < 1.0
    cv.key(Qt.Key.Key_Equal)
    assert cv.view.zoom() == pytest.approx(1.0)


def test_another_document_starts_without_badges(make_canvas):
    cv = make_canvas(_doc())
    cv.view.set_node_status("a", "done")
    cv.view.controller.set_document(_doc())
    assert cv.view.canvas_scene.nodes["a"].status is None


def test_edges_of_selected_nodes_are_emphasized(make_canvas):
    cv = make_canvas(_doc())
    scene = cv.view.canvas_scene
    first, second = (scene.edges[e] for e in cv.doc.flow.edges)  # c -> a, a -> s
    cv.view.select_nodes(["c"])
    assert first.emphasis and not second.emphasis
    cv.view.select_nodes(["s"])
    assert second.emphasis and not first.emphasis
    cv.view.select_nodes([])
    assert not first.emphasis and not second.emphasis


def test_the_grid_coarsens_when_zoomed_out():
    from flowstudio.ui.canvas.view import grid_steps

    assert grid_steps(1.0) == (20.0, 100.0)
    for zoom in (3.0, 1.0, 0.5, 0.2, 0.08):
        minor, major = grid_steps(zoom)
        assert major * zoom >= 48 and (minor is None or minor * zoom >= 16)


def test_problem_marks_show_and_explain_themselves(make_canvas):
    cv = make_canvas(_doc())
    node = cv.view.canvas_scene.nodes["a"]
    before = cv.view.grab().toImage()
    cv.view.set_node_problems({"a": ["input 'a' is not connected"]})
    after = cv.view.grab().toImage()
    mark = cv.view.mapFromScene(node.pos().x() + node.width - 15, node.pos().y() + 14)
    assert before.pixel(mark) != after.pixel(mark)
    assert "input 'a' is not connected" in node.toolTip()
    cv.view.controller.push(MoveNodes({"a": (310.0, 0.0)}))
    cv.view.controller.push(cv.doc.remove_nodes_edit(["a"]))
    cv.view.controller.undo()  # the node comes back with its mark
    assert cv.view.canvas_scene.nodes["a"].problems == ("input 'a' is not connected",)
    cv.view.set_node_problems({})
    assert cv.view.canvas_scene.nodes["a"].problems == ()
    assert "⚠" not in cv.view.canvas_scene.nodes["a"].toolTip()
