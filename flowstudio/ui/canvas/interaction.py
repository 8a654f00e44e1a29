"""Mouse gestures on the canvas: select, move, rubber band, pan, frames; connections are delegated.

Each gesture ends in edits pushed through the controller; a node drag pushes a move per mouse
move under one merge key, so the whole drag is one undo step while the document stays live.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtWidgets import QGraphicsItem, QRubberBand
from shiboken6 import isValid

from flowstudio.core.clipboard import copy_fragment, paste_edit
from flowstudio.core.edits import Batch, MoveNodes, UpdateGroup

from .connect import ConnectionGesture
from .edge_item import EdgeItem
from .editors import CanvasEditors
from .group_item import GroupItem
from .host import ViewHost
from .node_item import NodeItem
from .port_item import PortItem

DRAG_THRESHOLD = 4  # pixels before a press becomes a drag
GRID = 20.0  # the minor grid, for snapping (Ctrl while dragging)
NUDGE = 10.0  # arrow keys move the selection this far (Shift: five times)
AUTOPAN_EDGE = 28  # pixels from the viewport border where a drag starts scrolling
AUTOPAN_SPEED = 18.0  # pixels per tick at the very border


class CanvasInteraction:
    def __init__(self, view: ViewHost) -> None:
        self.view = view
        self.mode: str | None = None
        self.space_held = False
        self._press_view = QPoint()
        self._press_scene = QPointF()
        self._last_view = QPoint()
        self._start_positions: dict[str, tuple[float, float]] = {}
        self._dragged = False
        self._click_item: QGraphicsItem | None = None
        self.connection = ConnectionGesture(self)
        self.editors = CanvasEditors(self)
        self._group: GroupItem | None = None
        self._group_start = QRectF()
        self._rubber = QRubberBand(QRubberBand.Shape.Rectangle, view.viewport())
        self._rubber_base: list[QGraphicsItem] = []
        self._serial = 0
        self._hover_port: PortItem | None = None
        self._hover_edge: EdgeItem | None = None
        self._toggle_off = False
        self._clone_pending = False
        self._snap = False
        self._autopan = QTimer(view)
        self._autopan.setInterval(16)
        self._autopan.timeout.connect(self._autopan_tick)
        view.quick_add.chosen.connect(self.connection.insert_node)

    @property
    def scene(self):
        return self.view.canvas_scene

    @property
    def doc(self):
        return self.view.doc

    # ------------------------------------------------------------------------------------ helpers

    def _merge_key(self) -> str:
        return f"drag:{id(self)}:{self._serial}"

    def item_at(self, view_pos: QPoint) -> QGraphicsItem | None:
        """The topmost meaningful item: a port before its node, a node before edges and frames."""
        items = self.view.items(view_pos)
        if self.scene.overview_mode:  # nodes are transparent (drawn by the overview): Qt's queries skip them
            hit = self.nodes_in(self.view.mapToScene(view_pos))
            if hit:
                return hit[-1]
        for kind in (PortItem, NodeItem, EdgeItem, GroupItem):
            for item in items:
                if isinstance(item, kind) and item.isVisible():
                    return item
        return None

    def nodes_in(self, area: QRectF | QPointF) -> list[NodeItem]:
        """Nodes under a scene point or touching a scene rectangle, bottom to top."""
        if not self.scene.overview_mode:
            found = self.scene.items(area, Qt.ItemSelectionMode.IntersectsItemShape,
                                     Qt.SortOrder.AscendingOrder)
            return [item for item in found if isinstance(item, NodeItem)]
        out = []
        for item in self.scene.nodes.values():
            rect = item.rect_in_scene()
            if rect.contains(area) if isinstance(area, QPointF) else rect.intersects(area):
                out.append(item)
        out.sort(key=lambda item: item.zValue())
        return out

    def set_space_held(self, held: bool) -> None:
        self.space_held = held
        if self.mode is None:
            cursor = Qt.CursorShape.OpenHandCursor if held else Qt.CursorShape.ArrowCursor
            self.view.viewport().setCursor(cursor)

    def nudge(self, dx: float, dy: float) -> bool:
        """Arrow keys: move the selection; a burst of presses on one selection is one undo step."""
        ids = self.view.selected_node_ids()
        if not ids:
            return False
        flow = self.doc.flow
        positions = {n.id: (n.position[0] + dx, n.position[1] + dy) for n in flow.nodes if n.id in set(ids)}
        label = "Nudge node" if len(ids) == 1 else f"Nudge {len(ids)} nodes"
        self.view.push(MoveNodes(positions, label=label), "nudge:" + ",".join(ids))
        return True

    def cancel(self) -> None:
        if self.view.quick_add.isVisible():
            self.view.quick_add.close_popup()
        if self.mode == "connect":
            self.connection.end()
        self._rubber.hide()
        self._autopan.stop()
        self.mode = None
        self._click_item = None
        self._group = None
        self._hover_port = None
        self._hover_edge = None

    # ------------------------------------------------------------------------------------ press

    def press(self, event) -> bool:
        if self.view.quick_add.isVisible():
            self.view.quick_add.close_popup()
        self.editors.finish_editor()
        pos = event.position().toPoint()
        self._press_view = self._last_view = pos
        self._press_scene = self.view.mapToScene(pos)
        self._dragged = False
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self.space_held):
            self.mode = "pan"
            self.view.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return True
        if button == Qt.MouseButton.RightButton:
            return False  # context menu
        if button != Qt.MouseButton.LeftButton:
            return True
        self.view.setFocus()
        mods = event.modifiers()
        extend = bool(mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
        toggle = bool(mods & Qt.KeyboardModifier.ControlModifier)
        item = self.item_at(pos)
        if isinstance(item, PortItem):
            if self.connection.begin(item):
                self.mode = "connect"
            return True
        if isinstance(item, NodeItem):
            self._click_item = item
            self._toggle_off = toggle and item.isSelected()  # Ctrl-click deselects, unless it becomes a drag
            if not item.isSelected():
                self.view.set_selection([item], extend=extend)
            self._start_positions = {nid: tuple(self.scene.nodes[nid].pos().toTuple())
                                     for nid in self.view.selected_node_ids()}
            self._serial += 1
            self._clone_pending = bool(mods & Qt.KeyboardModifier.AltModifier)  # Alt-drag drags copies
            self.mode = "move"
            return True
        if isinstance(item, EdgeItem):
            if toggle and item.isSelected():
                item.setSelected(False)
            else:
                self.view.set_selection([item], extend=extend)
            self.mode = None
            return True
        if isinstance(item, GroupItem):
            part = item.hit_part(self._press_scene)
            if part in ("title", "handle"):
                if not (toggle and item.isSelected()):
                    self.view.set_selection([item], extend=extend)
                self._group = item
                self._group_start = item.rect()
                self._start_positions = {nid: tuple(self.scene.nodes[nid].pos().toTuple())
                                         for nid in item.spec.nodes if nid in self.scene.nodes}
                self._serial += 1
                self.mode = "group_resize" if part == "handle" else "group_move"
                return True
        # empty canvas (or a frame's body): rubber band
        self._rubber_base = list(self.scene.selectedItems()) if extend else []
        if not extend:
            self.view.set_selection([])
        self._rubber.setGeometry(QRect(pos, QSize()))
        self._rubber.show()
        self.mode = "rubber"
        return True

    # ------------------------------------------------------------------------------------ move

    def move(self, event) -> bool:
        pos = event.position().toPoint()
        scene_pos = self.view.mapToScene(pos)
        if self.mode is None:
            self._hover(pos)
            return False
        if not self._dragged and (pos - self._press_view).manhattanLength() >= DRAG_THRESHOLD:
            self._dragged = True
        self._snap = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if self.mode == "pan":
            delta = pos - self._last_view
            self.view.pan_by(delta.x(), delta.y())
        else:
            self._step(pos, scene_pos)
            self._autopan_check(pos)
        self._last_view = pos
        return True

    def _step(self, pos: QPoint, scene_pos: QPointF) -> None:
        if self.mode == "move" and self._dragged:
            self._drag_nodes(scene_pos, snap=self._snap)
        elif self.mode == "connect":
            self.connection.drag(pos, scene_pos)
        elif self.mode == "rubber":
            self._drag_rubber(pos)
        elif self.mode == "group_move" and self._dragged:
            self._drag_group(scene_pos)
        elif self.mode == "group_resize" and self._dragged:
            self._resize_group(scene_pos)

    def _autopan_velocity(self, pos: QPoint) -> tuple[float, float]:
        """Near the viewport's border a drag scrolls the canvas, faster the closer it gets."""
        area = self.view.viewport().rect()
        def axis(v: int, size: int) -> float:
            if v < AUTOPAN_EDGE:
                return -AUTOPAN_SPEED * (AUTOPAN_EDGE - v) / AUTOPAN_EDGE
            if v > size - AUTOPAN_EDGE:
                return AUTOPAN_SPEED * (v - (size - AUTOPAN_EDGE)) / AUTOPAN_EDGE
            return 0.0
        return axis(pos.x(), area.width()), axis(pos.y(), area.height())

    def _autopan_check(self, pos: QPoint) -> None:
        vx, vy = self._autopan_velocity(pos)
        if (vx or vy) and self.mode in ("move", "connect", "rubber", "group_move") and self._dragged:
            if not self._autopan.isActive():
                self._autopan.start()
        else:
            self._autopan.stop()

    def _autopan_tick(self) -> None:
        if self.mode not in ("move", "connect", "rubber", "group_move"):
            self._autopan.stop()
            return
        vx, vy = self._autopan_velocity(self._last_view)
        if not (vx or vy):
            self._autopan.stop()
            return
        self.view.pan_by(-vx, -vy)
        self._step(self._last_view, self.view.mapToScene(self._last_view))

    def _hover(self, pos: QPoint) -> None:
        """Ports light up under the idle cursor, so it is clear where a connection can start."""
        item = None if self.scene.overview_mode else self.item_at(pos)
        edge = item if isinstance(item, EdgeItem) else None
        if edge is not self._hover_edge:
            if self._hover_edge is not None and isValid(self._hover_edge):
                self._hover_edge.set_hover(False)
            if edge is not None:
                edge.set_hover(True)
            self._hover_edge = edge
        port = item if isinstance(item, PortItem) else None
        if port is self._hover_port:
            return
        if self._hover_port is not None and isValid(self._hover_port) and self._hover_port.scene() is not None \
                and self._hover_port.info.state == "hover":
            self._hover_port.set_state("normal")
        if port is not None and port.info.state == "normal":
            port.set_state("hover")
        self._hover_port = port
        self.view.viewport().setCursor(Qt.CursorShape.CrossCursor if port is not None
                                       else Qt.CursorShape.OpenHandCursor if self.space_held
                                       else Qt.CursorShape.ArrowCursor)

    def _clone_selection(self) -> None:
        """Alt-drag: copies of the dragged nodes (with their inner edges) take their place in the drag."""
        self._clone_pending = False
        ids = list(self._start_positions)
        fragment = copy_fragment(self.doc.flow, ids)
        edit, new_ids = paste_edit(self.doc, fragment, (0.0, 0.0))
        edit.label = f"Duplicate {len(ids)} node{'s' if len(ids) != 1 else ''}"
        if not self.view.push(edit, self._merge_key()):
            return
        renamed = dict(zip([n.id for n in fragment.nodes], new_ids, strict=True))
        anchor = self._click_item.node_id if self._click_item is not None else None
        self._start_positions = {renamed[k]: v for k, v in self._start_positions.items()}
        self.view.select_nodes(new_ids)
        if anchor in renamed:
            self._click_item = self.scene.nodes.get(renamed[anchor])

    def _drag_nodes(self, scene_pos: QPointF, snap: bool = False) -> None:
        """Move the selection with the mouse; with Ctrl held the grabbed node snaps to the grid."""
        if self._clone_pending:
            self._clone_selection()
        delta = scene_pos - self._press_scene
        dx, dy = round(delta.x(), 1), round(delta.y(), 1)
        anchor = self._click_item.node_id if self._click_item is not None else None
        if snap and anchor in self._start_positions:
            x0, y0 = self._start_positions[anchor]
            dx = round((x0 + dx) / GRID) * GRID - x0
            dy = round((y0 + dy) / GRID) * GRID - y0
        positions = {nid: (x + dx, y + dy) for nid, (x, y) in self._start_positions.items()}
        label = "Move node" if len(positions) == 1 else f"Move {len(positions)} nodes"
        self.view.push(MoveNodes(positions, label=label), self._merge_key())

    def _drag_group(self, scene_pos: QPointF) -> None:
        group = self._group
        if group is None:
            return
        delta = scene_pos - self._press_scene
        dx, dy = round(delta.x(), 1), round(delta.y(), 1)
        edits: list = []
        if self._start_positions:
            positions = {nid: (x + dx, y + dy) for nid, (x, y) in self._start_positions.items()}
            edits.append(MoveNodes(positions, label="Move frame"))
        r = self._group_start
        spec = group.spec.model_copy(update={"rect": (r.x() + dx, r.y() + dy, r.width(), r.height())})
        edits.append(UpdateGroup(spec, label="Move frame"))
        self.view.push(Batch(edits, label="Move frame"), self._merge_key())

    def _resize_group(self, scene_pos: QPointF) -> None:
        group = self._group
        if group is None:
            return
        r = self._group_start
        width = max(160.0, r.width() + scene_pos.x() - self._press_scene.x())
        height = max(90.0, r.height() + scene_pos.y() - self._press_scene.y())
        spec = group.spec.model_copy(update={"rect": (r.x(), r.y(), round(width, 1), round(height, 1))})
        self.view.push(UpdateGroup(spec, label="Resize frame"), self._merge_key())

    def _drag_rubber(self, pos: QPoint) -> None:
        rect = QRect(self.view.mapFromScene(self._press_scene), pos).normalized()  # the origin stays put if panned
        self._rubber.setGeometry(rect)
        scene_rect = self.view.mapToScene(rect).boundingRect()
        hits = self.nodes_in(scene_rect)
        self.view.set_selection(list(dict.fromkeys(self._rubber_base + hits)))

    # ------------------------------------------------------------------------------------ release

    def release(self, event) -> bool:
        mode, self.mode = self.mode, None
        self._autopan.stop()
        if mode is None:
            return False
        if self._click_item is not None and not isValid(self._click_item):
            self._click_item = None
        pos = event.position().toPoint()
        if mode == "pan":
            self.view.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self.space_held
                                           else Qt.CursorShape.ArrowCursor)
        elif mode == "move":
            if self._dragged:
                self._update_memberships()
            elif self._toggle_off and self._click_item is not None:
                self._click_item.setSelected(False)
            elif self._click_item is not None and not event.modifiers() & (
                    Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
                self.view.set_selection([self._click_item])  # a click on one of several selected nodes
        elif mode == "connect":
            self.connection.finish(pos, self._dragged)
        elif mode == "rubber":
            self._rubber.hide()
        self._click_item = None
        self._group = None
        return True

    def _update_memberships(self) -> None:
        """Nodes dropped wholly inside a frame join it; dragged out of it, they leave (same undo step)."""
        moved = set(self._start_positions)
        for group in list(self.scene.groups.values()):
            if group.spec.rect is None:
                continue
            rect = group.rect()
            members = list(group.spec.nodes)
            changed = False
            for nid in moved:
                item = self.scene.nodes.get(nid)
                if item is None:
                    continue
                inside = rect.contains(item.rect_in_scene())
                if inside and nid not in members:
                    members.append(nid)
                    changed = True
                elif not inside and nid in members:
                    members.remove(nid)
                    changed = True
            if changed:
                spec = group.spec.model_copy(update={"nodes": members})
                self.view.push(UpdateGroup(spec, label="Move"), self._merge_key())

    # ------------------------------------------------------------------------------------ connections

    def double_click(self, event) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        pos = event.position().toPoint()
        item = self.item_at(pos)
        scene_pos = self.view.mapToScene(pos)
        if isinstance(item, NodeItem):
            self.view.nodeActivated.emit(item.node_id)
            return True
        if isinstance(item, GroupItem) and item.hit_part(scene_pos) == "title":
            self.editors.edit_group_title(item)
            return True
        if item is None or isinstance(item, GroupItem):
            self.view.open_quick_add(scene_pos)
            return True
        return True
