"""Dragging a connection: from an output or input, or an edge end picked up from an input.

While dragging, compatible ports glow and nodes with none are dimmed; the drop is checked again
with `doc.can_connect`. Dropping on empty canvas opens quick-add for compatible node types and
wires the chosen one; a picked-up edge dropped there is disconnected, dropped elsewhere re-routed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from PySide6.QtCore import QPoint, QPointF, QRect, QSize
from PySide6.QtGui import QColor
from shiboken6 import isValid

from flowstudio.core.edits import AddNode, Disconnect
from flowstudio.core.flow import EdgeSpec
from flowstudio.core.ports import is_compatible

from . import style as cs
from .edge_item import DragEdge
from .group_item import GroupItem
from .host import InteractionHost
from .node_item import NodeItem
from .port_item import PortItem
from .quick_add import PendingConnection, compatible_port

MAGNET = 22  # pixels: a dragged connection snaps to a compatible port this close


@dataclass
class _Connect:
    origin: PortItem  # the end that stays put
    curve: DragEdge
    detached: EdgeSpec | None = None  # an edge picked up from an input
    hover: PortItem | None = None
    dimmed: list[NodeItem] = field(default_factory=list)
    marked: list[PortItem] = field(default_factory=list)


class ConnectionGesture:
    def __init__(self, interaction: InteractionHost) -> None:
        self.interaction = interaction
        self.view = interaction.view
        self.state: _Connect | None = None

    @property
    def scene(self):
        return self.view.canvas_scene

    @property
    def doc(self):
        return self.view.doc

    def begin(self, port: PortItem) -> bool:
        """Start dragging from `port`; False when there is nothing to drag."""
        detached = None
        origin = port
        if port.is_input:
            incoming = [e for e in self.doc.flow.edges if e.target == port.endpoint]
            if incoming:  # pick up the last edge: drop it elsewhere to re-route, on empty canvas to disconnect
                detached = incoming[-1]
                src = self.scene.nodes.get(detached.source_node)
                src_port = src.port(detached.source_port, False) if src else None
                if src_port is None:
                    return False
                origin = src_port
                edge_item = self.scene.edges.get(detached)
                if edge_item is not None:
                    edge_item.hide()
        colour = cs.color(origin.info.type.color)
        curve = DragEdge(QColor(colour))
        self.scene.addItem(curve)
        state = _Connect(origin, curve, detached)
        self.state = state
        self._mark_compatible(state)
        curve.set_points(origin.anchor(), origin.anchor())
        return True

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
            node = self.interaction.item_at(view_pos)
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

    def drag(self, view_pos: QPoint, scene_pos: QPointF) -> None:
        state = self.state
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

    def end(self) -> _Connect | None:
        """Stop dragging (restore looks); returns what was being dragged."""
        state, self.state = self.state, None
        if state is None:
            return None
        # items may have gone meanwhile (an undo, a new document): touch only live ones
        for port in state.marked:
            if isValid(port) and isValid(port.node_item):
                port.set_state("normal")
        for node in state.dimmed:
            if isValid(node):
                node.set_dimmed(False)
        if isValid(state.curve) and state.curve.scene() is not None:
            self.scene.removeItem(state.curve)
        if state.detached is not None:
            edge_item = self.scene.edges.get(state.detached)
            if edge_item is not None:
                edge_item.show()
        return state

    def finish(self, view_pos: QPoint, dragged: bool) -> None:
        """The mouse was released at `view_pos`: connect, re-route, disconnect, refuse or offer quick-add."""
        state = self.state
        if state is None:
            return
        target = self._snap_target(view_pos)
        under = self.interaction.item_at(view_pos)
        self.end()
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
                if not dragged:
                    return
                self.view.push(Disconnect(state.detached))
                return
            if under is None or isinstance(under, GroupItem):
                if dragged:
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
