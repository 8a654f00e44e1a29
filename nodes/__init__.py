"""The built-in node library, shipped as `flowstudio.nodes` and registered through the
`flowstudio.nodes` entry point like any plugin.

One public module per node family; modules whose names start with `_` hold shared helpers.
No module here imports torch, transformers or Qt at import time.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from flowstudio.core.node import Node


def node_types() -> list[type[Node]]:
    """Every node type declared in the public modules of this package."""
    found: list[type[Node]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Node) and obj.type and obj.__module__ == module.__name__:
                found.append(obj)
    return found
