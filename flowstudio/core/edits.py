"""Edits: the only way a flow document changes. Each edit applies itself and returns its exact inverse.

Exact means list order is restored too, so undoing any sequence of edits gives back the same flow
JSON. The UI wraps each edit in a QUndoCommand; the core stays free of Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue

from .errors import FlowStudioError
from .flow import EdgeSpec, Flow, GroupSpec, NodeSpec


class EditError(FlowStudioError):
    """An edit that does not fit the document (e.g. removing a node that is not there)."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class Edit:
    label: str = "Edit"

    def apply(self, flow: Flow) -> Edit:
        """Change `flow` in place and return the edit that undoes this one."""
        raise NotImplementedError

    def touched_nodes(self) -> set[str]:
        return set()


def _node_index(flow: Flow, node_id: str) -> int:
    for i, node in enumerate(flow.nodes):
        if node.id == node_id:
            return i
    raise EditError(f"no node '{node_id}' in the flow")


@dataclass
class AddNode(Edit):
    node: NodeSpec
    index: int | None = None
    # Restored with the node when undoing a removal: (edge index, edge) and (group id, position).
    edges: list[tuple[int, EdgeSpec]] = field(default_factory=list)
    memberships: list[tuple[str, int]] = field(default_factory=list)
    label: str = "Add node"

    def apply(self, flow: Flow) -> Edit:
        if flow.node(self.node.id) is not None:
            raise EditError(f"a node '{self.node.id}' already exists")
        index = len(flow.nodes) if self.index is None else self.index
        flow.nodes.insert(index, self.node.model_copy(deep=True))
        for edge_index, edge in sorted(self.edges, key=lambda item: item[0]):
            flow.edges.insert(edge_index, edge)
        for group_id, position in self.memberships:
            for group in flow.groups:
                if group.id == group_id:
                    group.nodes.insert(position, self.node.id)
        return RemoveNode(self.node.id, label=self.label)

    def touched_nodes(self) -> set[str]:
        return {self.node.id}


@dataclass
class RemoveNode(Edit):
    node_id: str
    label: str = "Remove node"

    def apply(self, flow: Flow) -> Edit:
        index = _node_index(flow, self.node_id)
        node = flow.nodes.pop(index)
        removed = [(i, e) for i, e in enumerate(flow.edges) if self.node_id in (e.source_node, e.target_node)]
        flow.edges[:] = [e for e in flow.edges if self.node_id not in (e.source_node, e.target_node)]
        memberships = []
        for group in flow.groups:
            if self.node_id in group.nodes:
                memberships.append((group.id, group.nodes.index(self.node_id)))
                group.nodes.remove(self.node_id)
        return AddNode(node, index, removed, memberships, label=self.label)

    def touched_nodes(self) -> set[str]:
        return {self.node_id}


@dataclass
class MoveNodes(Edit):
    positions: dict[str, tuple[float, float]]
    label: str = "Move"

    def apply(self, flow: Flow) -> Edit:
        by_id: dict[str, NodeSpec] = {}
        for node in flow.nodes:  # one pass, not one scan per node: a drag moves many nodes many times
            by_id.setdefault(node.id, node)
        missing = [node_id for node_id in self.positions if node_id not in by_id]
        if missing:
            raise EditError(f"no node '{missing[0]}' in the flow")
        old = {}
        for node_id, pos in self.positions.items():
            node = by_id[node_id]
            old[node_id] = node.position
            node.position = (float(pos[0]), float(pos[1]))
        return MoveNodes(old, label=self.label)

    def touched_nodes(self) -> set[str]:
        return set(self.positions)


@dataclass
class SetParam(Edit):
    """Set one param by name; `value=UNSET` removes it (back to the node's default)."""

    node_id: str
    name: str
    value: JsonValue | _Unset
    label: str = "Change parameter"

    def apply(self, flow: Flow) -> Edit:
        node = flow.nodes[_node_index(flow, self.node_id)]
        old = node.params.get(self.name, UNSET)
        if self.value is UNSET:
            node.params.pop(self.name, None)
        else:
            node.params[self.name] = self.value
        return SetParam(self.node_id, self.name, old, label=self.label)

    def touched_nodes(self) -> set[str]:
        return {self.node_id}


