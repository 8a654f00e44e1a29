"""The headless core: flow model, port types, node contract, registry, validation, graph. No Qt, no torch."""

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

__all__ = [
    "SCHEMA_VERSION", "Artifact", "Change", "CycleError", "EdgeSpec", "Flow", "FlowDocument", "FlowFileError",
    "FlowGraph", "FlowStudioError", "GroupSpec", "ModelSourceField", "Node", "NodeParams", "NodeRegistry",
    "NodeRunError", "NodeSpec", "PathField", "Port", "PortValues", "Ports", "Problem", "Resources", "RunCancelled",
    "RunContext", "TextField", "UnknownNodeTypeError", "default_registry", "load_flow", "parse_flow", "save_flow",
    "validate_flow",
]
