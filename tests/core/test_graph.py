from __future__ import annotations

import pytest

from flowstudio.core.graph import CycleError, FlowGraph
from tests.stubs import make_flow


def diamond():
    return make_flow(
        [("d", "stub.add", {}), ("a", "stub.const", {}), ("b", "stub.add", {}), ("c", "stub.add", {}),
         ("x", "stub.const", {})],
        [("a.value", "b.a"), ("a.value", "c.a"), ("b.value", "d.a"), ("c.value", "d.b")],
    )


def test_topological_order_puts_dependencies_first_and_keeps_file_order_for_ties():
    order = FlowGraph(diamond()).topological_order()
    assert order.index("a") < order.index("b") < order.index("d")
    assert order.index("c") < order.index("d")
    assert order.index("b") < order.index("c")  # file order among independent nodes
    assert set(order) == {"a", "b", "c", "d", "x"}


def test_upstream_and_downstream():
    graph = FlowGraph(diamond())
    assert graph.upstream("d") == {"a", "b", "c"}
    assert graph.downstream("a") == {"b", "c", "d"}
    assert graph.upstream("x") == set() and graph.downstream("x") == set()


def test_cycle_raises_with_the_cycle():
    flow = make_flow([("a", "stub.add", {}), ("b", "stub.add", {})], [("a.value", "b.a"), ("b.value", "a.a")])
    with pytest.raises(CycleError) as err:
        FlowGraph(flow).topological_order()
    assert set(err.value.cycle) == {"a", "b"}
