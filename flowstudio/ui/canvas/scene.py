"""The scene mirrors the flow document: it reacts to `changed` notifications, touching only what changed.

A full rebuild happens only when the whole document is replaced. Items never change the document
themselves; the view turns gestures into edits pushed through the controller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsScene

from flowstudio.core.document import Change
from flowstudio.core.edits import (
    AddGroup,
    AddNode,
    Batch,
    Connect,
    Disconnect,
    Edit,
    MoveNodes,
    RemoveGroup,
    RemoveNode,
    SetParam,
    UpdateGroup,
)
from flowstudio.core.flow import EdgeSpec, GroupSpec

from ..controller import DocumentController
from . import style as cs
from .edge_item import EdgeItem
from .group_item import GroupItem
from .node_item import NodeItem
from .overview import OverviewItem

SCENE_EXTENT = 1_000_000.0


def _flatten(edit: Edit) -> Iterator[Edit]:
    if isinstance(edit, Batch):
        for inner in edit.edits:
            yield from _flatten(inner)
    else:
        yield edit


class CanvasScene(QGraphicsScene):
    def __init__(self, controller: DocumentController, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        # No fixed scene rect: the BSP index then spans the items, not the whole pannable plane
        # (the view sets that), so paint queries stay local.
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[EdgeSpec, EdgeItem] = {}
        self.groups: dict[str, GroupItem] = {}
        self.status: dict[str, str] = {}
        self.problems: dict[str, tuple[str, ...]] = {}
        self.run_errors: dict[str, str] = {}
        self.overview_mode = False
        self.overview: OverviewItem | None = None
        controller.changed.connect(self._on_changed)
        controller.documentReplaced.connect(self._on_document_replaced)
        self._shown_doc = controller.doc
        cs.theme_signals().themeChanged.connect(self._on_theme)
        self.selectionChanged.connect(self._refresh_overview)
        self.selectionChanged.connect(self._emphasize_edges)
        self._emphasized: set[EdgeItem] = set()
        self._batching = 0
        self.setBackgroundBrush(QColor(cs.palette().background))
        self.rebuild()

    @property
    def doc(self):
        return self.controller.doc

    # -- full rebuild (a new document)

    def _on_document_replaced(self) -> None:
        if self.controller.doc is not self._shown_doc:  # run badges and problems belong to the old flow
            self.status.clear()
            self.problems.clear()
            self.run_errors.clear()
            self._shown_doc = self.controller.doc
        self.rebuild()

    def rebuild(self) -> None:
        self._emphasized = set()
        self.overview = None  # dropped before clear() deletes its C++ item; selection signals may fire
        self.clear()
        self.nodes.clear()
        self.edges.clear()
        self.groups.clear()
        self.overview = OverviewItem(self)
        self.addItem(self.overview)
        self.overview.setVisible(self.overview_mode)
        flow = self.doc.flow
        ports_by_node = self._edge_ports(flow.edges)
        registry = self.doc.registry
        for spec in flow.nodes:
            self._add_node(spec, registry.find(spec.type), ports_by_node.get(spec.id, ()))
        for edge in flow.edges:
            self._add_edge(edge)
        for group in flow.groups:
            self._sync_group(group)
        for node_id, status in self.status.items():
            if node_id in self.nodes:
                self.nodes[node_id].set_status(status)
        for node_id, text in self.run_errors.items():
            if node_id in self.nodes:
                self.nodes[node_id].set_run_error(text)
        for node_id, messages in self.problems.items():
            if node_id in self.nodes:
                self.nodes[node_id].set_problems(messages)
        self._refresh_overview()

    @staticmethod
    def _edge_ports(edges: Iterable[EdgeSpec], only: set[str] | None = None) -> dict[str, set[tuple[str, bool]]]:
        out: dict[str, set[tuple[str, bool]]] = defaultdict(set)
        for e in edges:
            if only is None or e.source_node in only:
                out[e.source_node].add((e.source_port, False))
            if only is None or e.target_node in only:
                out[e.target_node].add((e.target_port, True))
        return out

    def _add_node(self, spec, cls, edge_ports) -> NodeItem:
        item = NodeItem(spec, cls, edge_ports)
        item.set_faded(self.overview_mode)
        self.addItem(item)
        self.nodes[spec.id] = item
        return item

    def _add_edge(self, edge: EdgeSpec) -> None:
        src, dst = self.nodes.get(edge.source_node), self.nodes.get(edge.target_node)
        if src is None or dst is None or edge in self.edges:
            return
        item = EdgeItem(edge, src, dst)
        if self.overview_mode:
            item.setOpacity(0.0)
        self.addItem(item)
        self.edges[edge] = item
        src.edges.add(item)
        dst.edges.add(item)

    def _remove_edge(self, edge: EdgeSpec) -> None:
        item = self.edges.pop(edge, None)
        if item is None:
            return
        item.source.edges.discard(item)
        item.target.edges.discard(item)
        self.removeItem(item)

    # -- incremental sync

    @contextmanager
    def one_selection_signal(self) -> Iterator[None]:
        """Select or remove many items while emitting `selectionChanged` at most once (not per item)."""
        before = set(self.selectedItems()) if not self._batching else set()
        blocked = self.blockSignals(True)
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            self.blockSignals(blocked)
        if not self._batching and set(self.selectedItems()) != before:
            self.selectionChanged.emit()

    def _on_changed(self, change: Change) -> None:
        if change.edit is None:
            self.rebuild()
            return
        with self.one_selection_signal():  # removing selected items would emit once per item
            self._apply(change)
        self._refresh_overview()

    def _apply(self, change: Change) -> None:
        edits = list(_flatten(change.edit))
        if all(isinstance(e, MoveNodes) for e in edits):
            moved: set[str] = set()
            for e in edits:
                moved |= set(e.positions)
            self._move_nodes(moved)
            return
        structural = any(isinstance(e, (AddNode, RemoveNode, Connect, Disconnect, SetParam)) for e in edits)
        touched = set(change.nodes)
        if touched:
            self._sync_nodes(touched, edges_changed=structural)
        if any(isinstance(e, (AddGroup, RemoveGroup, UpdateGroup, AddNode, RemoveNode, MoveNodes)) for e in edits):
            self._sync_groups()

    def _move_nodes(self, node_ids: Iterable[str]) -> None:
        flow = self.doc.flow
        wanted = set(node_ids)
        positions = {n.id: n.position for n in flow.nodes if n.id in wanted} if len(wanted) > 8 else {
            i: flow.node(i).position for i in wanted if flow.node(i) is not None}
        edges: set[EdgeItem] = set()
        for node_id, pos in positions.items():
            item = self.nodes.get(node_id)
            if item is not None:
                item.setPos(*pos)
                edges |= item.edges
        for edge in edges:
            edge.update_path()
        self._refit_groups(wanted)

    def _sync_nodes(self, touched: set[str], edges_changed: bool) -> None:
        flow = self.doc.flow
        registry = self.doc.registry
        specs = {n.id: n for n in flow.nodes if n.id in touched}
        ports_by_node = self._edge_ports((e for e in flow.edges if e.source_node in touched
                                          or e.target_node in touched), touched)
        geometry_changed: set[str] = set()
        order = {node_id: i for i, node_id in enumerate(specs)}
        for node_id in sorted(touched, key=lambda n: order.get(n, -1)):
            spec = specs.get(node_id)
            item = self.nodes.get(node_id)
            if spec is None:
                if item is not None:
                    for edge in list(item.edges):
                        self._remove_edge(edge.spec)
                    self.removeItem(item)
                    del self.nodes[node_id]
                continue
            if item is None:
                item = self._add_node(spec, registry.find(spec.type), ports_by_node.get(node_id, ()))
                if node_id in self.status:
                    item.set_status(self.status[node_id])
                if node_id in self.run_errors:
                    item.set_run_error(self.run_errors[node_id])
                if node_id in self.problems:
                    item.set_problems(self.problems[node_id])
                geometry_changed.add(node_id)
            else:
                if item.refresh(spec, registry.find(spec.type), ports_by_node.get(node_id, ())):
                    item.update()
                geometry_changed.add(node_id)
        if edges_changed:
            wanted = {e for e in flow.edges if e.source_node in touched or e.target_node in touched}
            have = {e for node_id in touched if node_id in self.nodes for e in
                    (edge.spec for edge in self.nodes[node_id].edges)}
            for edge in have - wanted:
                self._remove_edge(edge)
            for edge in flow.edges:
                if edge in wanted and edge not in self.edges:
                    self._add_edge(edge)
        for node_id in geometry_changed:
            item = self.nodes.get(node_id)
            if item is not None:
                for edge in item.edges:
                    edge.update_path()

    # -- groups

    def group_rect(self, spec: GroupSpec) -> QRectF:
        if spec.rect is not None:
            return QRectF(*spec.rect)
        return self.members_rect(spec.nodes)

    def members_rect(self, node_ids: Iterable[str]) -> QRectF:
        rect = QRectF()
        for node_id in node_ids:
            item = self.nodes.get(node_id)
            if item is not None:
                rect = rect.united(item.rect_in_scene())
        if rect.isNull():
            return QRectF(0, 0, 300, 200)
        pad = cs.GROUP_PADDING
        return rect.adjusted(-pad, -pad - cs.GROUP_TITLE_HEIGHT, pad, pad)

    def _sync_group(self, spec: GroupSpec) -> None:
        item = self.groups.get(spec.id)
        if item is None:
            item = GroupItem(spec, self.group_rect(spec))
            self.addItem(item)
            self.groups[spec.id] = item
        else:
            item.refresh(spec, self.group_rect(spec))

    def _sync_groups(self) -> None:
        specs = {g.id: g for g in self.doc.flow.groups}
        for gid in list(self.groups):
            if gid not in specs:
                self.removeItem(self.groups.pop(gid))
        for spec in specs.values():
            self._sync_group(spec)

    def _refit_groups(self, moved: set[str]) -> None:
        """Frames without a stored rectangle follow their nodes."""
        for item in self.groups.values():
            if item.spec.rect is None and moved.intersection(item.spec.nodes):
                item.refresh(item.spec, self.group_rect(item.spec))

    def _emphasize_edges(self) -> None:
        """Edges of selected nodes are drawn a little brighter and thicker."""
        wanted: set[EdgeItem] = set()
        for item in self.selectedItems():
            if isinstance(item, NodeItem):
                wanted |= item.edges
        for edge in self._emphasized - wanted:
            if edge.scene() is self:
                edge.set_emphasis(False)
        for edge in wanted - self._emphasized:
            edge.set_emphasis(True)
        self._emphasized = wanted

    # -- far zoom

    def set_overview(self, on: bool) -> None:
        """Let one item draw the whole flow (zoomed far out) or each item draw itself."""
        if on == self.overview_mode:
            return
        self.overview_mode = on
        for item in self.nodes.values():
            item.set_faded(on)
        for edge in self.edges.values():
            edge.setOpacity(0.0 if on else 1.0)
        if self.overview is not None:
            self.overview.setVisible(on)
            self.overview.invalidate()

    def _refresh_overview(self) -> None:
        if self.overview_mode and self.overview is not None:
            self.overview.invalidate()

    # -- look

    def set_node_status(self, node_id: str, status: str | None) -> None:
        if status is None:
            self.status.pop(node_id, None)
        else:
            self.status[node_id] = status
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_status(status)
            self._refresh_overview()

    def set_node_result(self, node_id: str, text: str | None) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_result(text)

    def set_node_progress(self, node_id: str, fraction: float | None) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_progress(fraction)

    def set_node_run_error(self, node_id: str, text: str | None) -> None:
        if text:
            self.run_errors[node_id] = text
        else:
            self.run_errors.pop(node_id, None)
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_run_error(text or "")

    def set_node_problems(self, problems: dict[str, list[str]]) -> None:
        """Replace all problem marks: node id -> messages (nodes not named get none)."""
        new = {node_id: tuple(messages) for node_id, messages in problems.items() if messages}
        for node_id in set(self.problems) | set(new):
            item = self.nodes.get(node_id)
            if item is not None:
                item.set_problems(new.get(node_id, ()))
        self.problems = new

    def _on_theme(self, _name: str) -> None:
        self.setBackgroundBrush(QColor(cs.palette().background))
        for item in self.nodes.values():
            item.update()
        for edge in self.edges.values():
            edge.update_path()
        for group in self.groups.values():
            group.update()
        self._refresh_overview()
        self.update()
