"""The canvas's editing verbs: add, delete, clipboard, duplicate, auto-layout, frames.

Each builds core edits from the view's selection and pushes them as one undo step.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF

from flowstudio.core.bypass import SetBypass
from flowstudio.core.edits import (
    AddGroup,
    AddNode,
    Batch,
    Disconnect,
    Edit,
    MoveNodes,
    RemoveGroup,
    UpdateGroup,
)
from flowstudio.core.flow import GroupSpec

from . import clipboard, layout
from . import style as cs
from .host import ViewHost

NEW_NODE_SIZE = (cs.NODE_MIN_WIDTH + 20.0, 90.0)  # room kept for a node before it is drawn


def occupied(view: ViewHost, skip: frozenset[str] = frozenset()) -> list[tuple[float, float, float, float]]:
    """The canvas's node rectangles (x, y, w, h) in scene coordinates."""
    return [(item.pos().x(), item.pos().y(), item.width, item.height)
            for nid, item in view.canvas_scene.nodes.items() if nid not in skip]


def free_spot(view: ViewHost, at: QPointF, size: tuple[float, float] = NEW_NODE_SIZE) -> QPointF:
    """`at`, or the nearest place to it where a box of `size` covers no node (new nodes never land on old ones)."""
    x, y = layout.free_position((at.x(), at.y()), size, occupied(view))
    return QPointF(x, y)


def add_node(view: ViewHost, type_id: str, scene_pos: QPointF) -> str | None:
    """Add a node of `type_id` with its top-left corner at `scene_pos`, or the nearest free place to it (one
    undo step); select it."""
    if view.doc.registry.find(type_id) is None:
        view.statusMessage.emit(f"node type {type_id!r} is not installed")
        return None
    scene_pos = free_spot(view, scene_pos)
    spec = view.doc.make_node(type_id, (round(scene_pos.x(), 1), round(scene_pos.y(), 1)))
    cls = view.doc.registry.find(type_id)
    if not view.push(AddNode(spec, label=f"Add {cls.title or type_id}")):
        return None
    view.select_nodes([spec.id])
    return spec.id


def delete_selected(view: ViewHost) -> None:
    """Delete the selected nodes, edges and frames as one undo step."""
    node_ids = set(view.selected_node_ids())
    edits: list[Edit] = []
    for edge in view.selected_edges():
        if edge.spec.source_node not in node_ids and edge.spec.target_node not in node_ids:
            edits.append(Disconnect(edge.spec))
    if node_ids:
        removal = view.doc.remove_nodes_edit(node_ids)
        edits.extend(removal.edits if isinstance(removal, Batch) else [removal])
    edits.extend(RemoveGroup(g.group_id) for g in view.selected_groups())
    if not edits:
        return
    parts = []
    if node_ids:
        parts.append(f"{len(node_ids)} node{'s' if len(node_ids) != 1 else ''}")
    if len(edits) - len(node_ids) > 0:
        parts.append("connections/frames" if node_ids else "selection")
    view.push(Batch(edits, label="Delete " + " and ".join(parts)))


def copy(view: ViewHost) -> None:
    clipboard.copy_nodes(view.doc, view.selected_node_ids())


def cut(view: ViewHost) -> None:
    ids = view.selected_node_ids()
    if ids:
        clipboard.copy_nodes(view.doc, ids)
        removal = view.doc.remove_nodes_edit(ids)
        removal.label = f"Cut {len(ids)} node{'s' if len(ids) != 1 else ''}"
        view.push(removal)


def paste(view: ViewHost, connections: bool = False) -> None:
    """Paste the clipboard's flow JSON: at the cursor when it is over the canvas, else offset; on free space.
    `connections`: also connect the pasted nodes' inputs that came from nodes outside the copy (ComfyUI's
    Ctrl+Shift+V), where those nodes are in this flow."""
    fragment = clipboard.clipboard_fragment()
    if fragment is None or not fragment.nodes:
        view.statusMessage.emit("the clipboard holds no FlowStudio nodes")
        return
    paste_fragment(view, fragment, view.cursor_anchor(), connections)


def _fragment_box(view: ViewHost, fragment) -> tuple[float, float, float, float]:
    """The fragment's extent (x, y, w, h) at its own positions, with each node's drawn size when known."""
    sizes = {nid: (item.width, item.height) for nid, item in view.canvas_scene.nodes.items()}
    xs, ys, rights, bottoms = [], [], [], []
    for n in fragment.nodes:
        w, h = sizes.get(n.id, NEW_NODE_SIZE)
        xs.append(n.position[0])
        ys.append(n.position[1])
        rights.append(n.position[0] + w)
        bottoms.append(n.position[1] + h)
    return min(xs), min(ys), max(rights) - min(xs), max(bottoms) - min(ys)


def paste_fragment(view: ViewHost, fragment, at: QPointF | None, connections: bool = False) -> list[str]:
    left, top, width, height = _fragment_box(view, fragment)
    if at is not None:
        want = (at.x(), at.y())
    else:
        view.paste_count += 1
        want = (left + 40.0 * view.paste_count, top + 40.0 * view.paste_count)
    x, y = layout.free_position(want, (width, height), occupied(view))
    edit, new_ids = clipboard.paste_edit(view.doc, fragment, (x - left, y - top), connections=connections)
    if view.push(edit):
        view.select_nodes(new_ids)
        return new_ids
    return []


