"""What changed between two runs' flow snapshots: nodes, params and connections, then a unified diff.

Positions and titles are layout, not behaviour: they are left out of the summary (the unified diff of
the files still shows them).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from .records import MISSING, format_value

MAX_DIFF_LINES = 2000


@dataclass(frozen=True)
class Change:
    kind: str  # "node added" | "node removed" | "type" | "param" | "edge added" | "edge removed"
    where: str  # node id, "node.param" or "source -> target"
    before: Any = None
    after: Any = None

    def text(self) -> str:
        if self.kind in ("param", "type"):
            return f"{self.where}: {format_value(self.before)} → {format_value(self.after)}"
        return f"{self.kind}: {self.where}"


def _nodes(flow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = flow.get("nodes")
    return {n["id"]: n for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)} \
        if isinstance(nodes, list) else {}


def _edges(flow: dict[str, Any]) -> set[tuple[str, str]]:
    edges = flow.get("edges")
    return {(str(e.get("source")), str(e.get("target"))) for e in edges if isinstance(e, dict)} \
        if isinstance(edges, list) else set()


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """The behavioural changes from snapshot `before` to snapshot `after`, nodes in `after`'s order."""
    a_nodes, b_nodes = _nodes(before), _nodes(after)
    out: list[Change] = [Change("node removed", n) for n in a_nodes if n not in b_nodes]
    for node_id, node in b_nodes.items():
        old = a_nodes.get(node_id)
        if old is None:
            out.append(Change("node added", node_id))
            continue
        if old.get("type") != node.get("type"):
            out.append(Change("type", f"{node_id}.type", old.get("type"), node.get("type")))
        a_params = old.get("params") if isinstance(old.get("params"), dict) else {}
        b_params = node.get("params") if isinstance(node.get("params"), dict) else {}
        for name in sorted(set(a_params) | set(b_params)):
            x, y = a_params.get(name, MISSING), b_params.get(name, MISSING)
            if _canon(x) != _canon(y):
                out.append(Change("param", f"{node_id}.{name}", x, y))
        if bool(old.get("bypass")) != bool(node.get("bypass")):
            out.append(Change("param", f"{node_id}.bypass", bool(old.get("bypass")), bool(node.get("bypass"))))
    a_edges, b_edges = _edges(before), _edges(after)
    out += [Change("edge removed", f"{s} → {t}") for s, t in sorted(a_edges - b_edges)]
    out += [Change("edge added", f"{s} → {t}") for s, t in sorted(b_edges - a_edges)]
    return out


def unified(before: dict[str, Any], after: dict[str, Any], names: tuple[str, str] = ("a", "b")) -> str:
    """A unified diff of the two snapshots as pretty JSON (keys sorted, so only real changes show)."""
    a = json.dumps(before, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()
    b = json.dumps(after, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()
    lines = list(difflib.unified_diff(a, b, f"{names[0]}/flow.json", f"{names[1]}/flow.json", lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"… {len(lines) - MAX_DIFF_LINES} more lines"]
    return "\n".join(lines)


def report(before: dict[str, Any], after: dict[str, Any], names: tuple[str, str]) -> str:
    """The text the Diff tab shows: the summary of changes, then the unified diff."""
    found = changes(before, after)
    head = [f"{names[0]} → {names[1]}: " + (f"{len(found)} change{'s' if len(found) != 1 else ''}"
                                             if found else "the flows are the same")]
    head += ["  " + c.text() for c in found]
    diff = unified(before, after, names)
    return "\n".join(head) + ("\n\n" + diff if diff else "")
