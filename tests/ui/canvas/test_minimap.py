"""The minimap: shown while part of the flow is out of view; clicking it moves the view."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from tests.ui.conftest import stub_document


def _wide_doc():
    nodes = [(f"n{i}", "stub.const", {}) for i in range(6)]
    return stub_document(nodes, [], {f"n{i}": (i * 900.0, (i % 2) * 700.0) for i in range(6)})


def test_it_appears_when_the_flow_does_not_fit_and_navigates(make_canvas, qtbot):
    cv = make_canvas(_wide_doc())
    minimap = cv.view.minimap
    qtbot.waitUntil(lambda: minimap.isVisible(), timeout=2000)
    assert minimap.geometry().bottom() < cv.view.height() and minimap.geometry().right() < cv.view.width()
    image = minimap.grab().toImage()
    assert len({image.pixel(x, y) for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)}) > 3
    before = cv.view.mapToScene(cv.vp.rect().center())
    qtbot.mouseClick(minimap, Qt.MouseButton.LeftButton, pos=QPoint(minimap.width() - 12, minimap.height() // 2))
    after = cv.view.mapToScene(cv.vp.rect().center())
    assert after.x() > before.x() + 1000  # jumped towards the right end of the flow
    cv.view.frame_all()
    assert not minimap.isVisible()  # everything in view: nothing to navigate
    cv.view.set_zoom(1.0)
    assert minimap.isVisible()
    cv.view.set_minimap_visible(False)
    assert not minimap.isVisible()
