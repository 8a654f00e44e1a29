"""The node registry: node types from the built-in library and from plugins, by id.

Both come through the entry-point group `flowstudio.nodes`, so the built-in library has no back
door. An entry point may name a callable returning node classes, an iterable of node classes, or a
module (every `Node` subclass with a `type` defined in it is registered).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from .errors import UnknownNodeTypeError
from .node import Node

ENTRY_POINT_GROUP = "flowstudio.nodes"


@dataclass(frozen=True)
class PluginError:
    """A plugin that could not be loaded; the app keeps going and shows this."""

    entry_point: str
    message: str


class NodeRegistry:
    """Node types by id. `loader` (optional) fills the registry on first use, so an object that is only
    passed around (the app's window builds one before its first frame) imports no node module."""

    def __init__(self, node_types: Iterable[type[Node]] = (), loader: Callable[[NodeRegistry], None] | None = None,
                 ) -> None:
        self._types: dict[str, type[Node]] = {}
        self._legacy: dict[str, str] = {}
        self._plugin_errors: list[PluginError] = []
        self._loader = loader
        for cls in node_types:
            self.register(cls)

    @property
    def loaded(self) -> bool:
        """False until a lazy registry has been used (and so has imported its node modules)."""
        return self._loader is None

    def load(self) -> NodeRegistry:
        loader, self._loader = self._loader, None
        if loader is not None:
            loader(self)
        return self

    @property
    def plugin_errors(self) -> list[PluginError]:
        self.load()
        return self._plugin_errors

    def register(self, cls: type[Node]) -> type[Node]:
        self.load()
        if not (inspect.isclass(cls) and issubclass(cls, Node)) or not cls.type:
            raise TypeError(f"{cls!r} is not a node type (a Node subclass with a `type` id)")
        existing = self._types.get(cls.type)
        if existing is not None and existing is not cls:
            raise ValueError(f"node type id {cls.type!r} is declared twice: {existing.__module__} and {cls.__module__}")
        self._types[cls.type] = cls
        for old in cls.legacy_ids:
            self._legacy[old] = cls.type
        return cls

    def resolve_id(self, type_id: str) -> str:
        """The current id for `type_id` (following `legacy_ids` of renamed types)."""
        self.load()
        return self._legacy.get(type_id, type_id) if type_id not in self._types else type_id

    def find(self, type_id: str) -> type[Node] | None:
        return self._types.get(self.resolve_id(type_id))

    def get(self, type_id: str) -> type[Node]:
        cls = self.find(type_id)
        if cls is None:
            raise UnknownNodeTypeError(f"node type {type_id!r} is not installed")
        return cls

    def __contains__(self, type_id: object) -> bool:
        return isinstance(type_id, str) and self.find(type_id) is not None

    def __iter__(self) -> Iterator[type[Node]]:
        self.load()
        return iter(sorted(self._types.values(), key=lambda c: (c.category, c.type)))

    def __bool__(self) -> bool:
        """Always true: `registry or default_registry()` must neither load a lazy registry nor swap an empty one."""
        return True

    def __len__(self) -> int:
        self.load()
        return len(self._types)

    def categories(self) -> dict[str, list[type[Node]]]:
        out: dict[str, list[type[Node]]] = {}
        for cls in self:
            out.setdefault(cls.category, []).append(cls)
        return out

    # -- loading

    def add_from(self, source: Any) -> None:
        """Register node types from a module, an iterable of classes, or a callable returning either."""
        if isinstance(source, ModuleType):
            for _, obj in inspect.getmembers(source, inspect.isclass):
                if issubclass(obj, Node) and obj.type and obj.__module__ == source.__name__:
                    self.register(obj)
            return
        if callable(source) and not inspect.isclass(source):
            source = source()
        if inspect.isclass(source):
            self.register(source)
            return
        for cls in source:
            self.register(cls)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        for ep in entry_points(group=group):
            try:
                self.add_from(ep.load())
            except Exception as exc:  # a broken plugin must not take the app down
                self._plugin_errors.append(PluginError(f"{ep.name} = {ep.value}", f"{type(exc).__name__}: {exc}"))


@lru_cache(maxsize=1)
def default_registry() -> NodeRegistry:
    """Every installed node type (built-in and plugins), loaded once per process, on first use."""
    return NodeRegistry(loader=NodeRegistry.load_entry_points)
