"""Shared UI fixtures: a stub document, a shown CanvasView, and a driver for real mouse/keyboard input."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from flowstudio.core.document import FlowDocument
from flowstudio.ui.canvas.view import CanvasView
from flowstudio.ui.controller import DocumentController
from tests.stubs import make_flow, stub_registry


def stub_document(nodes=(), edges=(), positions=None) -> FlowDocument:
    flow = make_flow(list(nodes), list(edges))
    for node in flow.nodes:
        if positions and node.id in positions:
            node.position = positions[node.id]
    return FlowDocument(flow, registry=stub_registry())


class CanvasDriver:
    """Drives a CanvasView with real mouse and key events on its viewport."""

    def __init__(self, qtbot, view: CanvasView) -> None:
        self.qtbot = qtbot
        self.view = view

    @property
    def vp(self):
        return self.view.viewport()

    @property
    def doc(self) -> FlowDocument:
        return self.view.doc

    def port_pos(self, node_id: str, port: str, is_input: bool) -> QPoint:
        item = self.view.canvas_scene.nodes[node_id].port(port, is_input)
        assert item is not None, f"{node_id}.{port} is not on the canvas"
        return self.view.mapFromScene(item.anchor())

    def node_pos(self, node_id: str, dx: float = 40.0, dy: float = 14.0) -> QPoint:
        """A point on the node's title bar."""
        item = self.view.canvas_scene.nodes[node_id]
        return self.view.mapFromScene(item.pos() + QPointF(dx, dy))

    def scene_to_view(self, x: float, y: float) -> QPoint:
        return self.view.mapFromScene(QPointF(x, y))

    def drag(self, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton,
             modifiers=Qt.KeyboardModifier.NoModifier, steps: int = 6) -> None:
        QTest.mousePress(self.vp, button, modifiers, start)
        for i in range(1, steps + 1):
            p = start + (end - start) * (i / steps)
            QTest.mouseMove(self.vp, p)
        QTest.mouseRelease(self.vp, button, modifiers, end)

    def click(self, pos: QPoint, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        QTest.mouseClick(self.vp, Qt.MouseButton.LeftButton, modifiers, pos)

    def double_click(self, pos: QPoint) -> None:
        QTest.mouseDClick(self.vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)

    def key(self, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        QTest.keyClick(self.view, key, modifiers)

    def edges(self) -> set[tuple[str, str]]:
        return {(e.source, e.target) for e in self.doc.flow.edges}


@pytest.fixture
def make_canvas(qtbot):
    """make_canvas(doc) -> CanvasDriver over a shown 1000x700 CanvasView at zoom 1, scene (0, 0) near top-left."""

    def factory(doc: FlowDocument) -> CanvasDriver:
        controller = DocumentController(doc)
        view = CanvasView(controller)
        qtbot.addWidget(view)
        view.resize(1000, 700)
        view.show()
        qtbot.waitExposed(view)
        view.reset_zoom()
        view.centerOn(QPointF(480, 330))
        view.setFocus()
        return CanvasDriver(qtbot, view)

    return factory
