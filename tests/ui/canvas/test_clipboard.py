"""Copy, cut, paste and duplicate through the system clipboard, between two documents."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QCursor, QGuiApplication

from flowstudio.ui.mime import FRAGMENT_MIME
from tests.ui.conftest import stub_document

POS = {"c": (0.0, 0.0), "a": (300.0, 0.0), "s": (600.0, 0.0)}


def _doc():
    return stub_document([("c", "stub.const", {"value": 4.5}), ("a", "stub.add", {"bias": -2.0}),
                          ("s", "stub.sum", {})], [("c.value", "a.a"), ("a.value", "s.values")], POS)


def test_copy_puts_flow_json_on_the_clipboard_as_custom_type_and_text(make_canvas):
    cv = make_canvas(_doc())
    cv.view.select_nodes(["c", "a"])
    cv.key(Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    mime = QGuiApplication.clipboard().mimeData()
    assert mime.hasFormat(FRAGMENT_MIME)
    data = json.loads(mime.text())
    assert [n["id"] for n in data["nodes"]] == ["c", "a"]
    assert data["edges"] == [{"source": "c.value", "target": "a.a"}]  # a -> s is not inside the selection


def test_paste_into_another_document_keeps_params_and_inner_edges_with_new_ids(make_canvas):
    src = make_canvas(_doc())
    src.view.select_nodes(["c", "a"])
    src.view.copy()
    dst = make_canvas(stub_document([("c", "stub.const", {"value": 0.0})], []))
    QCursor.setPos(dst.vp.mapToGlobal(QPoint(-50, -50)))  # not over the canvas: paste at an offset
    dst.key(Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    flow = dst.doc.flow
    assert len(flow.nodes) == 3
    new = {n.id: n for n in flow.nodes[1:]}
    assert "c" not in new and "a" in new  # the clash was renamed, the free id kept
    const = next(n for n in new.values() if n.type == "stub.const")
    assert const.params == {"value": 4.5} and new["a"].params == {"bias": -2.0}
    assert [(e.source, e.target) for e in flow.edges] == [(f"{const.id}.value", "a.a")]
    assert set(dst.view.selected_node_ids()) == set(new)
    assert set(dst.view.canvas_scene.nodes) == {n.id for n in flow.nodes}
    assert dst.view.controller.undo_stack.count() == 1
    dst.view.controller.undo()
    assert [n.id for n in dst.doc.flow.nodes] == ["c"]
    assert src.doc.flow.node("c").params == {"value": 4.5}


def test_paste_at_the_cursor_puts_the_fragment_there(make_canvas):
    cv = make_canvas(_doc())
    cv.view.select_nodes(["a"])
    cv.view.copy()
    at = cv.scene_to_view(100, 400)
    QCursor.setPos(cv.vp.mapToGlobal(at))
    cv.view.paste()
    pasted = cv.doc.flow.nodes[-1]
    assert pasted.id != "a" and pasted.type == "stub.add"
    assert abs(pasted.position[0] - 100) <= 1 and abs(pasted.position[1] - 400) <= 1


def test_text_that_is_a_flow_pastes_too(make_canvas):
    cv = make_canvas(_doc())
    text = json.dumps({"nodes": [{"id": "t", "type": "stub.train", "params": {"steps": 7}, "position": [0, 0]}]})
    QGuiApplication.clipboard().setText(text)
    QCursor.setPos(cv.vp.mapToGlobal(QPoint(-50, -50)))
    cv.view.paste()
    assert cv.doc.flow.node("t").params == {"steps": 7}


def test_pasting_other_text_does_nothing_and_says_so(make_canvas):
    cv = make_canvas(_doc())
    messages = []
    cv.view.statusMessage.connect(messages.append)
    QGuiApplication.clipboard().setText("just some words")
    cv.view.paste()
    assert len(cv.doc.flow.nodes) == 3 and messages
    assert cv.view.controller.undo_stack.count() == 0


def test_cut_removes_and_paste_brings_back(make_canvas):
    cv = make_canvas(_doc())
    cv.view.select_nodes(["a"])
    cv.key(Qt.Key.Key_X, Qt.KeyboardModifier.ControlModifier)
    assert [n.id for n in cv.doc.flow.nodes] == ["c", "s"] and cv.doc.flow.edges == []
    QCursor.setPos(cv.vp.mapToGlobal(QPoint(-50, -50)))
    cv.view.paste()
    assert [n.id for n in cv.doc.flow.nodes] == ["c", "s", "a"]
    assert cv.view.controller.undo_stack.count() == 2


def test_duplicate_copies_the_selection_beside_it_without_touching_the_clipboard(make_canvas):
    cv = make_canvas(_doc())
    QGuiApplication.clipboard().setText("keep me")
    cv.view.select_nodes(["a", "s"])
    cv.key(Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    flow = cv.doc.flow
    assert len(flow.nodes) == 5
    a2, s2 = flow.nodes[3], flow.nodes[4]
    assert a2.type == "stub.add" and a2.params == {"bias": -2.0}
    # near the originals (+40, +40 moved down to free space), covering none of them
    assert a2.position[0] == 340.0 and 40.0 <= a2.position[1] <= 300.0
    cv.qtbot.waitUntil(lambda: a2.id in cv.view.canvas_scene.nodes)
    rects = {nid: item.rect_in_scene() for nid, item in cv.view.canvas_scene.nodes.items()}
    assert not any(rects[new].intersects(rects[old]) for new in (a2.id, s2.id) for old in ("c", "a", "s"))
    assert (f"{a2.id}.value", f"{s2.id}.values") in {(e.source, e.target) for e in flow.edges}
    assert cv.view.selected_node_ids() == [a2.id, s2.id]
    assert QGuiApplication.clipboard().text() == "keep me"
    assert cv.view.controller.undo_stack.undoText().startswith("Duplicate")


def test_a_fragment_with_a_frame_keeps_the_frame(make_canvas):
    cv = make_canvas(_doc())
    cv.view.select_nodes(["c", "a"])
    cv.view.add_group_around_selection("Pair")
    cv.view.duplicate()
    groups = cv.doc.flow.groups
    assert len(groups) == 2 and groups[1].title == "Pair"
    assert set(groups[1].nodes) == set(cv.view.selected_node_ids())
    assert groups[1].id in cv.view.canvas_scene.groups
