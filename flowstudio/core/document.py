"""The flow document: a flow being edited, its edit operations and change notifications.

The UI sits on this: it turns user gestures into `Edit`s, pushes them through its undo stack (which
calls `apply`), and redraws from the notifications. Nothing here knows about Qt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .edits import Batch, Connect, Disconnect, Edit, MoveNodes, RemoveNode, SetParam
from .flow import EdgeSpec, Flow, NodeSpec, load_flow, save_flow
from .limits import MAX_NODE_ID_LENGTH
from .problems import Problem
from .registry import NodeRegistry, default_registry
from .validation import connection_problem, validate_flow


@dataclass(frozen=True)
class Change:
    """What a listener hears after each applied edit (or after a whole new flow was loaded)."""

    edit: Edit | None  # None: the whole flow was replaced
    nodes: frozenset[str]


Listener = Callable[[Change], None]


def _slug(type_id: str) -> str:
    """A node id base from a type id ("train.sft" -> "sft"), short enough for a `_123` suffix."""
    base = type_id.rsplit(".", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9_]", "_", base) or "node"
    base = base if base[0].isalpha() or base[0] == "_" else f"n_{base}"
    return base[: MAX_NODE_ID_LENGTH - 8]


class FlowDocument:
    def __init__(self, flow: Flow | None = None, path: Path | None = None,
                 registry: NodeRegistry | None = None) -> None:
        self.flow = flow or Flow()
        self.path = path
        self.registry = registry or default_registry()
        self._listeners: list[Listener] = []
        self.revision = 0  # bumps on every change; the UI compares it with the saved revision
        self.saved_revision = 0

    # -- files

    @classmethod
    def open(cls, path: str | Path, registry: NodeRegistry | None = None) -> FlowDocument:
        path = Path(path)
        return cls(load_flow(path), path, registry)

    def save(self, path: str | Path | None = None) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("this document has no file yet; give a path")
        save_flow(self.flow, target)
        self.path = target
        self.saved_revision = self.revision
        return target

    @property
    def modified(self) -> bool:
        return self.revision != self.saved_revision

    def replace_flow(self, flow: Flow) -> None:
        self.flow = flow
        self.revision += 1
        self._notify(Change(None, frozenset(n.id for n in flow.nodes)))

    # -- notifications

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    # -- the one way to change the flow

    def apply(self, edit: Edit) -> Edit:
        """Apply an edit, notify listeners and return its inverse (for undo)."""
        inverse = edit.apply(self.flow)
        self.revision += 1
        self._notify(Change(edit, frozenset(edit.touched_nodes())))
        return inverse

    # -- builders of common edits (they do not apply them)

    def new_node_id(self, type_id: str, taken: Iterable[str] = ()) -> str:
        used = {n.id for n in self.flow.nodes} | set(taken)
        base = _slug(type_id)
        if base not in used:
            return base
        i = 2
        while f"{base}_{i}" in used:
            i += 1
        return f"{base}_{i}"

    def make_node(self, type_id: str, position: tuple[float, float] = (0.0, 0.0),
                  params: dict[str, Any] | None = None, node_id: str | None = None) -> NodeSpec:
        """A new node spec with the type's default params (so files show every setting)."""
        cls = self.registry.find(type_id)
        defaults = cls.default_params() if cls else {}
        defaults.update(params or {})
        return NodeSpec(id=node_id or self.new_node_id(type_id), type=type_id, params=defaults, position=position)

    def remove_nodes_edit(self, node_ids: Iterable[str]) -> Edit:
        ids = [n.id for n in self.flow.nodes if n.id in set(node_ids)]
        return Batch([RemoveNode(i) for i in ids], label=f"Delete {len(ids)} node{'s' if len(ids) != 1 else ''}")

    def connect_edit(self, source: str, target: str) -> Edit:
        """Connect `source` to `target`; an input that takes one edge loses its old one (one undo step)."""
        edge = EdgeSpec(source=source, target=target)
        edits: list[Edit] = []
        target_node, target_port = target.split(".", 1)
        node = self.flow.node(target_node)
        cls = self.registry.find(node.type) if node else None
        multiple = False
        if cls is not None and node is not None:
            port = next((p for p in cls.input_ports(node.params) if p.name == target_port), None)
            multiple = bool(port and port.multiple)
        if not multiple:
            edits += [Disconnect(e) for e in self.flow.edges if e.target == target and e != edge]
        edits.append(Connect(edge))
        return Batch(edits, label="Connect") if len(edits) > 1 else edits[0]

    def can_connect(self, source: str, target: str) -> str | None:
        """None when allowed, else the reason (for the canvas while a connection is dragged)."""
        return connection_problem(self.flow, self.registry, source, target)

    def set_param_edit(self, node_id: str, name: str, value: Any) -> Edit:
        return SetParam(node_id, name, value)

    def move_edit(self, positions: dict[str, tuple[float, float]]) -> Edit:
        return MoveNodes(positions)

    # -- queries

    def validate(self, check_files: bool = True) -> list[Problem]:
        flow_dir = self.path.parent if self.path else None
        return validate_flow(self.flow, self.registry, flow_dir, check_files)

    def to_json_text(self) -> str:
        return self.flow.to_json_text()
