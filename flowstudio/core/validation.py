"""Validation: every problem in a flow at once, as records with node id, field, message and hint."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .bypass import bypass_problems, soften_bypassed
from .flow import EdgeSpec, Flow, NodeSpec
from .graph import FlowGraph
from .limits import MAX_NODE_ID_LENGTH, clip, text_problem, value_problem
from .node import Node, NodeParams, Port, find_port, param_widget
from .paths import is_builtin_reference, resolve_user_path
from .ports import is_compatible
from .problems import Problem
from .registry import NodeRegistry, default_registry


def parse_params(cls: type[Node], raw: dict[str, Any]) -> tuple[NodeParams | None, list[Problem]]:
    """Check raw params against the node's model; problems carry the field name, node id left empty."""
    try:
        return cls.Params.model_validate(raw), []
    except ValidationError as err:
        problems = []
        for item in err.errors():
            field = str(item["loc"][0]) if item["loc"] else None
            if item["type"] == "extra_forbidden":
                known = ", ".join(cls.Params.model_fields) or "none"
                problems.append(Problem("unknown_param", f"unknown parameter for {cls.type}", field=field,
                                        hint=f"known parameters: {known}"))
            else:
                got = clip(repr(item.get("input")), 80)
                desc = cls.Params.model_fields[field].description if field in cls.Params.model_fields else ""
                hint = desc or ""
                problems.append(Problem("bad_param", f"{item['msg']} (got {got})", field=field, hint=hint))
        return None, problems


def _path_problems(cls: type[Node], params: NodeParams, flow_dir: Path | None) -> list[Problem]:
    problems = []
    for name in type(params).model_fields:
        widget = param_widget(type(params), name)
        if widget.get("widget") != "path" or not widget.get("must_exist", True):
            continue
        value = getattr(params, name)
        if not isinstance(value, str) or not value or is_builtin_reference(value):
            continue
        path = resolve_user_path(value, flow_dir)
        kind = widget.get("path_kind", "any")
        if not path.exists():
            problems.append(Problem("missing_path", f"{path} does not exist", field=name,
                                    hint="choose an existing local path (relative paths are relative to the flow file)"))
        elif kind == "file" and not path.is_file():
            problems.append(Problem("missing_path", f"{path} is a directory, a file is expected", field=name))
        elif kind == "dir" and not path.is_dir():
            problems.append(Problem("missing_path", f"{path} is a file, a directory is expected", field=name))
    return problems


def _spec_problems(spec: NodeSpec) -> list[Problem]:
    """What a run needs of a node beyond its params model: an id short enough to name a directory, and
    values it can write into the run's flow.json (valid Unicode text, finite numbers)."""
    problems = []
    if len(spec.id) > MAX_NODE_ID_LENGTH:
        problems.append(Problem("bad_id", f"the node id is {len(spec.id)} characters long; ids are at most "
                                f"{MAX_NODE_ID_LENGTH}", node_id=spec.id,
                                hint="give the node a shorter id in the flow file (letters, digits, _ and -)"))
    for name, value in spec.params.items():
        found = value_problem(value)
        if found is not None:
            loc, reason = found
            where = f" at {loc}" if loc else ""
            problems.append(Problem("bad_value", f"the value{where} {reason}", node_id=spec.id, field=name,
                                    hint="replace it with plain text, or a finite number"))
    for name, value in (("title", spec.title), ("type", spec.type)):
        if isinstance(value, str) and (reason := text_problem(value)):
            problems.append(Problem("bad_value", f"the node's {name} {reason}", node_id=spec.id,
                                    hint="replace it with plain text"))
    return problems


def _flow_value_problems(flow: Flow) -> list[Problem]:
    """Text outside the params that a run could not write into its flow.json (the run would crash)."""
    parts: list[tuple[str, object]] = [("name", flow.name), ("description", flow.description),
                                       ("metadata", flow.metadata), ("extra keys", flow.model_extra or {})]
    parts += [(f"frame '{g.id}'", g.model_dump()) for g in flow.groups]
    parts += [(f"node '{n.id}' (extra keys)", n.model_extra) for n in flow.nodes if n.model_extra]
    problems = []
    for what, value in parts:
        found = value_problem(value)
        if found is not None:
            loc, reason = found
            problems.append(Problem("bad_value", f"the flow's {what}{f' at {loc}' if loc else ''} {reason}",
                                    hint="replace it with plain text, or a finite number"))
    return problems


def _at(problem: Problem, node_id: str) -> Problem:
    return Problem(problem.code, problem.message, node_id, problem.field, problem.hint, problem.severity)


class _NodeInfo:
    def __init__(self, spec: NodeSpec, cls: type[Node] | None, params: NodeParams | None) -> None:
        self.spec = spec
        self.cls = cls
        self.params = params
        raw = spec.params
        self.inputs: tuple[Port, ...] = cls.input_ports(raw) if cls else ()
        self.outputs: tuple[Port, ...] = cls.output_ports(raw) if cls else ()


