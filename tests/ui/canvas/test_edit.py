"""Selecting, moving, deleting and dropping nodes with real mouse and keyboard input."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from flowstudio.ui.mime import NODE_TYPE_MIME
from tests.ui.conftest import stub_document

POS = {"c": (0.0, 0.0), "a": (300.0, 0.0), "s": (600.0, 0.0), "m": (0.0, 300.0)}


def _doc():
    return stub_document([("c", "stub.const", {"value": 3.0}), ("a", "stub.add", {"bias": 1.0}),
                          ("s", "stub.sum", {}), ("m", "stub.model", {})],
                         [("c.value", "a.a"), ("a.value", "s.values")], POS)


def test_clicking_selects_and_ctrl_or_shift_extends(make_canvas):
    cv = make_canvas(_doc())
    seen = []
    cv.view.selectionChanged.connect(seen.append)
    cv.click(cv.node_pos("c"))
    assert cv.view.selected_node_ids() == ["c"]
    cv.click(cv.node_pos("a"), Qt.KeyboardModifier.ShiftModifier)
    assert cv.view.selected_node_ids() == ["c", "a"]
    cv.click(cv.node_pos("s"), Qt.KeyboardModifier.ControlModifier)
    assert cv.view.selected_node_ids() == ["c", "a", "s"]
    cv.click(cv.node_pos("a"), Qt.KeyboardModifier.ControlModifier)  # ctrl toggles
    assert cv.view.selected_node_ids() == ["c", "s"]
    cv.click(cv.scene_to_view(300, 500))  # empty canvas clears
    assert cv.view.selected_node_ids() == []
    assert seen[0] == ["c"] and seen[-1] == []


def test_rubber_band_selects_the_nodes_it_touches(make_canvas):
    cv = make_canvas(_doc())
    cv.drag(cv.scene_to_view(-30, -30), cv.scene_to_view(350, 60))
    assert cv.view.selected_node_ids() == ["c", "a"]
    cv.drag(cv.scene_to_view(-30, 280), cv.scene_to_view(40, 320), modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert cv.view.selected_node_ids() == ["c", "a", "m"]


def test_a_drag_of_several_nodes_is_one_undo_step(make_canvas):
    cv = make_canvas(_doc())
    cv.view.select_nodes(["c", "a"])
    edge = cv.view.canvas_scene.edges[cv.doc.flow.edges[1]]  # a -> s: moves with a
    before = edge.path().elementAt(0).x
    cv.drag(cv.node_pos("c"), cv.node_pos("c") + QPoint(100, 50), steps=8)
    assert cv.doc.flow.node("c").position == (100.0, 50.0)
    assert cv.doc.flow.node("a").position == (400.0, 50.0)
    assert cv.doc.flow.node("s").position == (600.0, 0.0)
    assert cv.view.canvas_scene.nodes["a"].pos() == QPointF(400, 50)
    assert edge.path().elementAt(0).x == before + 100
    stack = cv.view.controller.undo_stack
    assert stack.count() == 1
    stack.undo()
    assert cv.doc.flow.node("c").position == (0.0, 0.0) and cv.doc.flow.node("a").position == (300.0, 0.0)
    # a second drag is a second step
    cv.drag(cv.node_pos("s"), cv.node_pos("s") + QPoint(0, 80))
    cv.drag(cv.node_pos("s"), cv.node_pos("s") + QPoint(0, 80))
    assert stack.count() == 2 and cv.doc.flow.node("s").position == (600.0, 160.0)


def test_a_click_without_moving_pushes_nothing(make_canvas):
    cv = make_canvas(_doc())
    cv.click(cv.node_pos("c"))
    assert cv.view.controller.undo_stack.count() == 0


def test_delete_and_backspace_remove_the_selection_in_one_step(make_canvas):
    cv = make_canvas(_doc())
    first = cv.doc.to_json_text()
    cv.click(cv.node_pos("a"))
    cv.click(cv.node_pos("m"), Qt.KeyboardModifier.ShiftModifier)
    cv.key(Qt.Key.Key_Delete)
    assert [n.id for n in cv.doc.flow.nodes] == ["c", "s"]
    assert cv.doc.flow.edges == [] and not cv.view.canvas_scene.edges
    assert set(cv.view.canvas_scene.nodes) == {"c", "s"}
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.controller.undo()
    assert cv.doc.to_json_text() == first
    assert len(cv.view.canvas_scene.edges) == 2
    cv.click(cv.node_pos("s"))
    cv.key(Qt.Key.Key_Backspace)
    assert "s" not in {n.id for n in cv.doc.flow.nodes}


def test_select_all_and_frame_keys(make_canvas):
    cv = make_canvas(_doc())
    cv.key(Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert cv.view.selected_node_ids() == ["c", "a", "s", "m"]
    cv.view.set_zoom(3.0)
    cv.key(Qt.Key.Key_Home)
    visible = cv.view.mapToScene(cv.vp.rect()).boundingRect()
    assert visible.contains(cv.view.items_rect())
    cv.view.select_nodes(["m"])
    cv.key(Qt.Key.Key_F)
    centre = cv.view.mapToScene(cv.vp.rect().center())
    assert cv.view.canvas_scene.nodes["m"].rect_in_scene().adjusted(-5, -5, 5, 5).contains(centre)


def test_wheel_zoom_is_clamped_and_keeps_the_point_under_the_cursor(make_canvas, qtbot):
    from PySide6.QtGui import QWheelEvent

    cv = make_canvas(_doc())
    at = cv.node_pos("a")
    before = cv.view.mapToScene(at)
    for _ in range(3):
        ev = QWheelEvent(QPointF(at), QPointF(cv.vp.mapToGlobal(at)), QPoint(), QPoint(0, 120),
                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(cv.vp, ev)
    assert cv.view.zoom() > 1.5
    after = cv.view.mapToScene(at)
    assert abs(after.x() - before.x()) < 2 and abs(after.y() - before.y()) < 2
    for _ in range(60):
        ev = QWheelEvent(QPointF(at), QPointF(cv.vp.mapToGlobal(at)), QPoint(), QPoint(0, -120),
                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(cv.vp, ev)
    assert cv.view.zoom() == 0.08
    cv.key(Qt.Key.Key_Plus)
    assert cv.view.zoom() > 0.08
    cv.key(Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert cv.view.zoom() == 1.0


def test_middle_button_and_space_drag_pan_without_editing(make_canvas):
    cv = make_canvas(_doc())
    before = cv.view.mapToScene(QPoint(500, 350))
    cv.drag(cv.node_pos("c"), cv.node_pos("c") + QPoint(120, 60), button=Qt.MouseButton.MiddleButton)
    after = cv.view.mapToScene(QPoint(500, 350))
    assert (before - after).x() == 120 and (before - after).y() == 60
    from PySide6.QtTest import QTest
    QTest.keyPress(cv.view, Qt.Key.Key_Space)
    cv.drag(cv.node_pos("a"), cv.node_pos("a") + QPoint(-50, 0))
    QTest.keyRelease(cv.view, Qt.Key.Key_Space)
    assert (before - cv.view.mapToScene(QPoint(500, 350))).x() == 70
    assert cv.view.controller.undo_stack.count() == 0


def _drop(cv, payload: bytes, at: QPoint, fmt: str = NODE_TYPE_MIME) -> bool:
    mime = QMimeData()
    mime.setData(fmt, payload)
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPointF(at), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(cv.vp, enter)
    if not enter.isAccepted():
        return False
    QApplication.sendEvent(cv.vp, QDragMoveEvent(QPointF(at), actions, mime, Qt.MouseButton.LeftButton,
                                                 Qt.KeyboardModifier.NoModifier))
    drop = QDropEvent(QPointF(at), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(cv.vp, drop)
    return drop.isAccepted()


def test_dropping_a_node_type_creates_the_node_at_the_drop_position(make_canvas):
    cv = make_canvas(_doc())
    at = cv.scene_to_view(250, 420)
    assert _drop(cv, b"stub.train", at)
    node = cv.doc.flow.nodes[-1]
    assert node.type == "stub.train" and node.position == (250.0, 420.0)
    assert node.params == {"steps": 5, "step_seconds": 0.0}
    assert cv.view.selected_node_ids() == [node.id]
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.controller.undo()
    assert node.id not in cv.view.canvas_scene.nodes


def test_an_unknown_type_or_foreign_data_is_not_dropped(make_canvas):
    cv = make_canvas(_doc())
    assert not _drop(cv, b"no.such.type", cv.scene_to_view(10, 10))
    assert not _drop(cv, b"hello", cv.scene_to_view(10, 10), fmt="text/x-other")
    assert len(cv.doc.flow.nodes) == 4


def test_double_click_on_a_node_activates_it_and_f2_renames(make_canvas, qtbot):
    cv = make_canvas(_doc())
    with qtbot.waitSignal(cv.view.nodeActivated) as blocker:
        cv.double_click(cv.node_pos("a"))
    assert blocker.args == ["a"]
    cv.view.select_nodes(["a"])
    cv.key(Qt.Key.Key_F2)
    editor = cv.view.interaction.editors.editor
    assert editor is not None
    editor.selectAll()
    qtbot.keyClicks(editor, "Adder")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert cv.doc.flow.node("a").title == "Adder"
    assert cv.view.canvas_scene.nodes["a"].title == "Adder"


def test_a_node_whose_type_is_missing_is_shown_and_kept(make_canvas):
    doc = _doc()
    doc.flow.nodes.append(doc.make_node("plugin.gone", (0.0, 600.0), {"x": 1}, node_id="gone"))
    from flowstudio.core.flow import EdgeSpec
    doc.flow.edges.append(EdgeSpec(source="c.value", target="gone.input"))
    cv = make_canvas(doc)
    item = cv.view.canvas_scene.nodes["gone"]
    assert item.missing and item.port("input", True) is not None
    assert doc.flow.edges[-1] in cv.view.canvas_scene.edges
    cv.drag(cv.node_pos("gone"), cv.node_pos("gone") + QPoint(30, 0))
    assert cv.doc.flow.node("gone").params == {"x": 1}
    assert cv.doc.flow.node("gone").position == (30.0, 600.0)


def test_arrow_keys_nudge_the_selection_as_one_step_and_pan_without_one(make_canvas):
    cv = make_canvas(_doc())
    cv.view.select_nodes(["c", "a"])
    for _ in range(3):
        cv.key(Qt.Key.Key_Right)
    cv.key(Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert cv.doc.flow.node("c").position == (30.0, 50.0) and cv.doc.flow.node("a").position == (330.0, 50.0)
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.select_nodes([])
    before = cv.view.mapToScene(QPoint(500, 350))
    cv.key(Qt.Key.Key_Left)
    assert cv.view.mapToScene(QPoint(500, 350)).x() < before.x()
    assert cv.view.controller.undo_stack.count() == 1


def test_ctrl_while_dragging_snaps_to_the_grid(make_canvas):
    cv = make_canvas(_doc())
    start = cv.node_pos("m")
    from PySide6.QtTest import QTest
    QTest.mousePress(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(cv.vp, start + QPoint(20, 20))
    QTest.mouseMove(cv.vp, start + QPoint(33, 47))
    assert cv.doc.flow.node("m").position == (33.0, 347.0)
    QTest.mouseRelease(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(33, 47))
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QMouseEvent

    start = cv.node_pos("m")
    QTest.mousePress(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for step in (QPoint(5, 2), QPoint(14, 6)):  # moves with Ctrl held, as a real mouse sends them
        at = QPointF(start + step)
        QApplication.sendEvent(cv.vp, QMouseEvent(QEvent.Type.MouseMove, at, cv.vp.mapToGlobal(at),
                                                  Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton,
                                                  Qt.KeyboardModifier.ControlModifier))
    QTest.mouseRelease(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(14, 6))
    assert cv.doc.flow.node("m").position == (40.0, 360.0)


def test_ports_light_up_under_the_cursor(make_canvas):
    from PySide6.QtTest import QTest

    cv = make_canvas(_doc())
    port = cv.view.canvas_scene.nodes["a"].port("b", True)
    QTest.mouseMove(cv.vp, cv.port_pos("a", "b", True))
    assert port.info.state == "hover"
    QTest.mouseMove(cv.vp, cv.scene_to_view(150, 500))
    assert port.info.state == "normal"


def test_dragging_near_the_border_scrolls_the_canvas(make_canvas, qtbot):
    from PySide6.QtTest import QTest

    cv = make_canvas(_doc())
    start = cv.node_pos("c")
    edge = QPoint(cv.vp.width() - 3, start.y())
    QTest.mousePress(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(cv.vp, start + QPoint(20, 0))
    QTest.mouseMove(cv.vp, edge)
    x_at_edge = cv.doc.flow.node("c").position[0]
    # the canvas scrolls by itself and the node follows the (still) cursor
    qtbot.waitUntil(lambda: cv.doc.flow.node("c").position[0] > x_at_edge + 50, timeout=3000)
    QTest.mouseRelease(cv.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, edge)
    assert cv.view.controller.undo_stack.count() == 1
    assert not cv.view.interaction._autopan.isActive()


def test_the_context_menu_offers_what_fits_the_target(make_canvas):
    cv = make_canvas(_doc())
    editors = cv.view.interaction.editors

    def texts(pos):
        return [a.text() for a in editors.build_context_menu(pos).actions() if a.text()]

    assert "Delete" in texts(cv.node_pos("a")) and cv.view.selected_node_ids() == ["a"]
    edge = next(iter(cv.view.canvas_scene.edges.values()))
    assert texts(cv.view.mapFromScene(edge.path().pointAtPercent(0.5))) == ["Delete connection"]
    assert "Add node…" in texts(cv.scene_to_view(150, 600))
    menu = editors.build_context_menu(cv.node_pos("m"))
    next(a for a in menu.actions() if a.text() == "Duplicate").trigger()
    assert len(cv.doc.flow.nodes) == 5


def test_selection_listeners_hear_once_per_gesture(make_canvas):
    cv = make_canvas(_doc())
    seen = []
    cv.view.selectionChanged.connect(seen.append)
    cv.view.select_all()
    assert seen == [["c", "a", "s", "m"]]
    cv.key(Qt.Key.Key_Delete)
    assert seen == [["c", "a", "s", "m"], []]
    cv.view.controller.undo()  # restored nodes come back unselected: nothing to hear
    assert len(seen) == 2


def test_alt_drag_drags_copies_in_one_step(make_canvas):
    cv = make_canvas(_doc())
    first = cv.doc.to_json_text()
    cv.view.select_nodes(["c", "a"])
    cv.drag(cv.node_pos("a"), cv.node_pos("a") + QPoint(0, 200), modifiers=Qt.KeyboardModifier.AltModifier)
    flow = cv.doc.flow
    assert flow.node("c").position == (0.0, 0.0) and flow.node("a").position == (300.0, 0.0)  # originals stay
    copies = flow.nodes[4:]
    assert [n.type for n in copies] == ["stub.const", "stub.add"]
    assert [n.position for n in copies] == [(0.0, 200.0), (300.0, 200.0)]
    assert (f"{copies[0].id}.value", f"{copies[1].id}.a") in cv.edges()
    assert cv.view.selected_node_ids() == [n.id for n in copies]
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.controller.undo()
    assert cv.doc.to_json_text() == first
    cv.click(cv.node_pos("s"), Qt.KeyboardModifier.AltModifier)  # an Alt-click copies nothing
    assert len(cv.doc.flow.nodes) == 4


def test_select_upstream_downstream_and_disconnect_all(make_canvas):
    from flowstudio.ui.canvas import actions as canvas_actions

    cv = make_canvas(_doc())
    cv.view.select_nodes(["a"])
    canvas_actions.select_related(cv.view, upstream=True)
    assert cv.view.selected_node_ids() == ["c", "a"]
    cv.view.select_nodes(["c"])
    canvas_actions.select_related(cv.view, upstream=False)
    assert cv.view.selected_node_ids() == ["c", "a", "s"]
    cv.view.select_nodes(["a"])
    canvas_actions.disconnect_selected(cv.view)
    assert cv.edges() == set() and cv.view.controller.undo_stack.count() == 1
