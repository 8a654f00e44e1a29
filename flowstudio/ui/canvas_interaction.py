"""Mouse gestures on the canvas: select, move, connect, re-route, rubber band, pan, frames.

Each gesture ends in edits pushed through the controller; a node drag pushes a move per mouse
move under one merge key, so the whole drag is one undo step while the document stays live.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QLineEdit, QMenu, QRubberBand

from flowstudio.core.edits import AddNode, Batch, Disconnect, MoveNodes, SetTitle, UpdateGroup
from flowstudio.core.flow import EdgeSpec
from flowstudio.core.ports import is_compatible

from . import canvas_style as cs
from .edge_item import DragEdge, EdgeItem
from .group_item import GroupItem
from .node_item import NodeItem
from .port_item import PortItem
from .quick_add import PendingConnection, compatible_port

if TYPE_CHECKING:
    from .canvas_view import CanvasView

DRAG_THRESHOLD = 4  # pixels before a press becomes a drag
MAGNET = 22  # pixels: a dragged connection snaps to a compatible port this close


@dataclass
class _Connect:
    origin: PortItem  # the end that stays put
    curve: DragEdge
    detached: EdgeSpec | None = None  # an edge picked up from an input
    hover: PortItem | None = None
    dimmed: list[NodeItem] = field(default_factory=list)
    marked: list[PortItem] = field(default_factory=list)


class CanvasInteraction:
    def __init__(self, view: CanvasView) -> None:
        self.view = view
        self.mode: str | None = None
        self.space_held = False
        self._press_view = QPoint()
        self._press_scene = QPointF()
        self._last_view = QPoint()
        self._start_positions: dict[str, tuple[float, float]] = {}
        self._dragged = False
        self._click_item: QGraphicsItem | None = None
        self._connect: _Connect | None = None
        self._group: GroupItem | None = None
        self._group_start = QRectF()
        self._rubber = QRubberBand(QRubberBand.Shape.Rectangle, view.viewport())
        self._rubber_base: list[QGraphicsItem] = []
        self._serial = 0
        self._editor: QLineEdit | None = None
        view.quick_add.chosen.connect(self.insert_node)

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

    def cancel(self) -> None:
        if self.view.quick_add.isVisible():
            self.view.quick_add.close_popup()
        if self.mode == "connect":
            self._end_connect()
        self._rubber.hide()
        self.mode = None

    # ------------------------------------------------------------------------------------ press

    def press(self, event) -> bool:
        if self.view.quick_add.isVisible():
            self.view.quick_add.close_popup()
        self._finish_editor()
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
            self._begin_connect(item)
            return True
        if isinstance(item, NodeItem):
            self._click_item = item
            if toggle and item.isSelected():
                item.setSelected(False)
                self.mode = None
                return True
            if not item.isSelected():
                self.view.set_selection([item], extend=extend)
            self._start_positions = {nid: tuple(self.scene.nodes[nid].pos().toTuple())
                                     for nid in self.view.selected_node_ids()}
            self._serial += 1
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
            return False
        if not self._dragged and (pos - self._press_view).manhattanLength() >= DRAG_THRESHOLD:
            self._dragged = True
        if self.mode == "pan":
            delta = pos - self._last_view
            self.view.pan_by(delta.x(), delta.y())
        elif self.mode == "move" and self._dragged:
            self._drag_nodes(scene_pos)
        elif self.mode == "connect":
            self._drag_connection(pos, scene_pos)
        elif self.mode == "rubber":
            self._drag_rubber(pos)
        elif self.mode == "group_move" and self._dragged:
            self._drag_group(scene_pos)
        elif self.mode == "group_resize" and self._dragged:
            self._resize_group(scene_pos)
        self._last_view = pos
        return True

    def _drag_nodes(self, scene_pos: QPointF) -> None:
        delta = scene_pos - self._press_scene
        dx, dy = round(delta.x(), 1), round(delta.y(), 1)
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
        rect = QRect(self._press_view, pos).normalized()
        self._rubber.setGeometry(rect)
        scene_rect = self.view.mapToScene(rect).boundingRect()
        hits = self.nodes_in(scene_rect)
        self.view.set_selection(list(dict.fromkeys(self._rubber_base + hits)))

    # ------------------------------------------------------------------------------------ release

    def release(self, event) -> bool:
        mode, self.mode = self.mode, None
        if mode is None:
            return False
        pos = event.position().toPoint()
        if mode == "pan":
            self.view.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self.space_held
                                           else Qt.CursorShape.ArrowCursor)
        elif mode == "move":
            if self._dragged:
                self._update_memberships()
            elif self._click_item is not None and not event.modifiers() & (
                    Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
                self.view.set_selection([self._click_item])  # a click on one of several selected nodes
        elif mode == "connect":
            self._finish_connect(pos)
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

    def _begin_connect(self, port: PortItem) -> None:
        detached = None
        origin = port
        if port.is_input:
            incoming = [e for e in self.doc.flow.edges if e.target == port.endpoint]
            if incoming:  # pick up the last edge: drop it elsewhere to re-route, on empty canvas to disconnect
                detached = incoming[-1]
                src = self.scene.nodes.get(detached.source_node)
                src_port = src.port(detached.source_port, False) if src else None
                if src_port is None:
                    return
                origin = src_port
                edge_item = self.scene.edges.get(detached)
                if edge_item is not None:
                    edge_item.hide()
        colour = cs.color(origin.info.type.color)
        curve = DragEdge(QColor(colour))
        self.scene.addItem(curve)
        state = _Connect(origin, curve, detached)
        self._connect = state
        self._mark_compatible(state)
        curve.set_points(origin.anchor(), origin.anchor())
        self.mode = "connect"

    def _reachable(self, start: str, forward: bool, skip: EdgeSpec | None) -> set[str]:
        adj: dict[str, list[str]] = defaultdict(list)
        for e in self.doc.flow.edges:
            if e == skip:
                continue
            if forward:
                adj[e.source_node].append(e.target_node)
            else:
                adj[e.target_node].append(e.source_node)
        seen, stack = {start}, [start]
        while stack:
            for m in adj[stack.pop()]:
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    def _port_ok(self, state: _Connect, port: PortItem, blocked: set[str]) -> bool:
        origin = state.origin
        if port.is_input == origin.is_input or not port.info.known or port.node_item.missing:
            return False
        if port.node_item.node_id in blocked:
            return False
        if origin.is_input:
            return is_compatible(port.info.type, origin.info.type)
        return is_compatible(origin.info.type, port.info.type)

    def _mark_compatible(self, state: _Connect) -> None:
        """Highlight the ports a connection may go to; dim nodes that have none (the drop is checked again)."""
        origin_node = state.origin.node_item.node_id
        # connecting output(S) -> input(T) makes a cycle when S is reachable from T: T must not be upstream of S
        blocked = self._reachable(origin_node, forward=state.origin.is_input, skip=state.detached)
        for node in self.scene.nodes.values():
            any_ok = False
            for port in node.port_items():
                if port.is_input == state.origin.is_input:
                    continue
                ok = self._port_ok(state, port, blocked)
                port.set_state("compatible" if ok else "dimmed")
                state.marked.append(port)
                any_ok = any_ok or ok
            if not any_ok and node is not state.origin.node_item:
                node.set_dimmed(True)
                state.dimmed.append(node)

    def _snap_target(self, view_pos: QPoint) -> PortItem | None:
        best, best_d = None, float(MAGNET)
        for item in self.view.items(QRect(view_pos - QPoint(MAGNET, MAGNET), QSize(2 * MAGNET, 2 * MAGNET))):
            if isinstance(item, PortItem) and item.info.state in ("compatible", "hover"):
                d = (self.view.mapFromScene(item.anchor()) - view_pos).manhattanLength() * 0.75
                if d <= best_d:
                    best, best_d = item, d
        if best is None:
            node = self.item_at(view_pos)
            if isinstance(node, NodeItem):
                best = self._node_target(node)
        return best

    def _node_target(self, node: NodeItem) -> PortItem | None:
        """Dropping on a node's body: its first compatible port, preferring a free one."""
        ports = [p for p in node.port_items() if p.info.state in ("compatible", "hover")]
        if not ports:
            return None
        connected = {e.target for e in self.doc.flow.edges}
        free = [p for p in ports if not p.is_input or p.endpoint not in connected]
        return (free or ports)[0]

    def _drag_connection(self, view_pos: QPoint, scene_pos: QPointF) -> None:
        state = self._connect
        if state is None:
            return
        target = self._snap_target(view_pos)
        if target is not state.hover:
            if state.hover is not None:
                state.hover.set_state("compatible")
            if target is not None:
                target.set_state("hover")
            state.hover = target
        end = target.anchor() if target is not None else scene_pos
        if state.origin.is_input:
            state.curve.set_points(end, state.origin.anchor())
        else:
            state.curve.set_points(state.origin.anchor(), end)

    def _end_connect(self) -> _Connect | None:
        state, self._connect = self._connect, None
        if state is None:
            return None
        for port in state.marked:
            port.set_state("normal")
        for node in state.dimmed:
            node.set_dimmed(False)
        self.scene.removeItem(state.curve)
        if state.detached is not None:
            edge_item = self.scene.edges.get(state.detached)
            if edge_item is not None:
                edge_item.show()
        return state

    def _finish_connect(self, view_pos: QPoint) -> None:
        state = self._connect
        if state is None:
            return
        target = self._snap_target(view_pos)
        under = self.item_at(view_pos)
        self._end_connect()
        origin = state.origin
        if target is None:
            if isinstance(under, PortItem) and under is not origin:
                src, dst = (under, origin) if origin.is_input else (origin, under)
                if under.is_input != origin.is_input:
                    reason = self.doc.can_connect(src.endpoint, dst.endpoint)
                else:
                    reason = "connect an output to an input"
                self.view.statusMessage.emit(f"Cannot connect: {reason or 'incompatible ports'}")
                return
            if state.detached is not None:
                if not self._dragged:
                    return
                self.view.push(Disconnect(state.detached))
                return
            if under is None or isinstance(under, GroupItem):
                if self._dragged:
                    pending = PendingConnection(origin.endpoint, origin.is_input, origin.info.type)
                    self.view.open_quick_add(self.view.mapToScene(view_pos), pending)
                return
            self.view.statusMessage.emit("Cannot connect: no compatible port on that node")
            return
        src, dst = (target, origin) if origin.is_input else (origin, target)
        if state.detached is not None and dst.endpoint == state.detached.target \
                and src.endpoint == state.detached.source:
            return  # dropped back where it was
        reason = self.doc.can_connect(src.endpoint, dst.endpoint)
        if reason is not None:
            self.view.statusMessage.emit(f"Cannot connect: {reason}")
            return
        if EdgeSpec(source=src.endpoint, target=dst.endpoint) in self.doc.flow.edges:
            return
        controller = self.view.controller
        if state.detached is None:
            self.view.push(self.doc.connect_edit(src.endpoint, dst.endpoint))
            return
        controller.begin_macro("Reconnect")
        try:
            self.view.push(Disconnect(state.detached))
            self.view.push(self.doc.connect_edit(src.endpoint, dst.endpoint))
        finally:
            controller.end_macro()

    # ------------------------------------------------------------------------------------ quick add

    def insert_node(self, type_id: str, scene_pos: QPointF, pending: PendingConnection | None = None) -> str | None:
        """Add a node from the quick-add popup; wire it when the popup came from a dangling connection."""
        pending = pending if pending is not None else self.view.quick_add.pending
        self.view.quick_add.pending = None
        cls = self.doc.registry.find(type_id)
        if cls is None:
            return None
        spec = self.doc.make_node(type_id, (round(scene_pos.x(), 1), round(scene_pos.y(), 1)))
        port = compatible_port(cls, pending) if pending is not None else None
        if pending is None or port is None:
            return self.view.add_node(type_id, scene_pos)
        # place the new node so the wired port sits at the cursor
        probe = NodeItem(spec, cls)
        anchor = probe.port(port.name, not pending.from_input)
        if anchor is not None:
            spec.position = (round(scene_pos.x() - anchor.info.local.x(), 1),
                             round(scene_pos.y() - anchor.info.local.y(), 1))
        controller = self.view.controller
        controller.begin_macro(f"Add {cls.title or type_id} and connect")
        try:
            if not self.view.push(AddNode(spec)):
                return None
            new_end = f"{spec.id}.{port.name}"
            src, dst = (new_end, pending.endpoint) if pending.from_input else (pending.endpoint, new_end)
            if self.doc.can_connect(src, dst) is None:
                self.view.push(self.doc.connect_edit(src, dst))
        finally:
            controller.end_macro()
        self.view.select_nodes([spec.id])
        return spec.id

    # ------------------------------------------------------------------------------------ double click, menu

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
            self.edit_group_title(item)
            return True
        if item is None or isinstance(item, GroupItem):
            self.view.open_quick_add(scene_pos)
            return True
        return True

    def context_menu(self, event) -> None:
        view = self.view
        pos = event.pos()
        item = self.item_at(pos)
        scene_pos = view.mapToScene(pos)
        menu = QMenu(view)
        if isinstance(item, NodeItem):
            if not item.isSelected():
                view.set_selection([item])
            menu.addAction("Rename…", self.rename_selected)
            menu.addAction("Duplicate", view.duplicate)
            menu.addAction("Copy", view.copy)
            menu.addAction("Cut", view.cut)
            menu.addSeparator()
            menu.addAction("Frame selection in a comment frame", view.add_group_around_selection)
            menu.addAction("Auto-layout selection", view.auto_layout)
            menu.addSeparator()
            menu.addAction("Delete", view.delete_selected)
        elif isinstance(item, EdgeItem):
            view.set_selection([item])
            menu.addAction("Delete connection", view.delete_selected)
        elif isinstance(item, GroupItem) and item.hit_part(scene_pos) == "title":
            view.set_selection([item])
            menu.addAction("Rename frame…", lambda: self.edit_group_title(item))
            menu.addAction("Delete frame (keep nodes)", view.delete_selected)
        else:
            menu.addAction("Add node…", lambda: view.open_quick_add(scene_pos))
            menu.addAction("Paste", view.paste)
            menu.addSeparator()
            menu.addAction("Select all", view.select_all)
            menu.addAction("Auto-layout", view.auto_layout)
            menu.addAction("Frame all", view.frame_all)
        menu.exec(event.globalPos())

    # ------------------------------------------------------------------------------------ inline editors

    def _open_editor(self, scene_rect: QRectF, text: str, on_done) -> QLineEdit:
        self._finish_editor()
        editor = QLineEdit(self.view.viewport())
        editor.setText(text)
        editor.selectAll()
        rect = self.view.mapFromScene(scene_rect).boundingRect()
        editor.setGeometry(rect.adjusted(4, 2, -4, -2))
        editor.setFrame(True)
        done = {"flag": False}

        def finish() -> None:
            if done["flag"]:
                return
            done["flag"] = True
            value = editor.text()
            editor.hide()
            editor.deleteLater()
            if self._editor is editor:
                self._editor = None
            on_done(value)
            self.view.setFocus()

        editor.editingFinished.connect(finish)
        editor.show()
        editor.setFocus()
        self._editor = editor
        return editor

    def _finish_editor(self) -> None:
        if self._editor is not None:
            self._editor.editingFinished.emit()

    def edit_group_title(self, group: GroupItem) -> QLineEdit:
        def done(value: str) -> None:
            current = self.doc.flow.groups
            spec = next((g for g in current if g.id == group.group_id), None)
            if spec is not None and value != spec.title:
                self.view.push(UpdateGroup(spec.model_copy(update={"title": value}), label="Rename frame"))

        return self._open_editor(group.title_rect(), group.spec.title, done)

    def rename_selected(self) -> QLineEdit | None:
        ids = self.view.selected_node_ids()
        if len(ids) != 1:
            return None
        item = self.scene.nodes[ids[0]]
        node_id = ids[0]

        def done(value: str) -> None:
            spec = self.doc.flow.node(node_id)
            if spec is None:
                return
            title = value.strip() or None
            if title == item.title and spec.title is None:
                return
            if title != spec.title:
                self.view.push(SetTitle(node_id, title))

        rect = QRectF(item.pos(), QPointF(item.pos().x() + item.width, item.pos().y() + cs.TITLE_HEIGHT))
        return self._open_editor(rect, item.title, done)
