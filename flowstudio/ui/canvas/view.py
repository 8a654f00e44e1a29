"""The canvas widget: a QGraphicsView over the flow document's scene.

Public API (used by the main window): selection, framing, zoom, clipboard, layout, quick-add,
frames and run badges. Mouse gestures live in `interaction`; edits go through the
DocumentController, so every change is one undo step and the scene only reacts.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QPixmapCache, QTransform
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from flowstudio.core.edits import Edit

from ..controller import DocumentController
from ..mime import FRAGMENT_MIME, NODE_TYPE_MIME
from . import actions, clipboard
from . import style as cs
from .edge_item import EdgeItem
from .group_item import GroupItem
from .interaction import NUDGE, CanvasInteraction
from .minimap import CanvasMinimap
from .node_item import NodeItem
from .overview import OVERVIEW_ZOOM
from .quick_add import QuickAddPopup
from .scene import SCENE_EXTENT, CanvasScene

PIXMAP_CACHE_KB = 96 * 1024
MIN_ZOOM = 0.08
MAX_ZOOM = 3.0
ZOOM_STEP = 1.2

_SHORTCUT_KEYS = {Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_F, Qt.Key.Key_Home, Qt.Key.Key_Tab,
                  Qt.Key.Key_Plus, Qt.Key.Key_Minus, Qt.Key.Key_Equal, Qt.Key.Key_Space, Qt.Key.Key_F2,
                  Qt.Key.Key_Escape, Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down}
_ZOOM_KEYS = {Qt.Key.Key_Plus, Qt.Key.Key_Minus, Qt.Key.Key_Equal}
_CTRL_KEYS = {Qt.Key.Key_C, Qt.Key.Key_X, Qt.Key.Key_V, Qt.Key.Key_D, Qt.Key.Key_A, Qt.Key.Key_0,
              Qt.Key.Key_G, Qt.Key.Key_L, Qt.Key.Key_Plus, Qt.Key.Key_Minus, Qt.Key.Key_Equal}


def grid_steps(zoom: float) -> tuple[float | None, float]:
    """Minor and major grid spacing (scene units) for a zoom: 20/100 at 100 %, coarser by fives when far,
    so lines stay at least a few pixels apart (and the grid costs the same at any zoom)."""
    major = 100.0
    while major * zoom < 48.0:
        major *= 5.0
    minor = major / 5.0
    return (minor if minor * zoom >= 16.0 else None), major


class CanvasView(QGraphicsView):
    selectionChanged = Signal(list)  # noqa: N815 - selected node ids
    nodeActivated = Signal(str)  # noqa: N815 - double-click on a node
    statusMessage = Signal(str)  # noqa: N815 - why a gesture was refused, for the status bar

    def __init__(self, controller: DocumentController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._scene = CanvasScene(controller, self)
        self.setScene(self._scene)
        self._zoom_settle = QTimer(self)
        self._zoom_settle.setSingleShot(True)
        self._zoom_settle.setInterval(250)
        self._zoom_settle.timeout.connect(self._zoom_settled)
        self.setSceneRect(QRectF(-SCENE_EXTENT, -SCENE_EXTENT, 2 * SCENE_EXTENT, 2 * SCENE_EXTENT))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState
                                  | QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        # No CacheBackground: the grid is cheap to draw, and the cached pixmap costs more when scrolling.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:  # node caches and the overview live there
            QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self.setMouseTracking(True)
        self.quick_add = QuickAddPopup(self)
        self.minimap = CanvasMinimap(self)
        self.interaction = CanvasInteraction(self)
        self._last_selection: list[str] = []
        self.paste_count = 0
        self._scene.selectionChanged.connect(self._on_scene_selection)
        controller.documentReplaced.connect(self._on_document_replaced)
        cs.theme_signals().themeChanged.connect(self._on_theme)
        self.centerOn(0, 0)

    @property
    def canvas_scene(self) -> CanvasScene:
        return self._scene

    @property
    def doc(self):
        return self.controller.doc

    # ------------------------------------------------------------------------------------ selection

    def selected_node_ids(self) -> list[str]:
        ids = [item.node_id for item in self._scene.selectedItems() if isinstance(item, NodeItem)]
        if len(ids) < 2:
            return ids
        order = {node.id: i for i, node in enumerate(self.doc.flow.nodes)}  # document order
        return sorted(ids, key=lambda i: order.get(i, 0))

    def selected_edges(self) -> list[EdgeItem]:
        return [item for item in self._scene.selectedItems() if isinstance(item, EdgeItem)]

    def selected_groups(self) -> list[GroupItem]:
        return [item for item in self._scene.selectedItems() if isinstance(item, GroupItem)]

    def select_nodes(self, ids) -> None:
        wanted = set(ids)
        self.set_selection([item for node_id, item in self._scene.nodes.items() if node_id in wanted])

    def set_selection(self, items, extend: bool = False) -> None:
        """Select `items` (replacing the selection unless `extend`); listeners hear about it once."""
        with self._scene.one_selection_signal():
            keep = set(items)
            if not extend:
                for item in self._scene.selectedItems():
                    if item not in keep:
                        item.setSelected(False)
            for item in items:
                item.setSelected(True)

    def select_all(self) -> None:
        self.set_selection(list(self._scene.nodes.values()))

    def _on_scene_selection(self) -> None:
        ids = self.selected_node_ids()
        if ids != self._last_selection:
            self._last_selection = ids
            self.selectionChanged.emit(ids)

    # ------------------------------------------------------------------------------------ framing, zoom

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, value: float, anchor: QPointF | None = None) -> None:
        """Zoom to `value` (clamped), keeping the scene point `anchor` (default: the view centre) in place."""
        value = max(MIN_ZOOM, min(MAX_ZOOM, value))
        view_pt = self.mapFromScene(anchor) if anchor is not None else self.viewport().rect().center()
        scene_pt = self.mapToScene(view_pt)
        self.setTransform(QTransform.fromScale(value, value))
        self._update_lod()
        after = self.mapToScene(view_pt)
        self._pan_scene(after - scene_pt)

    def set_minimap_visible(self, on: bool) -> None:
        """Show or hide the minimap (it also hides itself while the flow has fewer than two nodes)."""
        self.minimap.set_enabled(on)

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt's name
        super().scrollContentsBy(dx, dy)
        self._follow_minimap()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if hasattr(self, "minimap"):
            self.minimap.place()
        self._follow_minimap()

    def _follow_minimap(self) -> None:
        if hasattr(self, "minimap"):  # Qt scrolls and resizes the view while __init__ is still running
            self.minimap.follow_view()

    def _update_lod(self) -> None:
        self._scene.set_overview(self.zoom() < OVERVIEW_ZOOM)
        if self._scene.overview is not None and self._scene.overview_mode:
            self._scene.overview.set_zooming(True)
            self._zoom_settle.start()
        self._follow_minimap()

    def _zoom_settled(self) -> None:
        if self._scene.overview is not None:
            self._scene.overview.set_zooming(False)

    def _pan_scene(self, delta: QPointF) -> None:
        """Move the view so the scene shifts by `delta` (scene units) under the viewport."""
        z = self.zoom()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x() * z))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y() * z))

    def pan_by(self, dx: float, dy: float) -> None:
        """Pan by a distance in viewport pixels."""
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(dx))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(dy))

    def cursor_anchor(self) -> QPointF | None:
        pos = self.viewport().mapFromGlobal(self.cursor().pos())
        return self.mapToScene(pos) if self.viewport().rect().contains(pos) else None

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * ZOOM_STEP, self.cursor_anchor())

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / ZOOM_STEP, self.cursor_anchor())

    def reset_zoom(self) -> None:
        self.set_zoom(1.0)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt's name
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return
        factor = math.pow(ZOOM_STEP, delta / 120.0)
        self.set_zoom(self.zoom() * factor, self.mapToScene(event.position().toPoint()))
        event.accept()

    def _frame(self, rect: QRectF) -> None:
        if rect.isNull() or rect.isEmpty():
            self.setTransform(QTransform())
            self._update_lod()
            self.centerOn(0, 0)
            return
        rect = rect.adjusted(-40, -40, 40, 40)
        view = self.viewport().rect()
        scale = min(view.width() / rect.width(), view.height() / rect.height())
        scale = max(MIN_ZOOM, min(1.0, scale))
        self.setTransform(QTransform.fromScale(scale, scale))
        self._update_lod()
        self.centerOn(rect.center())

    def items_rect(self, node_ids=None) -> QRectF:
        rect = QRectF()
        for node_id, item in self._scene.nodes.items():
            if node_ids is None or node_id in node_ids:
                rect = rect.united(item.rect_in_scene())
        if node_ids is None:
            for group in self._scene.groups.values():
                rect = rect.united(group.rect())
        return rect

    def frame_all(self) -> None:
        self._frame(self.items_rect())

    def frame_selection(self) -> None:
        ids = set(self.selected_node_ids())
        if not ids:
            self.frame_all()
            return
        self._frame(self.items_rect(ids))

    # ------------------------------------------------------------------------------------ edits

    def push(self, edit: Edit, merge_key: str | None = None) -> bool:
        """Push an edit; a refused one becomes a status message instead of an exception in a Qt handler."""
        try:
            self.controller.push(edit, merge_key)
        except Exception as exc:  # the document refused it (EditError and friends)
            self.statusMessage.emit(str(exc))
            return False
        return True

    def add_node(self, type_id: str, scene_pos: QPointF) -> str | None:
        """Add a node of `type_id` with its top-left corner at `scene_pos` (one undo step); select it."""
        return actions.add_node(self, type_id, scene_pos)

    def delete_selected(self) -> None:
        actions.delete_selected(self)

    def copy(self) -> None:
        actions.copy(self)

    def cut(self) -> None:
        actions.cut(self)

    def paste(self) -> None:
        actions.paste(self)

    def duplicate(self) -> None:
        actions.duplicate(self)

    def auto_layout(self) -> None:
        actions.auto_layout(self)

    def add_group_around_selection(self, title: str = "Frame") -> str | None:
        return actions.add_group_around_selection(self, title)

    def set_node_status(self, node_id: str, status: str | None) -> None:
        self._scene.set_node_status(node_id, status)

    def set_node_result(self, node_id: str, text: str | None) -> None:
        """What the node returned in the last run (a short summary under it); None clears it."""
        self._scene.set_node_result(node_id, text)

    def set_node_progress(self, node_id: str, fraction: float | None) -> None:
        """A running node's progress (0..1) as a bar under its header."""
        self._scene.set_node_progress(node_id, fraction)

    def set_node_run_error(self, node_id: str, text: str | None) -> None:
        """Why the node failed in the last run (its tooltip); None clears it."""
        self._scene.set_node_run_error(node_id, text)

    def set_node_problems(self, problems: dict[str, list[str]]) -> None:
        """Mark nodes with validation problems (node id -> messages); replaces earlier marks."""
        self._scene.set_node_problems(problems)

    def open_quick_add(self, scene_pos: QPointF | None = None, connection=None) -> None:
        """The search popup; the chosen node goes to `scene_pos` (default: the cursor or the view centre)."""
        if scene_pos is None:
            scene_pos = self.cursor_anchor() or self.mapToScene(self.viewport().rect().center())
        self.quick_add.open_at(scene_pos, connection)

    # ------------------------------------------------------------------------------------ keyboard

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and self._handles_key(event):
            event.accept()  # the canvas handles its keys itself when it has focus
            return True
        if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Tab \
                and not event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            self.open_quick_add()
            return True
        return super().event(event)

    @staticmethod
    def _handles_key(event: QKeyEvent) -> bool:
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods & (Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier):
            return False
        if mods & Qt.KeyboardModifier.ControlModifier:
            if mods & Qt.KeyboardModifier.ShiftModifier:  # Ctrl+Shift+... belongs to the window, but Ctrl++
                return event.key() in _ZOOM_KEYS
            return event.key() in _CTRL_KEYS
        return event.key() in _SHORTCUT_KEYS

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        key = event.key()
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        actions = {
            (Qt.Key.Key_C, True): self.copy, (Qt.Key.Key_X, True): self.cut, (Qt.Key.Key_V, True): self.paste,
            (Qt.Key.Key_D, True): self.duplicate, (Qt.Key.Key_A, True): self.select_all,
            (Qt.Key.Key_0, True): self.reset_zoom, (Qt.Key.Key_G, True): self.add_group_around_selection,
            (Qt.Key.Key_L, True): self.auto_layout,
            (Qt.Key.Key_Delete, False): self.delete_selected, (Qt.Key.Key_Backspace, False): self.delete_selected,
            (Qt.Key.Key_F, False): self.frame_selection, (Qt.Key.Key_Home, False): self.frame_all,
            (Qt.Key.Key_Plus, False): self.zoom_in, (Qt.Key.Key_Equal, False): self.zoom_in,
            (Qt.Key.Key_Minus, False): self.zoom_out, (Qt.Key.Key_Plus, True): self.zoom_in,
            (Qt.Key.Key_Equal, True): self.zoom_in, (Qt.Key.Key_Minus, True): self.zoom_out,
            (Qt.Key.Key_F2, False): self.interaction.editors.rename_selected,
            (Qt.Key.Key_Escape, False): self.interaction.cancel,
        }
        action = actions.get((key, ctrl))
        if action is not None and not (shift and key in (Qt.Key.Key_A, Qt.Key.Key_D)):
            action()
            event.accept()
            return
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.interaction.set_space_held(True)
            event.accept()
            return
        if key == Qt.Key.Key_A and shift and not ctrl:  # Blender's "add"
            self.open_quick_add()
            event.accept()
            return
        arrows = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        if key in arrows and not ctrl:
            step = NUDGE * (5 if shift else 1)
            dx, dy = arrows[key]
            if not self.interaction.nudge(dx * step, dy * step):
                self.pan_by(-dx * 60, -dy * 60)  # nothing selected: the arrows pan
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.interaction.set_space_held(False)
            event.accept()
            return
        super().keyReleaseEvent(event)

    # ------------------------------------------------------------------------------------ mouse

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self.interaction.press(event):
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self.interaction.move(event):
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self.interaction.release(event):
            super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self.interaction.double_click(event):
            super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.interaction.editors.context_menu(event)

    # ------------------------------------------------------------------------------------ drag and drop

    def _accepts(self, mime) -> bool:
        return mime.hasFormat(NODE_TYPE_MIME) or mime.hasFormat(FRAGMENT_MIME)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._accepts(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._accepts(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        mime = event.mimeData()
        scene_pos = self.mapToScene(event.position().toPoint())
        if mime.hasFormat(NODE_TYPE_MIME):
            type_id = bytes(mime.data(NODE_TYPE_MIME).data()).decode("utf-8").strip()
            if self.add_node(type_id, scene_pos) is not None:
                event.acceptProposedAction()
                self.setFocus()
                return
        elif mime.hasFormat(FRAGMENT_MIME):
            fragment = clipboard.fragment_from_mime(mime)
            if fragment is not None and fragment.nodes:
                actions.paste_fragment(self, fragment, scene_pos)
                event.acceptProposedAction()
                return
        event.ignore()

    # ------------------------------------------------------------------------------------ painting

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt's name
        """Background and grid; the grid is filled as 1-pixel rectangles in device space (fast, crisp)."""
        pal = cs.palette()
        painter.fillRect(rect, cs.color(pal.background))
        z = self.zoom()
        transform = painter.worldTransform()
        device = transform.mapRect(rect).toAlignedRect()
        origin = transform.map(QPointF(0.0, 0.0))
        painter.resetTransform()
        minor, major = grid_steps(z)
        for step, colour in ((minor, pal.grid_minor), (major, pal.grid_major)):
            if step is None:
                continue
            c = cs.color(colour)
            px = step * transform.m11()
            x = origin.x() + math.ceil((device.left() - origin.x()) / px) * px
            while x <= device.right():
                painter.fillRect(QRect(int(x), device.top(), 1, device.height()), c)
                x += px
            y = origin.y() + math.ceil((device.top() - origin.y()) / px) * px
            while y <= device.bottom():
                painter.fillRect(QRect(device.left(), int(y), device.width(), 1), c)
                y += px
        painter.setWorldTransform(transform)

    def _on_theme(self, _name: str) -> None:
        self.minimap.schedule()
        self.resetCachedContent()
        self.viewport().update()

    def _on_document_replaced(self) -> None:
        self.interaction.cancel()
        self._last_selection = []
        self.paste_count = 0
        QTimer.singleShot(0, self.frame_all)
        self.frame_all()

    def viewport_center_scene(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def map_to_viewport(self, scene_pos: QPointF) -> QPoint:
        return self.mapFromScene(scene_pos)
