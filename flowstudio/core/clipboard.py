"""Copy and paste as flow JSON: a fragment is a small flow, so it can travel between windows and files."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .document import FlowDocument
from .edits import AddGroup, AddNode, Batch, Connect, Edit
from .flow import EdgeSpec, Flow, GroupSpec, parse_flow

MIME_TYPE = "application/x-flowstudio-fragment+json"


INCOMING_KEY = "incoming"  # fragment metadata: edges into the copy from nodes outside it


def copy_fragment(flow: Flow, node_ids: Iterable[str]) -> Flow:
    """The chosen nodes, the edges between them, and frames wholly inside the selection. The edges into the
    selection from other nodes go in `metadata["incoming"]` (with the source node's type), for Paste with
    Connections."""
    chosen = set(node_ids)
    nodes = [n.model_copy(deep=True) for n in flow.nodes if n.id in chosen]
    edges = [e for e in flow.edges if e.source_node in chosen and e.target_node in chosen]
    groups = [g.model_copy(deep=True) for g in flow.groups if g.nodes and set(g.nodes) <= chosen]
    types = {n.id: n.type for n in flow.nodes}
    incoming = [{"source": e.source, "target": e.target, "source_type": types.get(e.source_node, "")}
                for e in flow.edges if e.target_node in chosen and e.source_node not in chosen]
    metadata = {INCOMING_KEY: incoming} if incoming else {}
    return Flow(name="fragment", nodes=nodes, edges=edges, groups=groups, metadata=metadata)


def _incoming(doc: FlowDocument, fragment: Flow, renamed: dict[str, str]) -> list[Edit]:
    """Connect edits for the fragment's recorded incoming edges whose source node is in `doc` (same id, same
    type) and whose target was pasted; anything malformed or missing is skipped."""
    raw = fragment.metadata.get(INCOMING_KEY)
    if not isinstance(raw, list):
        return []
    edits: list[Edit] = []
    seen = {f"{renamed.get(e.target_node, e.target_node)}.{e.target_port}" for e in fragment.edges}
    for item in raw[: 10 * max(1, len(renamed))]:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("source", "target")):
            continue
        source, target = item["source"], item["target"]
        src_node, _, src_port = source.partition(".")
        dst_node, _, dst_port = target.partition(".")
        node = doc.flow.node(src_node)
        if (node is None or dst_node not in renamed or not src_port or not dst_port
                or (item.get("source_type") and item["source_type"] != node.type)):
            continue
        new_target = f"{renamed[dst_node]}.{dst_port}"
        if new_target not in seen:
            seen.add(new_target)
            edits.append(Connect(EdgeSpec(source=source, target=new_target)))
    return edits


def fragment_to_text(fragment: Flow) -> str:
    return json.dumps(fragment.to_json_dict(), ensure_ascii=False)


def fragment_from_text(text: str) -> Flow:
    """Raises FlowFileError when the clipboard holds something else."""
    return parse_flow(text, "clipboard")


def paste_edit(doc: FlowDocument, fragment: Flow, offset: tuple[float, float] = (40.0, 40.0),
               connections: bool = False) -> tuple[Edit, list[str]]:
    """An edit adding the fragment's nodes with new ids, shifted by `offset`; returns it and the new ids.
    `connections`: also the edges into the copy from nodes outside it that are in `doc`."""
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
    if connections:
        edits.extend(_incoming(doc, fragment, renamed))
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
    label = f"Paste {count} node{'s' if count != 1 else ''}" + (" with connections" if connections else "")
    return Batch(edits, label=label), list(renamed.values())