def validate_flow(
    flow: Flow,
    registry: NodeRegistry | None = None,
    flow_dir: Path | None = None,
    check_files: bool = True,
) -> list[Problem]:
    """All problems of `flow`. An empty list means it may run."""
    registry = registry or default_registry()
    problems: list[Problem] = []
    infos: dict[str, _NodeInfo] = {}

    counts = Counter(node.id for node in flow.nodes)
    for node_id, count in counts.items():
        if count > 1:
            problems.append(Problem("duplicate_id", f"{count} nodes share the id '{node_id}'", node_id=node_id,
                                    hint="give each node its own id"))

    for spec in flow.nodes:
        problems += _spec_problems(spec)
        cls = registry.find(spec.type)
        params = None
        if cls is None:
            problems.append(Problem("unknown_type", f"node type '{spec.type}' is not installed", node_id=spec.id,
                                    hint="install the plugin package that provides it; the node is kept as is"))
        else:
            params, param_problems = parse_params(cls, spec.params)
            problems += [_at(p, spec.id) for p in param_problems]
            if params is not None and check_files:
                problems += [_at(p, spec.id) for p in _path_problems(cls, params, flow_dir)]
                problems += [_at(p, spec.id) for p in cls.check(params, flow_dir)]
        infos.setdefault(spec.id, _NodeInfo(spec, cls, params))

    problems += _flow_value_problems(flow)
    fed: Counter[tuple[str, str]] = Counter()
    for edge in flow.edges:
        problems += _edge_problems(edge, infos)
        fed[(edge.target_node, edge.target_port)] += 1

    for (node_id, port_name), count in fed.items():
        info = infos.get(node_id)
        port = find_port(info.inputs, port_name) if info else None
        if port is not None and count > 1 and not port.multiple:
            problems.append(Problem("port_fed_twice", f"input '{port_name}' is connected {count} times",
                                    node_id=node_id, field=port_name, hint="an input takes one connection; remove the extra edges"))

    for node_id, info in infos.items():
        for port in info.inputs:
            if not port.optional and fed[(node_id, port.name)] == 0:
                problems.append(Problem("missing_input", f"required input '{port.name}' ({port.type.name}) is not connected",
                                        node_id=node_id, field=port.name,
                                        hint=f"connect an output of type {port.type.name} to it"))

    cycle = FlowGraph(flow).find_cycle()
    if cycle:
        problems.append(Problem("cycle", "the flow has a cycle: " + " -> ".join([*cycle, cycle[0]]), node_id=cycle[0],
                                hint="remove one of these connections; flows must be acyclic"))
    if any(node.bypass for node in flow.nodes):  # what a run does without them, as warnings
        problems = soften_bypassed(problems, flow)
        if not cycle and len(counts) == len(flow.nodes):
            problems += bypass_problems(flow, registry)
    return problems


def _edge_problems(edge: EdgeSpec, infos: dict[str, _NodeInfo]) -> list[Problem]:
    problems = []
    src, dst = infos.get(edge.source_node), infos.get(edge.target_node)
    label = f"{edge.source} -> {edge.target}"
    if src is None:
        problems.append(Problem("dangling_edge", f"edge {label} starts at a node that does not exist",
                                node_id=edge.target_node if dst else None, field=edge.target_port if dst else None,
                                hint="delete the edge or add the node"))
    if dst is None:
        problems.append(Problem("dangling_edge", f"edge {label} ends at a node that does not exist",
                                node_id=edge.source_node if src else None, field=edge.source_port if src else None,
                                hint="delete the edge or add the node"))
    if src is None or dst is None:
        return problems
    out_port = find_port(src.outputs, edge.source_port) if src.cls else None
    in_port = find_port(dst.inputs, edge.target_port) if dst.cls else None
    if src.cls and out_port is None:
        names = ", ".join(p.name for p in src.outputs) or "none"
        problems.append(Problem("missing_port", f"edge {label}: '{src.spec.type}' has no output '{edge.source_port}'",
                                node_id=src.spec.id, field=edge.source_port, hint=f"outputs: {names}"))
    if dst.cls and in_port is None:
        names = ", ".join(p.name for p in dst.inputs) or "none"
        problems.append(Problem("missing_port", f"edge {label}: '{dst.spec.type}' has no input '{edge.target_port}'",
                                node_id=dst.spec.id, field=edge.target_port, hint=f"inputs: {names}"))
    if out_port and in_port and not is_compatible(out_port.type, in_port.type):
        problems.append(Problem("type_mismatch",
                                f"edge {label}: a {out_port.type.name} output cannot feed a {in_port.type.name} input",
                                node_id=dst.spec.id, field=edge.target_port,
                                hint=f"connect an output of type {in_port.type.name}"))
    return problems


def connection_problem(flow: Flow, registry: NodeRegistry, source: str, target: str) -> str | None:
    """Why `source -> target` may not be connected (None when it may). Used by the canvas while dragging."""
    src_id, src_port = source.split(".", 1)
    dst_id, dst_port = target.split(".", 1)
    if src_id == dst_id:
        return "a node cannot feed itself"
    if any(e.source == source and e.target == target for e in flow.edges):
        return "already connected"
    src, dst = flow.node(src_id), flow.node(dst_id)
    if src is None or dst is None:
        return "no such node"
    src_cls, dst_cls = registry.find(src.type), registry.find(dst.type)
    if src_cls is None or dst_cls is None:
        return "the node type is not installed"
    out_port = find_port(src_cls.output_ports(src.params), src_port)
    in_port = find_port(dst_cls.input_ports(dst.params), dst_port)
    if out_port is None or in_port is None:
        return "no such port"
    if not is_compatible(out_port.type, in_port.type):
        return f"a {out_port.type.name} output cannot feed a {in_port.type.name} input"
    graph = FlowGraph(flow)
    if src_id in graph.downstream(dst_id):
        return "this connection would make a cycle"
    return None
