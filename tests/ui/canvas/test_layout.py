"""Auto-layout: layered left to right, no overlaps, few crossings, one undo step."""

from __future__ import annotations

import random

from PySide6.QtCore import QRectF, Qt

from flowstudio.core.flow import EdgeSpec, Flow, NodeSpec
from flowstudio.ui.canvas.layout import _crossings, layered_layout
from tests.ui.conftest import stub_document


def _rects(positions, sizes):
    return {n: QRectF(x, y, *sizes[n]) for n, (x, y) in positions.items()}


def _assert_no_overlap(rects):
    items = list(rects.items())
    for i, (a, ra) in enumerate(items):
        for b, rb in items[i + 1:]:
            assert not ra.intersects(rb), f"{a} overlaps {b}"


def _random_dag(seed: int, n: int = 40, m: int = 60) -> Flow:
    rng = random.Random(seed)
    nodes = [NodeSpec(id=f"n{i}", type="t", position=(rng.uniform(0, 900), rng.uniform(0, 900))) for i in range(n)]
    edges = set()
    while len(edges) < m:
        a, b = sorted(rng.sample(range(n), 2))
        edges.add((a, b))
    return Flow(nodes=nodes, edges=[EdgeSpec(source=f"n{a}.out", target=f"n{b}.inp") for a, b in sorted(edges)])


def test_a_random_dag_gets_no_overlaps_and_every_edge_points_right():
    for seed in range(4):
        flow = _random_dag(seed)
        rng = random.Random(seed)
        sizes = {n.id: (rng.choice([170.0, 220.0]), rng.choice([60.0, 90.0, 140.0])) for n in flow.nodes}
        positions = layered_layout(flow, sizes)
        assert set(positions) == set(sizes)
        rects = _rects(positions, sizes)
        _assert_no_overlap(rects)
        for e in flow.edges:
            assert rects[e.source_node].right() < rects[e.target_node].left()


def test_barycenter_ordering_untangles_a_crossed_pair():
    flow = Flow(nodes=[NodeSpec(id=i, type="t", position=(0.0, y)) for i, y in
                       [("a", 0.0), ("b", 100.0), ("x", 0.0), ("y", 100.0)]],
                edges=[EdgeSpec(source="a.o", target="y.i"), EdgeSpec(source="b.o", target="x.i")])
    sizes = dict.fromkeys("abxy", (100.0, 50.0))
    pos = layered_layout(flow, sizes)
    assert (pos["a"][1] < pos["b"][1]) == (pos["y"][1] < pos["x"][1])  # no crossing


def test_crossing_count():
    succ = {"a": ["y"], "b": ["x"], "x": [], "y": []}
    assert _crossings([["a", "b"], ["x", "y"]], succ) == 1
    assert _crossings([["a", "b"], ["y", "x"]], succ) == 0


def test_cycles_and_isolated_nodes_do_not_break_it():
    flow = Flow(nodes=[NodeSpec(id=i, type="t") for i in "abcz"],
                edges=[EdgeSpec(source="a.o", target="b.i"), EdgeSpec(source="b.o", target="c.i"),
                       EdgeSpec(source="c.o", target="a.i")])
    sizes = dict.fromkeys("abcz", (100.0, 50.0))
    pos = layered_layout(flow, sizes)
    assert set(pos) == set("abcz")
    _assert_no_overlap(_rects(pos, sizes))


def test_the_canvas_lays_out_the_flow_in_one_undo_step(make_canvas):
    doc = stub_document([("s", "stub.sum", {}), ("a", "stub.add", {}), ("c", "stub.const", {}),
                         ("c2", "stub.const", {}), ("e", "stub.echo", {})],
                        [("c.value", "a.a"), ("c2.value", "a.b"), ("a.value", "s.values"), ("s.value", "e.value")])
    cv = make_canvas(doc)
    first = doc.to_json_text()
    cv.key(Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    scene = cv.view.canvas_scene
    rects = {nid: item.rect_in_scene() for nid, item in scene.nodes.items()}
    _assert_no_overlap(rects)
    order = [rects[n].left() for n in ("c", "a", "s", "e")]
    assert order == sorted(order) and len(set(order)) == 4
    assert rects["c2"].left() == rects["c"].left()
    assert cv.view.controller.undo_stack.count() == 1
    cv.view.controller.undo()
    assert doc.to_json_text() == first


def test_laying_out_a_selection_keeps_other_nodes_still(make_canvas):
    doc = stub_document([("c", "stub.const", {}), ("a", "stub.add", {}), ("far", "stub.const", {})],
                        [("c.value", "a.a")], {"c": (500.0, 500.0), "a": (0.0, 480.0), "far": (-900.0, 0.0)})
    cv = make_canvas(doc)
    cv.view.select_nodes(["c", "a"])
    cv.view.auto_layout()
    assert doc.flow.node("far").position == (-900.0, 0.0)
    assert doc.flow.node("c").position[0] < doc.flow.node("a").position[0]
    assert min(doc.flow.node("c").position[0], doc.flow.node("a").position[0]) == 0.0


def test_frames_are_fitted_around_their_nodes_after_a_layout(make_canvas):
    doc = stub_document([("c", "stub.const", {}), ("a", "stub.add", {}), ("s", "stub.sum", {})],
                        [("c.value", "a.a"), ("a.value", "s.values")],
                        {"c": (900.0, 0.0), "a": (0.0, 600.0), "s": (500.0, 300.0)})
    cv = make_canvas(doc)
    cv.view.select_nodes(["c", "a"])
    cv.view.add_group_around_selection()
    cv.view.select_nodes([])
    cv.view.auto_layout()
    frame = cv.view.canvas_scene.groups[doc.flow.groups[0].id].rect()
    for node_id in ("c", "a"):
        assert frame.contains(cv.view.canvas_scene.nodes[node_id].rect_in_scene())
    assert cv.view.controller.undo_stack.count() == 2
