"""Bypass: a node switched off for a run, as ComfyUI's bypass does, so a flow can be tried without one step.

A bypassed node does not run. Each of its outputs is fed by the first of its inputs whose type fits the
output (`passthrough`), so `model -> [bypassed LoRA merge] -> chat` runs as `model -> chat`. An output with
no such input passes nothing: a node that needed it (a required input) is skipped, with what depends on
it; an optional input is simply left unconnected (SFT without its bypassed LoRA config trains the full
model). `resolve_bypass` rewrites the flow that way, once, before planning; validation reports the same
result as warnings, so the Problems panel and `flowstudio validate` say what a run will do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .edits import Edit, EditError
from .flow import EdgeSpec, Flow
from .graph import CycleError, FlowGraph
from .node import Node, Port
from .ports import Any as AnyValue
from .ports import is_compatible
from .problems import Problem
from .registry import NodeRegistry


def _stands_for(inp: Port, out: Port) -> bool:
    """An input may stand for an output when its values are of the output's type. An `Any` input takes
    anything, so it stands only for an `Any` output (an Echo's number is not its Text)."""
    if inp.multiple or (inp.type is AnyValue and out.type is not AnyValue):
        return False
    return is_compatible(inp.type, out.type)


def passthrough(inputs: tuple[Port, ...], outputs: tuple[Port, ...]) -> dict[str, str | None]:
    """For each output, the first single (not `multiple`) input whose type may stand for it, else None."""
    return {out.name: next((inp.name for inp in inputs if _stands_for(inp, out)), None) for out in outputs}


@dataclass
class BypassResult:
    flow: Flow  # a copy: bypassed and skipped nodes removed, edges rerouted through the bypassed ones
    bypassed: dict[str, str] = field(default_factory=dict)  # node id -> what passes through
    skipped: dict[str, str] = field(default_factory=dict)  # node id -> why it cannot run
    unfed: dict[str, list[str]] = field(default_factory=dict)  # node id -> optional inputs now unconnected

    @property
    def messages(self) -> dict[str, str]:
        """One line per node that will not run (for the run's node_skipped events)."""
        return {**self.bypassed, **self.skipped}


def _inputs(cls: type[Node] | None, params: dict, node_id: str, lost: dict) -> list[tuple[str, bool]]:
    """(input name, optional) of a node; a node whose type is not installed has only required inputs."""
    if cls is not None:
        return [(p.name, p.optional) for p in cls.input_ports(params)]
    return [(port, False) for (nid, port) in lost if nid == node_id]


def resolve_bypass(flow: Flow, registry: NodeRegistry) -> BypassResult:
    """The flow a run executes when some nodes are bypassed (the flow itself when none is).

    Needs unique node ids and no cycle (validation reports those first); raises CycleError otherwise."""
    if not any(node.bypass for node in flow.nodes):
        return BypassResult(flow)
    result = BypassResult(flow.copy_deep())
    order = FlowGraph(flow).topological_order()
    edges = list(flow.edges)
    lost: dict[tuple[str, str], str] = {}  # (node, input) -> which node no longer feeds it
    gone: set[str] = set()
    for node_id in order:
        spec = flow.node(node_id)
        if spec is None:
            continue
        cls = registry.find(spec.type)
        incoming = [e for e in edges if e.target_node == node_id]
        outgoing = [e for e in edges if e.source_node == node_id]
        if spec.bypass:
            mapping = passthrough(cls.input_ports(spec.params), cls.output_ports(spec.params)) if cls else {}
            feeds = {}
            for edge in incoming:
                feeds.setdefault(edge.target_port, edge.source)
            edges = [e for e in edges if e.source_node != node_id and e.target_node != node_id]
            through = [f"'{inp}' to '{out}'" for out, inp in mapping.items() if inp in feeds]
            blocked = []
            for edge in outgoing:
                source = feeds.get(mapping.get(edge.source_port) or "")
                if source is not None:
                    rerouted = EdgeSpec(source=source, target=edge.target)
                    if rerouted not in edges:
                        edges.append(rerouted)
                else:
                    lost[(edge.target_node, edge.target_port)] = node_id
                    blocked.append(edge.source_port)
            text = "bypassed: " + ("passes " + ", ".join(through) if through else "passes nothing")
            if blocked:
                text += (f"; no input can stand for {', '.join(repr(b) for b in dict.fromkeys(blocked))}, so what "
                         "reads it gets nothing")
            result.bypassed[node_id] = text
            gone.add(node_id)
            continue
        fed = {e.target_port for e in incoming}
        missing = [(name, optional, lost[(node_id, name)]) for name, optional in _inputs(cls, spec.params, node_id, lost)
                   if name not in fed and (node_id, name) in lost]
        required = [(name, src) for name, optional, src in missing if not optional]
        if required:
            port, src = required[0]
            why = "is bypassed" if src in result.bypassed else "is skipped"
            result.skipped[node_id] = (f"skipped: its input '{port}' came from '{src}', which {why} and "
                                       "passes nothing to it")
            for edge in outgoing:
                lost[(edge.target_node, edge.target_port)] = node_id
            edges = [e for e in edges if e.source_node != node_id and e.target_node != node_id]
            gone.add(node_id)
        elif missing:
            result.unfed[node_id] = [name for name, _optional, _src in missing]
    result.flow.nodes = [n for n in result.flow.nodes if n.id not in gone]
    result.flow.edges = edges
    for group in result.flow.groups:
        group.nodes = [n for n in group.nodes if n not in gone]
    return result


def bypass_problems(flow: Flow, registry: NodeRegistry) -> list[Problem]:
    """Warnings that say what a run does with the bypassed nodes (nothing when no node is bypassed)."""
    try:
        result = resolve_bypass(flow, registry)
    except CycleError:
        return []  # validation reports the cycle
    problems = [Problem("bypassed", text, node_id=nid, severity="warning",
                        hint="un-bypass it with Ctrl+B on the canvas (or remove \"bypass\" in the file)")
                for nid, text in result.bypassed.items()]
    problems += [Problem("skipped_by_bypass", text, node_id=nid, severity="warning",
                         hint="un-bypass the node it needs, or connect that input elsewhere")
                 for nid, text in result.skipped.items()]
    problems += [Problem("unfed_by_bypass", f"runs without its optional input(s) {', '.join(ports)} (bypassed upstream)",
                         node_id=nid, severity="warning") for nid, ports in result.unfed.items()]
    return problems


# Problems of a bypassed node that the run does not meet (the node does not run); structural ones stay.
_KEPT = {"duplicate_id", "dangling_edge", "missing_port", "type_mismatch", "port_fed_twice", "cycle", "bad_id",
         "bad_value"}


def soften_bypassed(problems: list[Problem], flow: Flow) -> list[Problem]:
    """A bypassed node's own errors (params, paths, a missing input) become warnings: it will not run."""
    off = {n.id for n in flow.nodes if n.bypass}
    if not off:
        return problems
    return [Problem(p.code, f"{p.message} (the node is bypassed)", p.node_id, p.field, p.hint, "warning")
            if p.node_id in off and p.severity == "error" and p.code not in _KEPT else p for p in problems]


@dataclass
class SetBypass(Edit):
    """Switch bypass on or off for some nodes (one undo step)."""

    states: dict[str, bool]
    label: str = "Bypass"

    def apply(self, flow: Flow) -> Edit:
        before = {}
        for node_id, on in self.states.items():
            node = flow.node(node_id)
            if node is None:
                raise EditError(f"no node '{node_id}' in the flow")
            before[node_id] = node.bypass
            node.bypass = on
        return SetBypass(before, label=self.label)

    def touched_nodes(self) -> set[str]:
        return set(self.states)
