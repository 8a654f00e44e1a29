"""From a flow to a plan: overrides (--set, --input), --until, consent for user code, validation,
topological order, parsed params with absolute paths. Nothing runs here; everything is checked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstudio.core.bypass import resolve_bypass
from flowstudio.core.errors import FlowStudioError
from flowstudio.core.flow import Flow
from flowstudio.core.graph import FlowGraph
from flowstudio.core.limits import clip, text_problem, value_problem
from flowstudio.core.node import Node, NodeParams, Resources, param_widget
from flowstudio.core.paths import is_builtin_reference, resolve_user_path
from flowstudio.core.problems import Problem, errors
from flowstudio.core.registry import NodeRegistry
from flowstudio.core.validation import validate_flow


class RunSetupError(FlowStudioError):
    """The run cannot start: a bad override, a missing node, or code that needs consent."""


class FlowInvalidError(RunSetupError):
    """Validation found problems; `problems` has every one of them."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        lines = "\n".join("  " + p.format() for p in problems)
        where = f"{source}: " if source else ""
        super().__init__(f"{where}the flow cannot run, {len(problems)} problem(s):\n{lines}")


def parse_value(text: str) -> Any:
    """A --set value: JSON when it parses (numbers, true, lists...), the plain string otherwise."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_overrides(flow: Flow, sets: Sequence[str] = (), inputs: Sequence[str] = (),
                    registry: NodeRegistry | None = None) -> Flow:
    """A copy of `flow` with `NODE_ID.PARAM=VALUE` and `NODE_ID=TEXT` (io.text) applied."""
    if not sets and not inputs:
        return flow
    flow = flow.copy_deep()
    ids = ", ".join(n.id for n in flow.nodes) or "none"
    for item in sets:
        target, sep, value = item.partition("=")
        node_id, dot, param = target.partition(".")
        if not sep or not dot or not node_id or not param:
            raise RunSetupError(f"--set {_quote(item)}: expected NODE_ID.PARAM=VALUE, e.g. --set sft.epochs=2")
        node = flow.node(node_id)
        if node is None:
            raise RunSetupError(f"--set {_quote(item)}: the flow has no node '{node_id}' (nodes: {ids})")
        parsed = parse_value(value)
        _check_override(item, f"{node_id}.{param}", parsed, node.params.get(param))
        node.params[param] = parsed
    for item in inputs:
        node_id, sep, text = item.partition("=")
        if not sep or not node_id:
            raise RunSetupError(f"--input {_quote(item)}: expected NODE_ID=TEXT, e.g. --input question='What is 2+2?'")
        node = flow.node(node_id)
        if node is None:
            raise RunSetupError(f"--input {_quote(item)}: the flow has no node '{node_id}' (nodes: {ids})")
        type_id = registry.resolve_id(node.type) if registry else node.type
        if type_id != "io.text":
            raise RunSetupError(f"--input {_quote(item)}: node '{node_id}' is a {node.type}, not a text input (io.text); "
                                f"use --set {node_id}.PARAM=VALUE for its params")
        if reason := text_problem(text):
            raise RunSetupError(f"--input {_quote(item)}: the text {reason}; give the text as UTF-8")
        node.params["text"] = text
    return flow


def _quote(item: str) -> str:
    """An option as the user typed it, shortened and printable (it may hold anything)."""
    return clip(ascii(item) if text_problem(item) else repr(item), 120)


def _check_override(item: str, target: str, value: Any, current: Any) -> None:
    """The rules the flow file has (finite numbers, valid Unicode text) hold for --set too: a bad value
    is refused here, naming NODE_ID.PARAM, before anything is validated or written."""
    found = value_problem(value)
    if found is None:
        return
    loc, reason = found
    where = f"{target}{loc}" if loc.startswith("[") else f"{target}.{loc}" if loc else target
    if isinstance(value, str):
        fix = "give the value as UTF-8 text"
    elif isinstance(current, int | float) and not isinstance(current, bool):
        fix = f"give a finite number, e.g. --set {target}={current!r} (the flow's value)"
    else:
        fix = "give a finite number"
    raise RunSetupError(f"--set {_quote(item)}: {where} {reason}; {fix}")


def restrict_until(flow: Flow, node_id: str) -> Flow:
    """Only `node_id` and what it needs (its upstream closure)."""
    if flow.node(node_id) is None:
        ids = ", ".join(n.id for n in flow.nodes) or "none"
        raise RunSetupError(f"--until {node_id!r}: the flow has no such node (nodes: {ids})")
    keep = FlowGraph(flow).upstream(node_id) | {node_id}
    out = flow.copy_deep()
    out.nodes = [n for n in out.nodes if n.id in keep]
    out.edges = [e for e in out.edges if e.source_node in keep and e.target_node in keep]
    return out


@dataclass
class InputSpec:
    port: str
    multiple: bool
    sources: list[tuple[str, str]]  # (node id, output port), in edge order


@dataclass
class PlannedNode:
    id: str
    cls: type[Node]
    params: NodeParams  # validated, path params made absolute
    params_json: dict[str, Any]
    inputs: list[InputSpec]
    path_params: list[str]  # PathField params (absolute paths)
    source_params: list[str] = field(default_factory=list)  # ModelSourceField params (maybe local paths)
    upstream: set[str] = field(default_factory=set)
    downstream: set[str] = field(default_factory=set)

    @property
    def type(self) -> str:
        return self.cls.type

    @property
    def resources(self) -> Resources:
        return self.cls.resources

    @property
    def wants_worker(self) -> bool:
        return self.cls.resources.worker or self.cls.resources.gpus > 0

    @property
    def cacheable(self) -> bool:
        return bool(self.cls.is_cacheable(self.params))


@dataclass
class Plan:
    flow: Flow
    flow_dir: Path
    order: list[str]
    nodes: dict[str, PlannedNode]
    bypassed: dict[str, str] = field(default_factory=dict)  # node id -> why it does not run (bypass)


def _absolute_params(cls: type[Node], params: NodeParams, flow_dir: Path) -> tuple[NodeParams, list[str]]:
    names = []
    updates = {}
    for name in type(params).model_fields:
        if param_widget(type(params), name).get("widget") != "path":
            continue
        names.append(name)
        value = getattr(params, name)
        if isinstance(value, str) and value and not is_builtin_reference(value):
            updates[name] = str(resolve_user_path(value, flow_dir).absolute())
    if updates:
        params = params.model_copy(update=updates)
    return params, names


def build_plan(flow: Flow, registry: NodeRegistry, flow_dir: Path, *, allow_code: bool = False,
               source: str | None = None) -> Plan:
    """Validate (every problem at once), check consent for user code, order the nodes."""
    problems = errors(validate_flow(flow, registry, flow_dir))
    if problems:
        raise FlowInvalidError(problems, source)
    resolved = resolve_bypass(flow, registry)  # bypassed nodes and what needed them leave the plan
    flow = resolved.flow
    if not allow_code:
        risky = [(n, risk) for n in flow.nodes if (risk := registry.get(n.type).code_risk(n.params))]
        if risky:
            names = "; ".join(f"'{n.id}' ({n.type}) {risk}" for n, risk in risky)
            raise RunSetupError(f"node {names}; run it only if you trust the file, with --allow-code (in the "
                                "app: allow code for this flow)")
    graph = FlowGraph(flow)
    order = graph.topological_order()
    nodes: dict[str, PlannedNode] = {}
    for spec in flow.nodes:
        cls = registry.get(spec.type)
        params = cls.Params.model_validate(spec.params)
        params, path_params = _absolute_params(cls, params, flow_dir)
        by_port: dict[str, list[tuple[str, str]]] = {}
        for edge in flow.edges:
            if edge.target_node == spec.id:
                by_port.setdefault(edge.target_port, []).append((edge.source_node, edge.source_port))
        inputs = [InputSpec(p.name, p.multiple, by_port.get(p.name, [])) for p in cls.input_ports(spec.params)]
        sources = [n for n in type(params).model_fields if param_widget(type(params), n).get("widget") == "model"]
        nodes[spec.id] = PlannedNode(spec.id, cls, params, params.model_dump(mode="json"), inputs, path_params,
                                     sources)
    for node_id in order:
        node = nodes[node_id]
        node.upstream = {src for inp in node.inputs for src, _ in inp.sources}
        for up in node.upstream:
            nodes[up].downstream.add(node_id)
    return Plan(flow, flow_dir, order, nodes, resolved.messages)
