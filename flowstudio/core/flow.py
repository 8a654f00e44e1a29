"""The flow file: a pydantic model, its loader (never raises anything but FlowFileError) and atomic save.

Params are stored by name and kept as raw JSON here; they are checked against the node's params
model by validation, so a node whose type is not installed survives load and save untouched.

Whatever a file holds, loading costs bounded time and memory: only regular files up to
`MAX_FLOW_FILE_BYTES` are read, and checking stops after `MAX_FLOW_ERRORS` errors (see limits.py).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from .errors import FlowFileError
from .limits import MAX_FLOW_ERRORS, MAX_FLOW_FILE_BYTES, clip, json_value_problem, text_problem
from .safe_io import FileTooLargeError, NotARegularFileError, atomic_write_bytes, read_regular_file

SCHEMA_VERSION = 1
NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
ENDPOINT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*\.[A-Za-z_][A-Za-z0-9_]*$"


class NodeSpec(BaseModel):
    """One node in a flow. Extra keys written by other tools or newer plugins are preserved."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    id: str = Field(pattern=NODE_ID_PATTERN, description="Stable id, unique in the flow; used in edges and --set")
    type: str = Field(min_length=1, description="Node type id, e.g. 'train.sft'")
    params: dict[str, JsonValue] = Field(default_factory=dict, description="Params by name")
    position: tuple[float, float] = (0.0, 0.0)
    title: str | None = None
    bypass: bool = Field(False, description="Switched off for runs: inputs pass through to outputs of their "
                         "type (see core/bypass.py); written only when true")