@dataclass
class SetTitle(Edit):
    node_id: str
    title: str | None
    label: str = "Rename node"

    def apply(self, flow: Flow) -> Edit:
        node = flow.nodes[_node_index(flow, self.node_id)]
        old = node.title
        node.title = self.title
        return SetTitle(self.node_id, old, label=self.label)

    def touched_nodes(self) -> set[str]:
        return {self.node_id}


@dataclass
class Connect(Edit):
    edge: EdgeSpec
    index: int | None = None
    label: str = "Connect"

    def apply(self, flow: Flow) -> Edit:
        if self.edge in flow.edges:
            raise EditError(f"{self.edge.source} is already connected to {self.edge.target}")
        flow.edges.insert(len(flow.edges) if self.index is None else self.index, self.edge)
        return Disconnect(self.edge, label=self.label)

    def touched_nodes(self) -> set[str]:
        return {self.edge.source_node, self.edge.target_node}


@dataclass
class Disconnect(Edit):
    edge: EdgeSpec
    label: str = "Disconnect"

    def apply(self, flow: Flow) -> Edit:
        try:
            index = flow.edges.index(self.edge)
        except ValueError:
            raise EditError(f"{self.edge.source} is not connected to {self.edge.target}") from None
        flow.edges.pop(index)
        return Connect(self.edge, index, label=self.label)

    def touched_nodes(self) -> set[str]:
        return {self.edge.source_node, self.edge.target_node}


@dataclass
class AddGroup(Edit):
    group: GroupSpec
    index: int | None = None
    label: str = "Add frame"

    def apply(self, flow: Flow) -> Edit:
        if any(g.id == self.group.id for g in flow.groups):
            raise EditError(f"a frame '{self.group.id}' already exists")
        flow.groups.insert(len(flow.groups) if self.index is None else self.index, self.group.model_copy(deep=True))
        return RemoveGroup(self.group.id, label=self.label)


@dataclass
class RemoveGroup(Edit):
    group_id: str
    label: str = "Remove frame"

    def apply(self, flow: Flow) -> Edit:
        for i, group in enumerate(flow.groups):
            if group.id == self.group_id:
                flow.groups.pop(i)
                return AddGroup(group, i, label=self.label)
        raise EditError(f"no frame '{self.group_id}'")


@dataclass
class UpdateGroup(Edit):
    """Replace a frame's title, members, colour or rectangle."""

    group: GroupSpec
    label: str = "Edit frame"

    def apply(self, flow: Flow) -> Edit:
        for i, group in enumerate(flow.groups):
            if group.id == self.group.id:
                flow.groups[i] = self.group.model_copy(deep=True)
                return UpdateGroup(group, label=self.label)
        raise EditError(f"no frame '{self.group.id}'")


@dataclass
class SetFlowInfo(Edit):
    name: str
    description: str
    label: str = "Edit flow info"

    def apply(self, flow: Flow) -> Edit:
        old = SetFlowInfo(flow.name, flow.description, label=self.label)
        flow.name, flow.description = self.name, self.description
        return old


@dataclass
class Batch(Edit):
    """Several edits as one step (a macro): applied in order, undone in reverse."""

    edits: list[Edit]
    label: str = "Edit"

    def apply(self, flow: Flow) -> Edit:
        inverses: list[Edit] = []
        try:
            for edit in self.edits:
                inverses.append(edit.apply(flow))
        except Exception:
            for inverse in reversed(inverses):  # leave the flow as it was
                inverse.apply(flow)
            raise
        return Batch(list(reversed(inverses)), label=self.label)

    def touched_nodes(self) -> set[str]:
        out: set[str] = set()
        for edit in self.edits:
            out |= edit.touched_nodes()
        return out
