"""The built-in node library, shipped as `flowstudio.nodes` and registered through the
`flowstudio.nodes` entry point like any plugin.

One package per family (`io`, `models`, `data`, `training`, `rl`, `evaluation`, `chains`, `tools`),
holding its node modules and the helpers only it uses; `hf` holds the Hugging Face helpers the
families share. Each family's `__init__` names its node modules in `NODE_MODULES`; every other
module is a helper. No module here imports torch, transformers or Qt at import time.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from flowstudio.core.node import Node


def node_modules() -> list[str]:
    """Dotted names of the modules that declare node types, family by family."""
    names: list[str] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        family = importlib.import_module(f"{__name__}.{info.name}")
        names += [f"{family.__name__}.{module}" for module in getattr(family, "NODE_MODULES", ())]
    return names


def node_types() -> list[type[Node]]:
    """Every node type declared in the node modules of the families."""
    found: list[type[Node]] = []
    for name in node_modules():
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Node) and obj.type and obj.__module__ == module.__name__:
                found.append(obj)
    return found
