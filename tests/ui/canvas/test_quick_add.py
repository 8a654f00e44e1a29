"""The quick-add popup: fuzzy search, insertion at the cursor, wiring from a dangling connection."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QCursor

from flowstudio.core.ports import Model, Number
from flowstudio.ui.canvas.quick_add import PendingConnection, search
from tests.stubs import stub_registry
from tests.ui.conftest import stub_document


def _titles(results):
    return [cls.title for cls in results]


def test_fuzzy_search_ranks_prefixes_then_substrings_then_scattered_letters():
    reg = stub_registry()
    assert _titles(search(reg, "tra"))[0] == "Train"
    assert _titles(search(reg, "mkmod"))[:1] == ["Make model"]
    assert _titles(search(reg, "model"))[0] == "Make model"
    assert "Score" in _titles(search(reg, "stub.sc"))  # ids match too
    assert search(reg, "zzzz") == []
    assert len(search(reg, "")) == len(reg)
    assert set(_titles(search(reg, "stub"))) == set(_titles(search(reg, "")))  # categories match


def test_a_pending_connection_offers_only_compatible_types():
    reg = stub_registry()
    from_model_output = PendingConnection("m.model", False, Model)
    offered = set(_titles(search(reg, "", from_model_output)))
    assert {"Train", "Echo"} <= offered  # a Model input, an Any input
    assert not offered & {"Constant", "Add", "Sum", "Score", "Make model"}  # Number, RewardModel, Dataset inputs
    into_number_input = PendingConnection("a.a", True, Number)
    offered = set(_titles(search(reg, "", into_number_input)))
    assert {"Constant", "Add", "Sum", "Random", "Score", "Fail"} <= offered and "Train" not in offered


def test_tab_opens_the_popup_and_enter_inserts_the_node_at_the_cursor(make_canvas, qtbot):
    cv = make_canvas(stub_document([("c", "stub.const", {})], []))
    at = cv.scene_to_view(400, 300)
    QCursor.setPos(cv.vp.mapToGlobal(at))
    cv.key(Qt.Key.Key_Tab)
    popup = cv.view.quick_add
    assert popup.isVisible()
    assert cv.view.window().focusWidget() is popup.search
    qtbot.keyClicks(popup.search, "train")
    assert popup.current_type() == "stub.train"
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    assert not popup.isVisible()
    node = cv.doc.flow.nodes[-1]
    assert node.type == "stub.train"
    assert abs(node.position[0] - 400) <= 1 and abs(node.position[1] - 300) <= 1
    assert cv.view.selected_node_ids() == [node.id]
    assert cv.view.controller.undo_stack.count() == 1


def test_double_click_on_empty_canvas_opens_it_and_escape_closes_it(make_canvas, qtbot):
    cv = make_canvas(stub_document([("c", "stub.const", {})], []))
    cv.double_click(cv.scene_to_view(500, 400))
    popup = cv.view.quick_add
    assert popup.isVisible()
    assert popup.scene_pos == QPointF(500, 400)
    qtbot.keyClick(popup.search, Qt.Key.Key_Down)
    assert popup.results.currentRow() == 1
    qtbot.keyClick(popup.search, Qt.Key.Key_Escape)
    assert not popup.isVisible() and len(cv.doc.flow.nodes) == 1


def test_dropping_a_connection_on_empty_canvas_offers_compatible_nodes_and_wires_the_choice(make_canvas, qtbot):
    cv = make_canvas(stub_document([("m", "stub.model", {})], []))
    drop = cv.port_pos("m", "model", False) + QPoint(250, 60)
    cv.drag(cv.port_pos("m", "model", False), drop)
    popup = cv.view.quick_add
    assert popup.isVisible()
    offered = {popup.results.item(i).data(Qt.ItemDataRole.UserRole) for i in range(popup.results.count())}
    assert {"stub.train", "stub.echo"} <= offered and not offered & {"stub.add", "stub.const", "stub.score"}
    qtbot.keyClicks(popup.search, "train")
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    train = cv.doc.flow.nodes[-1]
    assert train.type == "stub.train"
    assert [(e.source, e.target) for e in cv.doc.flow.edges] == [("m.model", f"{train.id}.model")]
    port = cv.view.canvas_scene.nodes[train.id].port("model", True)
    assert (cv.view.mapFromScene(port.anchor()) - drop).manhattanLength() <= 2  # its input sits at the drop
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.controller.undo()
    assert [n.id for n in cv.doc.flow.nodes] == ["m"] and cv.doc.flow.edges == []


def test_a_connection_dragged_out_of_an_input_wires_the_new_node_as_its_source(make_canvas, qtbot):
    cv = make_canvas(stub_document([("a", "stub.add", {})], [], {"a": (500.0, 200.0)}))
    cv.drag(cv.port_pos("a", "b", True), cv.port_pos("a", "b", True) - QPoint(200, 0))
    popup = cv.view.quick_add
    assert popup.isVisible()
    qtbot.keyClicks(popup.search, "const")
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    const = cv.doc.flow.nodes[-1]
    assert const.type == "stub.const"
    assert [(e.source, e.target) for e in cv.doc.flow.edges] == [(f"{const.id}.value", "a.b")]
    assert const.position[0] < 500 - 100


def test_clicking_a_result_inserts_it(make_canvas, qtbot):
    cv = make_canvas(stub_document([], []))
    cv.view.open_quick_add(QPointF(10, 20))
    popup = cv.view.quick_add
    qtbot.keyClicks(popup.search, "sum")
    item = popup.results.item(0)
    rect = popup.results.visualItemRect(item)
    qtbot.mouseClick(popup.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [n.type for n in cv.doc.flow.nodes] == ["stub.sum"]
    assert cv.doc.flow.nodes[0].position == (10.0, 20.0)


def test_shift_a_opens_it_too(make_canvas):
    cv = make_canvas(stub_document([], []))
    cv.key(Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    assert cv.view.quick_add.isVisible()
