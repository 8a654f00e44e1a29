"""The flow as a directed graph (networkx): topological order and upstream/downstream queries."""

from __future__ import annotations

import networkx as nx

from .errors import FlowStudioError
from .flow import Flow


class CycleError(FlowStudioError):
    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("the flow has a cycle: " + " -> ".join([*cycle, cycle[0]]))


class FlowGraph:
    """Node ids as graph nodes; one graph edge per connected node pair (ports kept as edge data)."""

    def __init__(self, flow: Flow) -> None:
        graph = nx.DiGraph()
        for node in flow.nodes:
            graph.add_node(node.id)
        for edge in flow.edges:
            src, dst = edge.source_node, edge.target_node
            if src in graph and dst in graph:
                if graph.has_edge(src, dst):
                    graph[src][dst]["ports"].append((edge.source_port, edge.target_port))
                else:
                    graph.add_edge(src, dst, ports=[(edge.source_port, edge.target_port)])
        self.graph = graph
        self._order = [n.id for n in flow.nodes]

    def find_cycle(self) -> list[str] | None:
        try:
            edges = nx.find_cycle(self.graph)
        except nx.NetworkXNoCycle:
            return None
        return [u for u, _ in edges]

    def topological_order(self) -> list[str]:
        """Node ids, each after everything it depends on; ties keep the file's order (stable plans)."""
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
