"""The flow as a directed graph (networkx): topological order and upstream/downstream queries."""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from .errors import FlowStudioError
from .flow import Flow

if TYPE_CHECKING:
    import networkx as nx
else:

    class _LazyNetworkx:
        """networkx, imported on first use: it costs ~0.1-0.3 s, and the app's first frame needs no graph."""

        def __getattr__(self, name: str) -> Any:
            return getattr(importlib.import_module("networkx"), name)

    nx = _LazyNetworkx()


class CycleError(FlowStudioError):
    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("the flow has a cycle: " + " -> ".join([*cycle, cycle[0]]))


class FlowGraph:
    """Node ids as graph nodes; one graph edge per connected node pair (ports kept as edge data)."""

    def __init__(self, flow: Flow) -> None:
        self._flow = flow
        self._order = [n.id for n in flow.nodes]
        ids = set(self._order)
        # a flow without connections needs no graph library: no cycle, and the file's order is topological
        self._edgeless = not any(e.source_node in ids and e.target_node in ids for e in flow.edges)

    @functools.cached_property
    def graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        for node in self._flow.nodes:
            graph.add_node(node.id)
        for edge in self._flow.edges:
            src, dst = edge.source_node, edge.target_node
            if src in graph and dst in graph:
                if graph.has_edge(src, dst):
                    graph[src][dst]["ports"].append((edge.source_port, edge.target_port))
                else:
                    graph.add_edge(src, dst, ports=[(edge.source_port, edge.target_port)])
        return graph

    def find_cycle(self) -> list[str] | None:
        if self._edgeless:
            return None
        try:
            edges = nx.find_cycle(self.graph)
        except nx.NetworkXNoCycle:
            return None
        return [u for u, _ in edges]

    def topological_order(self) -> list[str]:
        """Node ids, each after everything it depends on; ties keep the file's order (stable plans)."""
        if self._edgeless:
            return list(dict.fromkeys(self._order))
        position = {node_id: i for i, node_id in enumerate(self._order)}
        try:
            return list(nx.lexicographical_topological_sort(self.graph, key=lambda n: position.get(n, 0)))
        except nx.NetworkXUnfeasible:
            raise CycleError(self.find_cycle() or []) from None

    def upstream(self, node_id: str) -> set[str]:
        """Everything `node_id` needs (not including itself)."""
        return set(nx.ancestors(self.graph, node_id))

    def downstream(self, node_id: str) -> set[str]:
        """Everything that depends on `node_id` (not including itself)."""
        return set(nx.descendants(self.graph, node_id))

    def predecessors(self, node_id: str) -> list[str]:
        return list(self.graph.predecessors(node_id))

    def successors(self, node_id: str) -> list[str]:
        return list(self.graph.successors(node_id))
