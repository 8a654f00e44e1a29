"""Tools as values: the light JSON spec a Tool port carries, and the registry of kinds that runs them.

A spec is {"name", "description", "parameters" (a JSON schema object), "kind", "config"}. Only the
kinds registered here can run: a spec never carries code, so a Tool value from anywhere can at worst
call the calculator or the sandboxed Python runner (whose node needs the user's consent to be in a flow).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ToolSpec = dict[str, Any]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "integer": (int,),
                                            "boolean": (bool,), "object": (dict,), "array": (list,)}


class ToolError(Exception):
    """A tool call that failed; the message goes back to the model as the tool's result."""


@dataclass(frozen=True)
class ToolKind:
    kind: str
    call: Callable[[dict[str, Any], dict[str, Any]], str]  # (arguments, config) -> result text


TOOL_KINDS: dict[str, ToolKind] = {}


def register_tool_kind(kind: str, call: Callable[[dict[str, Any], dict[str, Any]], str]) -> None:
    TOOL_KINDS[kind] = ToolKind(kind, call)


def make_spec(kind: str, name: str, description: str, parameters: dict[str, Any],
              config: dict[str, Any] | None = None) -> ToolSpec:
    if not _NAME.match(name):
        raise ValueError(f"tool name {name!r} must be letters, digits, '_' or '-' (starting with a letter)")
    return {"name": name, "description": description, "parameters": parameters, "kind": kind,
            "config": dict(config or {})}


def check_spec(value: Any) -> ToolSpec:
    """A Tool value as a spec dict, or a ToolError saying what is wrong with it."""
    if not isinstance(value, dict):
        raise ToolError(f"a tool must be a JSON object, got {type(value).__name__}")
    for key in ("name", "kind", "parameters"):
        if key not in value:
            raise ToolError(f"the tool spec has no {key!r}")
    if value["kind"] not in TOOL_KINDS:
        raise ToolError(f"unknown tool kind {value['kind']!r} (installed: {', '.join(sorted(TOOL_KINDS))})")
    return value


def function_schema(spec: ToolSpec) -> dict[str, Any]:
    """The OpenAI-style function schema that `apply_chat_template(tools=...)` understands."""
    return {"type": "function", "function": {"name": spec["name"], "description": spec.get("description", ""),
                                             "parameters": spec["parameters"]}}


def argument_problems(spec: ToolSpec, arguments: Any) -> list[str]:
    """What is wrong with `arguments` for this tool (required, unknown and wrongly typed fields)."""
    if not isinstance(arguments, dict):
        return [f"arguments must be a JSON object, got {type(arguments).__name__}"]
    schema = spec.get("parameters") or {}
    props: dict[str, Any] = schema.get("properties", {})
    problems = [f"missing required argument {name!r}" for name in schema.get("required", []) if name not in arguments]
    for name, value in arguments.items():
        if name not in props:
            if props:
                problems.append(f"unknown argument {name!r} (expected: {', '.join(props)})")
            continue
        expected = props[name].get("type")
        types = _JSON_TYPES.get(expected) if isinstance(expected, str) else None
        if types and (not isinstance(value, types) or (expected != "boolean" and isinstance(value, bool))):
            problems.append(f"argument {name!r} must be a {expected}, got {type(value).__name__}")
    return problems


def call_tool(spec: ToolSpec, arguments: Any) -> str:
    """Run one tool call; every failure is a ToolError with a message meant for the model."""
    spec = check_spec(spec)
    problems = argument_problems(spec, arguments)
    if problems:
        raise ToolError(f"bad arguments for {spec['name']}: " + "; ".join(problems))
    return TOOL_KINDS[spec["kind"]].call(arguments, spec.get("config") or {})


# ---------------------------------------------------------------------------------------- built-in kinds

CALCULATOR_PARAMETERS = {
    "type": "object",
    "properties": {"expression": {"type": "string",
                                  "description": "An arithmetic expression, e.g. '12 * (3 + 4) / 2' or 'sqrt(2)**2'"}},
    "required": ["expression"],
}

PYTHON_PARAMETERS = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "A Python script; print() what you want to see"}},
    "required": ["code"],
}


def _calculator(arguments: dict[str, Any], config: dict[str, Any]) -> str:
    from .calculator import CalcError, evaluate

    try:
        return evaluate(str(arguments["expression"])).text
    except CalcError as err:
        raise ToolError(str(err)) from None


def python_limits(config: dict[str, Any]) -> Any:
    from .sandbox import SandboxLimits

    defaults = SandboxLimits()
    return SandboxLimits(timeout_s=float(config.get("timeout_s", defaults.timeout_s)),
                         memory_mb=int(config.get("memory_mb", defaults.memory_mb)),
                         max_output_chars=int(config.get("max_output_chars", defaults.max_output_chars)))


def _python(arguments: dict[str, Any], config: dict[str, Any]) -> str:
    from .sandbox import SandboxUnavailable, run_python

    limits = python_limits(config)
    try:
        result = run_python(str(arguments["code"]), limits)
    except SandboxUnavailable as err:
        raise ToolError(str(err)) from None
    problem = result.problem(limits)
    parts = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr and not result.ok:
        parts.append("stderr:\n" + result.stderr.rstrip("\n"))
    if problem:
        raise ToolError(problem + ("\n" + "\n".join(parts) if parts else ""))
    return "\n".join(parts) if parts else "(no output)"


register_tool_kind("calculator", _calculator)
register_tool_kind("python", _python)


def describe_tools(specs: list[ToolSpec]) -> str:
    """The tools as JSON lines, for prompts of models without native tool calling."""
    return "\n".join(json.dumps(function_schema(s)["function"], ensure_ascii=False) for s in specs)
