"""Auto-layout of a flow: a layered (Sugiyama-style) drawing, left to right. Pure Python, no Qt.

1. Cycles (an invalid flow may have them) are broken by ignoring back edges.
2. Each node's layer is its longest path from a source (its topological depth).
3. Edges that span several layers get dummy nodes, so ordering sees them.
4. Order within layers: start from the current vertical order, then barycenter sweeps down and
   up, keeping the order with the fewest crossings.
5. Coordinates: layers are columns; nodes sit near the average height of their inputs without
   overlapping. Weakly connected components are stacked vertically.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from flowstudio.core.flow import Flow

H_GAP = 90.0
V_GAP = 36.0
COMPONENT_GAP = 80.0
SWEEPS = 8


def _break_cycles(nodes: list[str], succ: dict[str, list[str]]) -> dict[str, list[str]]:
    state: dict[str, int] = {}
    acyclic: dict[str, list[str]] = {n: [] for n in nodes}
    for root in nodes:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                continue  # back edge: part of a cycle, ignored
            acyclic[node].append(nxt)
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return acyclic


def _layers(nodes: list[str], succ: dict[str, list[str]]) -> dict[str, int]:
    indeg = {n: 0 for n in nodes}
    for n in nodes:
        for m in succ[n]:
            indeg[m] += 1
    ready = [n for n in nodes if indeg[n] == 0]
    layer = {n: 0 for n in nodes}
    i = 0
    while i < len(ready):
        n = ready[i]
        i += 1
        for m in succ[n]:
            layer[m] = max(layer[m], layer[n] + 1)
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return layer


def _crossings(order: list[list[str]], succ: dict[str, list[str]]) -> int:
    """Edge crossings between adjacent layers: inversions counted with a Fenwick tree, O(E log V)."""
    total = 0
    for upper, lower in zip(order, order[1:], strict=False):
        pos = {n: i for i, n in enumerate(lower)}
        pairs = sorted((i, pos[m]) for i, n in enumerate(upper) for m in succ[n] if m in pos)
        size = len(lower) + 1
        tree = [0] * (size + 1)
        for seen, (_, j) in enumerate(pairs):
            # edges already seen (earlier or same upper node) ending strictly right of j cross this one
            k, not_greater = j + 1, 0
            while k > 0:
                not_greater += tree[k]
                k -= k & -k
            total += seen - not_greater
            k = j + 1
            while k <= size:
                tree[k] += 1
                k += k & -k
    return total


def _order(layers: list[list[str]], succ: dict[str, list[str]], pred: dict[str, list[str]]) -> list[list[str]]:
    best = [list(layer) for layer in layers]
    best_score = _crossings(best, succ)
    current = [list(layer) for layer in layers]
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        indices = range(1, len(current)) if down else range(len(current) - 2, -1, -1)
        for li in indices:
            ref = current[li - 1] if down else current[li + 1]
            pos = {n: i for i, n in enumerate(ref)}
            neighbours = pred if down else succ

            def key(item: tuple[int, str], pos=pos, neighbours=neighbours) -> float:
                idx, n = item
                ps = [pos[m] for m in neighbours[n] if m in pos]
                return sum(ps) / len(ps) if ps else float(idx)

            current[li] = [n for _, n in sorted(enumerate(current[li]), key=key)]
        score = _crossings(current, succ)
        if score < best_score:
            best, best_score = [list(layer) for layer in current], score
        if best_score == 0:
            break
    return best


def _components(nodes: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    parent = {n: n for n in nodes}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for n in nodes:
        for m in succ[n]:
            parent[find(n)] = find(m)
    groups: dict[str, list[str]] = defaultdict(list)
    for n in nodes:
        groups[find(n)].append(n)
    return list(groups.values())


def _layout_component(nodes: list[str], succ: dict[str, list[str]], sizes: Mapping[str, tuple[float, float]],
                      start_y: dict[str, float]) -> dict[str, tuple[float, float]]:
    acyclic = _break_cycles(nodes, succ)
    layer = _layers(nodes, acyclic)
    # dummy nodes on long edges
    full_succ: dict[str, list[str]] = {n: [] for n in nodes}
    layer_of = dict(layer)
    dummy = 0
    for n in nodes:
        for m in acyclic[n]:
            prev = n
            for li in range(layer[n] + 1, layer[m]):
                d = f"\0dummy{dummy}"
                dummy += 1
                full_succ[d] = []
                layer_of[d] = li
                full_succ[prev].append(d)
                prev = d
            full_succ[prev].append(m)
    pred: dict[str, list[str]] = {n: [] for n in full_succ}
    for n, ms in full_succ.items():
        for m in ms:
            pred[m].append(n)
    count = max(layer_of.values()) + 1
    layers: list[list[str]] = [[] for _ in range(count)]
    for n in sorted(full_succ, key=lambda n: start_y.get(n, 0.0)):
        layers[layer_of[n]].append(n)
    # dummies start next to their source
    for li in range(1, count):
        above = {n: i for i, n in enumerate(layers[li - 1])}

        def initial(n: str, above: dict[str, int] = above) -> float:
            if n in start_y:
                return start_y[n]
            ps = [above[p] for p in pred[n] if p in above]
            return (sum(ps) / len(ps) * 100.0) if ps else 0.0
        layers[li].sort(key=initial)
    ordered = _order(layers, full_succ, pred)
    # x per layer
    widths = [max((sizes[n][0] for n in layer_nodes if n in sizes), default=0.0) for layer_nodes in ordered]
    xs, x = [], 0.0
    for w in widths:
        xs.append(x)
        x += w + H_GAP if w else H_GAP * 0.5
    # y: near the centre of the inputs, never overlapping (dummies take a thin slot)
    centre: dict[str, float] = {}
    out: dict[str, tuple[float, float]] = {}
    for li, layer_nodes in enumerate(ordered):
        y_free = 0.0
        for n in layer_nodes:
            h = sizes[n][1] if n in sizes else 8.0
            ps = [centre[p] for p in pred[n] if p in centre]
            want = (sum(ps) / len(ps) - h / 2) if ps else y_free
            y = max(want, y_free)
            centre[n] = y + h / 2
            y_free = y + h + (V_GAP if n in sizes else 8.0)
            if n in sizes:
                out[n] = (xs[li], y)
    return out


def layered_layout(flow: Flow, sizes: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Top-left positions for the nodes named in `sizes` (node id -> (width, height))."""
    nodes = [n.id for n in flow.nodes if n.id in sizes]
    if not nodes:
        return {}
    start_y = {n.id: n.position[1] for n in flow.nodes if n.id in sizes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for e in flow.edges:
        s, t = e.source_node, e.target_node
        if s in succ and t in succ and s != t and t not in succ[s]:
            succ[s].append(t)
    positions: dict[str, tuple[float, float]] = {}
    y_offset = 0.0
    components = _components(nodes, succ)
    components.sort(key=lambda comp: min(start_y[n] for n in comp))
    for comp in components:
        part = _layout_component(comp, {n: succ[n] for n in comp}, sizes, start_y)
        top = min(y for _, y in part.values())
        bottom = max(y + sizes[n][1] for n, (_, y) in part.items())
        for n, (x, y) in part.items():
            positions[n] = (round(x, 1), round(y - top + y_offset, 1))
        y_offset += bottom - top + COMPONENT_GAP
    return positions


def _overlaps(x: float, y: float, w: float, h: float, rects: list[tuple[float, float, float, float]],
              gap: float) -> bool:
    return any(x < rx + rw + gap and rx < x + w + gap and y < ry + rh + gap and ry < y + h + gap
               for rx, ry, rw, rh in rects)


def free_position(want: tuple[float, float], size: tuple[float, float],
                  occupied: list[tuple[float, float, float, float]], gap: float = 20.0, step: float = 20.0,
                  max_rings: int = 120) -> tuple[float, float]:
    """The free spot nearest `want` for a box of `size` (top-left corner): `want` itself when nothing in
    `occupied` (x, y, w, h) is within `gap` of it, else the nearest point of a `step` grid around it,
    searched ring by ring (below and to the right first among equally near ones)."""
    x0, y0 = want
    w, h = size
    near = [r for r in occupied if r[2] > 0 and r[3] > 0]
    if not _overlaps(x0, y0, w, h, near, gap):
        return want
    for ring in range(1, max_rings + 1):
        cells = [(dx, dy) for dx in range(-ring, ring + 1) for dy in range(-ring, ring + 1)
                 if max(abs(dx), abs(dy)) == ring]
        cells.sort(key=lambda c: (c[0] ** 2 + c[1] ** 2, c[1] < 0, c[0] < 0, abs(c[1])))
        for dx, dy in cells:
            x, y = x0 + dx * step, y0 + dy * step
            if not _overlaps(x, y, w, h, near, gap):
                return (x, y)
    return want
