"""The headless core: flow model, port types, node contract, registry, validation, graph. No Qt, no torch.

The names below are imported on first use (PEP 562), so `import flowstudio.core.errors` in a worker or the
CLI does not pay for the flow model, validation and documents it does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Change": "document", "FlowDocument": "document",
    "FlowFileError": "errors", "FlowStudioError": "errors", "NodeRunError": "errors", "RunCancelled": "errors",
    "UnknownNodeTypeError": "errors",
    "SCHEMA_VERSION": "flow", "EdgeSpec": "flow", "Flow": "flow", "GroupSpec": "flow", "NodeSpec": "flow",
    "load_flow": "flow", "parse_flow": "flow", "save_flow": "flow",
    "CycleError": "graph", "FlowGraph": "graph",
    "ModelSourceField": "node", "Node": "node", "NodeParams": "node", "PathField": "node", "Port": "node",
    "Ports": "node", "PortValues": "node", "Resources": "node", "RunContext": "node", "TextField": "node",
    "Problem": "problems",
    "NodeRegistry": "registry", "default_registry": "registry",
    "validate_flow": "validation",
    "Artifact": "values",
}

__all__ = [
    "SCHEMA_VERSION", "Artifact", "Change", "CycleError", "EdgeSpec", "Flow", "FlowDocument", "FlowFileError",
    "FlowGraph", "FlowStudioError", "GroupSpec", "ModelSourceField", "Node", "NodeParams", "NodeRegistry",
    "NodeRunError", "NodeSpec", "PathField", "Port", "PortValues", "Ports", "Problem", "Resources", "RunCancelled",
    "RunContext", "TextField", "UnknownNodeTypeError", "default_registry", "load_flow", "parse_flow", "save_flow",
    "validate_flow",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:
    from .document import Change, FlowDocument
    from .errors import FlowFileError, FlowStudioError, NodeRunError, RunCancelled, UnknownNodeTypeError
    from .flow import SCHEMA_VERSION, EdgeSpec, Flow, GroupSpec, NodeSpec, load_flow, parse_flow, save_flow
    from .graph import CycleError, FlowGraph
    from .node import (
        ModelSourceField,
        Node,
        NodeParams,
        PathField,
        Port,
        Ports,
        PortValues,
        Resources,
        RunContext,
        TextField,
    )
    from .problems import Problem
    from .registry import NodeRegistry, default_registry
    from .validation import validate_flow
    from .values import Artifact
