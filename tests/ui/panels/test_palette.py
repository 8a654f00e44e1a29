"""The node palette: categories, search as you type, drag onto the canvas, Enter/double-click to add."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from flowstudio.ui.mime import NODE_TYPE_MIME
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture


def _categories(palette) -> list[str]:
    tree = palette.tree
    return [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())
            if not tree.topLevelItem(i).isHidden()]


def test_lists_every_type_by_category_with_tooltips(window):
    palette = window.palette
    assert _categories(palette) == ["Input / Output", "Stub", "Testing"]
    assert set(palette.visible_types()) == {cls.type for cls in window.registry}
    item = palette.item_for("test.form")
    assert "Every kind of param." in item.toolTip(0)
    assert "model: Model" in item.toolTip(0)
    assert not item.icon(0).isNull()


def test_search_filters_as_you_type(window, qtbot):
    palette = window.palette
    qtbot.keyClicks(palette.search, "mod")
    assert palette.visible_types() == ["stub.model"]  # a flat list of the matches while searching
    qtbot.keyClicks(palette.search, "elzzz")
    assert palette.visible_types() == []
    assert palette.empty.isVisibleTo(palette)
    palette.search.clear()
    assert _categories(palette) == ["Input / Output", "Stub", "Testing"]  # the categories are back
    assert set(palette.visible_types()) == {cls.type for cls in window.registry}
    qtbot.keyClicks(palette.search, "every kind")  # descriptions are searched too
    assert palette.visible_types() == ["test.form"]


def test_enter_in_the_search_adds_the_node_at_the_view_centre(window, qtbot):
    window.new_flow()
    qtbot.keyClicks(window.palette.search, "constant")
    qtbot.keyClick(window.palette.search, Qt.Key.Key_Return)
    (node,) = window.doc.flow.nodes
    assert node.type == "stub.const"
    centre = window.canvas.mapToScene(window.canvas.viewport().rect().center())
    assert abs(node.position[0] + 90 - centre.x()) <= 20 and abs(node.position[1] + 30 - centre.y()) <= 20
    assert window.canvas.selected_node_ids() == [node.id]
    window.controller.undo_stack.undo()
    assert window.doc.flow.nodes == []


def test_double_click_adds_the_node(window, qtbot):
    window.new_flow()
    tree = window.palette.tree
    item = window.palette.item_for("stub.add")
    rect = tree.visualItemRect(item)
    # a real double click is press, release, press, double-click, release
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [n.type for n in window.doc.flow.nodes] == ["stub.add"]


def test_drag_from_the_palette_creates_the_node_where_it_is_dropped(window):
    window.new_flow()
    item = window.palette.item_for("stub.add")
    mime = window.palette.tree.mimeData([item])
    assert bytes(mime.data(NODE_TYPE_MIME).data()).decode() == "stub.add"
    viewport = window.canvas.viewport()
    at = QPoint(viewport.width() // 3, viewport.height() // 2)
    buttons, mods, action = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPointF(at), action, mime, buttons, mods)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(viewport, QDragMoveEvent(QPointF(at), action, mime, buttons, mods))
    drop = QDropEvent(QPointF(at), action, mime, buttons, mods)
    QApplication.sendEvent(viewport, drop)
    assert drop.isAccepted()
    (node,) = window.doc.flow.nodes
    expected = window.canvas.mapToScene(at)
    assert node.type == "stub.add"
    assert abs(node.position[0] - expected.x()) < 1 and abs(node.position[1] - expected.y()) < 1
    assert window.controller.undo_stack.count() == 1


def test_arrow_keys_move_through_the_matches(window, qtbot):
    window.new_flow()
    search = window.palette.search
    qtbot.keyClicks(search, "stub")  # only the stub types have "stub" in their ids
    matches = window.palette.visible_types()
    assert len(matches) > 2
    qtbot.keyClick(search, Qt.Key.Key_Down)
    qtbot.keyClick(search, Qt.Key.Key_Return)
    assert [n.type for n in window.doc.flow.nodes] == [matches[1]]


def test_a_plugin_that_failed_to_load_is_reported(qtbot):
    from flowstudio.core.registry import PluginError
    from flowstudio.ui.panels.palette import NodePalette

    registry = support.test_registry()
    registry.plugin_errors.append(PluginError("acme = acme_nodes:types", "ImportError: no module named acme_nodes"))
    palette = NodePalette(registry)
    qtbot.addWidget(palette)
    assert palette.plugin_warning.isVisibleTo(palette)
    assert "1 node plugin could not be loaded" in palette.plugin_warning.text()
    assert "acme_nodes" in palette.plugin_warning.toolTip()
    healthy = NodePalette(support.test_registry())
    qtbot.addWidget(healthy)
    assert not healthy.plugin_warning.isVisibleTo(healthy)
