"""The flow file: a pydantic model, its loader (never raises anything but FlowFileError) and atomic save.

Params are stored by name and kept as raw JSON here; they are checked against the node's params
model by validation, so a node whose type is not installed survives load and save untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from .errors import FlowFileError

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
    nodes: list[str] = Field(default_factory=list)
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
        raise FlowFileError(f"'schema_version' must be an integer, not {version!r}")
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


def _describe_validation_error(err: ValidationError) -> str:
    parts = []
    for item in err.errors()[:3]:
        loc = ".".join(str(x) for x in item["loc"]) or "(top level)"
        parts.append(f"{loc}: {item['msg']}")
    more = len(err.errors()) - 3
    text = "; ".join(parts)
    if more > 0:
        text += f"; and {more} more"
    return f"not a valid flow: {text}"


def parse_flow(text: str | bytes, source: str | None = None) -> Flow:
    """Parse flow JSON. Any problem becomes a FlowFileError with a one-line message."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise FlowFileError(f"not a text file (not UTF-8 at byte {exc.start})", source) from None
    except json.JSONDecodeError as exc:
        raise FlowFileError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", source) from None
    except (ValueError, RecursionError) as exc:
        raise FlowFileError(f"not JSON: {type(exc).__name__}: {exc}", source) from None
    return flow_from_data(data, source)


def flow_from_data(data: Any, source: str | None = None) -> Flow:
    if not isinstance(data, dict):
        raise FlowFileError(f"not a flow: expected a JSON object, found {type(data).__name__}", source)
    if "nodes" not in data:
        raise FlowFileError("not a flow: it has no 'nodes' list", source)
    try:
        data = migrate(data)
        return Flow.model_validate(data)
    except FlowFileError as exc:
        raise FlowFileError(str(exc), source) from None
    except ValidationError as exc:
        raise FlowFileError(_describe_validation_error(exc), source) from None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise FlowFileError(f"not a valid flow: {exc}", source) from None


def load_flow(path: str | os.PathLike[str]) -> Flow:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FlowFileError("no such file", str(path)) from None
    except IsADirectoryError:
        raise FlowFileError("is a directory, not a flow file", str(path)) from None
    except OSError as exc:
        raise FlowFileError(f"cannot read: {exc.strerror}", str(path)) from None
    return parse_flow(raw, str(path))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a file so that readers see the old or the new content, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_flow(flow: Flow, path: str | os.PathLike[str]) -> None:
    atomic_write_text(path, flow.to_json_text())


def flow_json_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "FlowStudio flow file"
    return schema