def duplicate(view: ViewHost) -> None:
    ids = view.selected_node_ids()
    if not ids:
        return
    fragment = clipboard.copy_fragment(view.doc.flow, ids)
    left, top, width, height = _fragment_box(view, fragment)
    x, y = layout.free_position((left + 40.0, top + 40.0), (width, height), occupied(view))
    edit, new_ids = clipboard.paste_edit(view.doc, fragment, (x - left, y - top))
    edit.label = f"Duplicate {len(ids)} node{'s' if len(ids) != 1 else ''}"
    if view.push(edit):
        view.select_nodes(new_ids)


def auto_layout(view: ViewHost) -> None:
    """Lay out the selection (two or more nodes) or the whole flow, left to right; one undo step."""
    ids = view.selected_node_ids()
    scope = set(ids) if len(ids) >= 2 else None
    sizes = {nid: (item.width, item.height) for nid, item in view.canvas_scene.nodes.items()
             if scope is None or nid in scope}
    positions = layout.layered_layout(view.doc.flow, sizes)
    if not positions:
        return
    if scope is not None:  # keep the laid-out block where the selection was
        rect = view.items_rect(scope)
        left = min(p[0] for p in positions.values())
        top = min(p[1] for p in positions.values())
        positions = {k: (x - left + rect.left(), y - top + rect.top()) for k, (x, y) in positions.items()}
    current = {n.id: n.position for n in view.doc.flow.nodes}
    changed = {k: v for k, v in positions.items() if current.get(k) != v}
    if changed:
        edits: list[Edit] = [MoveNodes(changed, label="Auto-layout")]
        edits.extend(refit_frames(view, changed))
        view.push(Batch(edits, label="Auto-layout") if len(edits) > 1 else edits[0])
    if scope is None:
        view.frame_all()


def refit_frames(view: ViewHost, moved: dict[str, tuple[float, float]]) -> list[Edit]:
    """Frames with a stored rectangle are fitted again around their members' new places."""
    edits: list[Edit] = []
    for group in view.doc.flow.groups:
        if group.rect is None or not moved.keys() & set(group.nodes):
            continue
        rect = QRectF()
        for node_id in group.nodes:
            item = view.canvas_scene.nodes.get(node_id)
            if item is not None:
                x, y = moved.get(node_id, tuple(item.pos().toTuple()))
                rect = rect.united(QRectF(x, y, item.width, item.height))
        if rect.isNull():
            continue
        pad = cs.GROUP_PADDING
        rect = rect.adjusted(-pad, -pad - cs.GROUP_TITLE_HEIGHT, pad, pad)
        edits.append(UpdateGroup(group.model_copy(update={"rect": (rect.x(), rect.y(), rect.width(),
                                                                    rect.height())}), label="Auto-layout"))
    return edits


def add_group_around_selection(view: ViewHost, title: str = "Frame") -> str | None:
    ids = view.selected_node_ids()
    if not ids:
        view.statusMessage.emit("select the nodes to frame first")
        return None
    taken = {g.id for g in view.doc.flow.groups}
    i = 1
    while f"frame_{i}" in taken:
        i += 1
    rect = view.canvas_scene.members_rect(ids)
    spec = GroupSpec(id=f"frame_{i}", title=title, nodes=ids,
                     rect=(rect.x(), rect.y(), rect.width(), rect.height()))
    if view.push(AddGroup(spec)):
        return spec.id
    return None


def set_group_color(view: ViewHost, group_id: str, color: str | None) -> None:
    spec = next((g for g in view.doc.flow.groups if g.id == group_id), None)
    if spec is not None and spec.color != color:
        view.push(UpdateGroup(spec.model_copy(update={"color": color}), label="Frame colour"))


def fit_group(view: ViewHost, group_id: str) -> None:
    """Fit a frame around its nodes (one undo step)."""
    spec = next((g for g in view.doc.flow.groups if g.id == group_id), None)
    if spec is None or not spec.nodes:
        return
    rect = view.canvas_scene.members_rect(spec.nodes)
    new = (rect.x(), rect.y(), rect.width(), rect.height())
    if spec.rect != new:
        view.push(UpdateGroup(spec.model_copy(update={"rect": new}), label="Fit frame"))


def select_related(view: ViewHost, upstream: bool) -> None:
    """Add everything upstream (what the selection needs) or downstream (what needs it) to the selection."""
    chosen = set(view.selected_node_ids())
    neighbours: dict[str, list[str]] = {}
    for e in view.doc.flow.edges:
        a, b = (e.target_node, e.source_node) if upstream else (e.source_node, e.target_node)
        neighbours.setdefault(a, []).append(b)
    stack, seen = list(chosen), set(chosen)
    while stack:
        for m in neighbours.get(stack.pop(), ()):
            if m not in seen:
                seen.add(m)
                stack.append(m)
    view.select_nodes(seen)


def toggle_bypass(view: ViewHost) -> None:
    """Bypass the selected nodes, or un-bypass them when all already are (one undo step)."""
    ids = view.selected_node_ids()
    if not ids:
        view.statusMessage.emit("select the nodes to bypass first")
        return
    on = not all(view.doc.flow.node(i).bypass for i in ids if view.doc.flow.node(i) is not None)
    label = f"{'Bypass' if on else 'Un-bypass'} {len(ids)} node{'s' if len(ids) != 1 else ''}"
    view.push(SetBypass(dict.fromkeys(ids, on), label=label))


def disconnect_selected(view: ViewHost) -> None:
    """Remove every edge touching the selected nodes (one undo step)."""
    chosen = set(view.selected_node_ids())
    edges = [e for e in view.doc.flow.edges if e.source_node in chosen or e.target_node in chosen]
    if edges:
        view.push(Batch([Disconnect(e) for e in edges], label="Disconnect all"))
