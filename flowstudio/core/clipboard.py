"""Copy and paste as flow JSON: a fragment is a small flow, so it can travel between windows and files."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .document import FlowDocument
from .edits import AddGroup, AddNode, Batch, Connect, Edit
from .flow import EdgeSpec, Flow, GroupSpec, parse_flow

MIME_TYPE = "application/x-flowstudio-fragment+json"


def copy_fragment(flow: Flow, node_ids: Iterable[str]) -> Flow:
    """The chosen nodes, the edges between them, and frames wholly inside the selection."""
    chosen = set(node_ids)
    nodes = [n.model_copy(deep=True) for n in flow.nodes if n.id in chosen]
    edges = [e for e in flow.edges if e.source_node in chosen and e.target_node in chosen]
    groups = [g.model_copy(deep=True) for g in flow.groups if g.nodes and set(g.nodes) <= chosen]
    return Flow(name="fragment", nodes=nodes, edges=edges, groups=groups)


def fragment_to_text(fragment: Flow) -> str:
    return json.dumps(fragment.to_json_dict(), ensure_ascii=False)


def fragment_from_text(text: str) -> Flow:
    """Raises FlowFileError when the clipboard holds something else."""
    return parse_flow(text, "clipboard")


def paste_edit(doc: FlowDocument, fragment: Flow, offset: tuple[float, float] = (40.0, 40.0)) -> tuple[Edit, list[str]]:
    """An edit adding the fragment's nodes with new ids, shifted by `offset`; returns it and the new ids."""
    renamed: dict[str, str] = {}
    edits: list[Edit] = []
    taken: set[str] = set()
    for node in fragment.nodes:
        new_id = doc.new_node_id(node.type, taken) if doc.flow.node(node.id) or node.id in taken else node.id
        taken.add(new_id)
        renamed[node.id] = new_id
        spec = node.model_copy(deep=True, update={
            "id": new_id, "position": (node.position[0] + offset[0], node.position[1] + offset[1])})
        edits.append(AddNode(spec))
    for edge in fragment.edges:
        if edge.source_node in renamed and edge.target_node in renamed:
            edits.append(Connect(EdgeSpec(source=f"{renamed[edge.source_node]}.{edge.source_port}",
                                          target=f"{renamed[edge.target_node]}.{edge.target_port}")))
    group_ids = {g.id for g in doc.flow.groups}
    for group in fragment.groups:
        gid, i = group.id, 2
        while gid in group_ids:
            gid, i = f"{group.id}_{i}", i + 1
        group_ids.add(gid)
        rect = group.rect
        if rect is not None:
            rect = (rect[0] + offset[0], rect[1] + offset[1], rect[2], rect[3])
        edits.append(AddGroup(GroupSpec(id=gid, title=group.title, color=group.color, rect=rect,
                                        nodes=[renamed[n] for n in group.nodes if n in renamed])))
    count = len(renamed)
    return Batch(edits, label=f"Paste {count} node{'s' if count != 1 else ''}"), list(renamed.values())