class EdgeSpec(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    source: str = Field(pattern=ENDPOINT_PATTERN, description="'node_id.output_port'")
    target: str = Field(pattern=ENDPOINT_PATTERN, description="'node_id.input_port'")

    @property
    def source_node(self) -> str:
        return self.source.split(".", 1)[0]

    @property
    def source_port(self) -> str:
        return self.source.split(".", 1)[1]

    @property
    def target_node(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def target_port(self) -> str:
        return self.target.split(".", 1)[1]


class GroupSpec(BaseModel):
    """A comment frame around nodes; moving it moves its nodes."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    id: str = Field(pattern=NODE_ID_PATTERN)
    title: str = ""
    nodes: list[str] = Field(default_factory=list, fail_fast=True)  # one error for a list of a million
    color: str | None = None
    rect: tuple[float, float, float, float] | None = None  # x, y, width, height


class Flow(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    schema_version: int = SCHEMA_VERSION
    name: str = "Untitled"
    description: str = ""
    nodes: list[NodeSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)
    groups: list[GroupSpec] = Field(default_factory=list)
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    def node(self, node_id: str) -> NodeSpec | None:
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None

    def to_json_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for node in data["nodes"]:
            if node.get("title") is None:
                node.pop("title", None)
            if not node.get("bypass"):
                node.pop("bypass", None)
        for group in data["groups"]:
            if group.get("color") is None:
                group.pop("color", None)
            if group.get("rect") is None:
                group.pop("rect", None)
        return data

    def to_json_text(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2, ensure_ascii=False) + "\n"

    def copy_deep(self) -> Flow:
        return Flow.model_validate(self.to_json_dict())


# ------------------------------------------------------------------------------------------- migration


def _migrate_0_to_1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 0 (the pre-release draft): nodes carried `x`/`y`, edges were `links` of `{from, to}`."""
    out = {k: v for k, v in data.items() if k not in ("links", "schema_version")}
    nodes = []
    for node in data.get("nodes", []):
        if isinstance(node, dict) and ("x" in node or "y" in node):
            node = dict(node)
            node["position"] = [node.pop("x", 0.0), node.pop("y", 0.0)]
        nodes.append(node)
    out["nodes"] = nodes
    links = data.get("links", [])
    if not isinstance(links, list):
        raise FlowFileError("'links' must be a list of {from, to} in a schema 0 flow")
    edges = list(data.get("edges", []))
    for link in links:
        if not isinstance(link, dict):
            raise FlowFileError("each link must be an object with 'from' and 'to'")
        edges.append({"source": link.get("from"), "target": link.get("to")})
    out["edges"] = edges
    out["schema_version"] = 1
    return out


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _migrate_0_to_1}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a flow dict up to SCHEMA_VERSION; refuse files from a newer FlowStudio."""
    version = data.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise FlowFileError(f"'schema_version' must be an integer, not {clip(repr(version), 60)}")
    if version > SCHEMA_VERSION:
        raise FlowFileError(
            f"this flow was saved by a newer FlowStudio (schema_version {version}); this version reads up to "
            f"{SCHEMA_VERSION}. Upgrade FlowStudio to open it."
        )
    if version < 0:
        raise FlowFileError(f"'schema_version' {version} is not a valid version")
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data


# ------------------------------------------------------------------------------------------ load, save


def _error_lines(err: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[str]:
    lines = []
    for item in err.errors(include_url=False, include_input=False)[:MAX_FLOW_ERRORS]:
        loc = ".".join(clip(repr(x)[1:-1] if isinstance(x, str) else str(x), 40) for x in (*prefix, *item["loc"]))
        loc = loc or "(top level)"
        lines.append(f"{loc}: {item['msg']}")
    return lines


def _describe(lines: list[str], stopped: bool) -> str:
    text = "; ".join(lines[:3])
    more = len(lines) - 3
    if stopped:
        text += f"; and {max(more, 0)} more (checking stopped after the first {MAX_FLOW_ERRORS} errors)"
    elif more > 0:
        text += f"; and {more} more"
    return f"not a valid flow: {text}"


class _TooManyNonFinite(Exception):
    pass


def _json_loads(text: str) -> Any:
    """json.loads that stops at the MAX_FLOW_ERRORS+1st number that is not finite (each one would be an
    error later); the first ones are kept so that the model reports where they are."""
    count = 0

    def non_finite(value: float) -> float:
        nonlocal count
        count += 1
        if count > MAX_FLOW_ERRORS:
            raise _TooManyNonFinite
        return value

    def parse_float(literal: str) -> float:
        value = float(literal)
        return value if math.isfinite(value) else non_finite(value)

    return json.loads(text, parse_float=parse_float, parse_constant=lambda name: non_finite(float(name)))


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def parse_flow(text: str | bytes, source: str | None = None) -> Flow:
    """Parse flow JSON. Any problem becomes a FlowFileError with a one-line message."""
    if len(text) > MAX_FLOW_FILE_BYTES:  # text from the clipboard or a caller, not only from load_flow
        raise FlowFileError(f"too large to be a flow ({len(text):,} characters; the limit is "
                            f"{MAX_FLOW_FILE_BYTES // 2**20} MiB)", source)
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        data = _json_loads(text)
    except UnicodeDecodeError as exc:
        raise FlowFileError(f"not a text file (not UTF-8 at byte {exc.start})", source) from None
    except json.JSONDecodeError as exc:
        raise FlowFileError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", source) from None
    except _TooManyNonFinite:
        raise FlowFileError(f"not a valid flow: more than {MAX_FLOW_ERRORS} numbers are not finite (NaN, "
                            "Infinity or too large); flow files hold finite numbers only", source) from None
    except (ValueError, RecursionError) as exc:
        raise FlowFileError(f"not JSON: {type(exc).__name__}: {clip(str(exc), 200)}", source) from None
    if (_SURROGATE_ESCAPE.search(text) or text_problem(text)) and (problem := json_value_problem(data)):
        raise FlowFileError(f"not a valid flow: {clip(problem, 300)}", source)
    return flow_from_data(data, source)


_ITEMS: tuple[tuple[str, type[BaseModel]], ...] = (("nodes", NodeSpec), ("edges", EdgeSpec), ("groups", GroupSpec))


def _validate(data: dict[str, Any]) -> Flow:
    """Flow.model_validate, one node, edge and group at a time, so that a list of a million bad items
    stops after MAX_FLOW_ERRORS errors instead of building a million of them."""
    lines: list[str] = []
    stopped = False
    checked: dict[str, list[Any]] = {}
    for key, model in _ITEMS:
        items = data.get(key)
        if not isinstance(items, list):
            continue  # missing (the default) or not a list (one error from the whole model below)
        good = []
        for i, item in enumerate(items):
            if len(lines) >= MAX_FLOW_ERRORS:
                stopped = True
                break
            try:
                good.append(model.model_validate(item))
            except ValidationError as err:
                lines += _error_lines(err, (key, i))
        checked[key] = good
    try:
        flow = Flow.model_validate({**data, **{key: [] for key in checked}})
    except ValidationError as err:
        lines = _error_lines(err) + lines
    if lines:
        raise FlowFileError(_describe(lines[:MAX_FLOW_ERRORS], stopped or len(lines) > MAX_FLOW_ERRORS))
    for key, good in checked.items():
        setattr(flow, key, good)
    return flow


def flow_from_data(data: Any, source: str | None = None) -> Flow:
    if not isinstance(data, dict):
        raise FlowFileError(f"not a flow: expected a JSON object, found {type(data).__name__}", source)
    if "nodes" not in data:
        raise FlowFileError("not a flow: it has no 'nodes' list", source)
    try:
        data = migrate(data)
        return _validate(data)
    except FlowFileError as exc:
        raise FlowFileError(str(exc), source) from None
    except ValidationError as exc:
        raise FlowFileError(_describe(_error_lines(exc), exc.error_count() > MAX_FLOW_ERRORS), source) from None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise FlowFileError(f"not a valid flow: {clip(str(exc), 300)}", source) from None


def load_flow(path: str | os.PathLike[str]) -> Flow:
    """Read and parse a flow file; only a regular file (symlinks followed) up to MAX_FLOW_FILE_BYTES."""
    path = Path(path)
    try:
        raw = read_regular_file(path, MAX_FLOW_FILE_BYTES)
    except FileNotFoundError:
        raise FlowFileError("no such file", str(path)) from None
    except NotARegularFileError as exc:
        if exc.strerror and "directory" in exc.strerror:
            raise FlowFileError("is a directory, not a flow file", str(path)) from None
        raise FlowFileError(f"{exc.strerror}; a flow file must be a regular file", str(path)) from None
    except FileTooLargeError as exc:
        raise FlowFileError(f"the file is too large to be a flow ({exc.size:,} bytes; the limit is "
                            f"{exc.limit:,} bytes, {exc.limit // 2**20} MiB)", str(path)) from None
    except OSError as exc:
        raise FlowFileError(f"cannot read: {exc.strerror or exc}", str(path)) from None
    return parse_flow(raw, str(path))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a file so that readers see the old or the new content, never half of one. A symlink is
    written through (its target changes, the link stays). Text that is not valid Unicode is refused
    (UnicodeEncodeError) before anything is written. Returns the file written."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def save_flow(flow: Flow, path: str | os.PathLike[str]) -> None:
    atomic_write_text(path, flow.to_json_text())


def flow_json_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "FlowStudio flow file"
    return schema
