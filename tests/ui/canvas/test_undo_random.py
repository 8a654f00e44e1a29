"""50 random edits through the controller, undone and redone, give back the first and last flow JSON.

A CanvasView listens throughout, so the incremental scene sync is checked against the document too.
"""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QPointF

from flowstudio.core.clipboard import copy_fragment, paste_edit
from flowstudio.core.edits import AddGroup, AddNode, Disconnect, MoveNodes, SetParam, SetTitle
from flowstudio.core.flow import GroupSpec
from flowstudio.ui.canvas.view import CanvasView
from flowstudio.ui.controller import DocumentController
from tests.ui.conftest import stub_document

TYPES = ["stub.const", "stub.add", "stub.sum", "stub.echo", "stub.model", "stub.train", "stub.score"]


def _scene_matches(view: CanvasView) -> None:
    flow, scene = view.doc.flow, view.canvas_scene
    assert set(scene.nodes) == {n.id for n in flow.nodes}
    assert set(scene.edges) == set(flow.edges)
    assert set(scene.groups) == {g.id for g in flow.groups}
    for node in flow.nodes:
        assert scene.nodes[node.id].pos() == QPointF(*node.position)
    for edge, item in scene.edges.items():
        src = scene.nodes[edge.source_node].port(edge.source_port, False)
        assert src is None or item.path().elementAt(0).x == pytest.approx(src.anchor().x())


def _random_edit(rng: random.Random, ctl: DocumentController, step: int) -> None:
    doc = ctl.doc
    nodes = [n.id for n in doc.flow.nodes]
    kind = rng.choice(["add", "add", "remove", "move", "drag", "connect", "connect", "disconnect", "param",
                       "paste", "macro", "title", "group", "mixed"])
    if kind == "add" or not nodes:
        ctl.push(AddNode(doc.make_node(rng.choice(TYPES), (rng.uniform(-500, 500), rng.uniform(-500, 500)))))
    elif kind == "remove":
        ctl.push(doc.remove_nodes_edit(rng.sample(nodes, k=min(len(nodes), rng.randint(1, 2)))))
    elif kind == "move":
        ctl.push(MoveNodes({n: (rng.uniform(-900, 900), rng.uniform(-900, 900)) for n in rng.sample(nodes, 1)}))
    elif kind == "drag":  # several moves under one merge key: one step
        chosen = rng.sample(nodes, k=min(len(nodes), 2))
        for k in range(rng.randint(2, 5)):
            ctl.push(MoveNodes({n: (10.0 * k + i, 5.0 * k) for i, n in enumerate(chosen)}), merge_key=f"drag:{step}")
    elif kind == "connect":
        pairs = []
        for e in doc.flow.nodes:
            src_cls = doc.registry.find(e.type)
            for out in src_cls.output_ports(e.params) if src_cls else ():
                for t in doc.flow.nodes:
                    dst_cls = doc.registry.find(t.type)
                    for inp in dst_cls.input_ports(t.params) if dst_cls else ():
                        pairs.append((f"{e.id}.{out.name}", f"{t.id}.{inp.name}"))
        rng.shuffle(pairs)
        for src, dst in pairs[:40]:
            if doc.can_connect(src, dst) is None and not any(
                    x.source == src and x.target == dst for x in doc.flow.edges):
                ctl.push(doc.connect_edit(src, dst))
                break
    elif kind == "disconnect" and doc.flow.edges:
        ctl.push(Disconnect(rng.choice(doc.flow.edges)))
    elif kind == "param":
        node = doc.flow.node(rng.choice(nodes))
        cls = doc.registry.find(node.type)
        names = list(cls.Params.model_fields) if cls else []
        if names:
            name = rng.choice(names)
            for v in range(rng.randint(1, 3)):  # typing merges
                ctl.push(SetParam(node.id, name, v + rng.randint(1, 9)), merge_key=f"param:{node.id}:{name}")
    elif kind == "paste":
        fragment = copy_fragment(doc.flow, rng.sample(nodes, k=min(len(nodes), rng.randint(1, 3))))
        ctl.push(paste_edit(doc, fragment, (rng.uniform(10, 90), 40.0))[0])
    elif kind == "macro":
        ctl.begin_macro("Add two")
        ctl.push(AddNode(doc.make_node("stub.const", (0.0, 0.0))))
        ctl.push(AddNode(doc.make_node("stub.add", (200.0, 0.0))))
        ctl.end_macro()
    elif kind == "title":
        ctl.push(SetTitle(rng.choice(nodes), rng.choice([None, "Renamed", "Ünïcode"])))
    elif kind == "mixed":  # unlike edits under one merge key still undo exactly
        node = rng.choice(nodes)
        ctl.push(MoveNodes({node: (1.0, 2.0)}), merge_key=f"mixed:{step}")
        ctl.push(SetTitle(node, "mixed"), merge_key=f"mixed:{step}")
        ctl.push(AddNode(doc.make_node("stub.const", (5.0, 5.0))), merge_key=f"mixed:{step}")
        ctl.push(MoveNodes({node: (3.0, 4.0)}), merge_key=f"mixed:{step}")
    elif kind == "group":
        gid = f"g{step}"
        ctl.push(AddGroup(GroupSpec(id=gid, title="G", nodes=rng.sample(nodes, 1),
                                    rect=None if rng.random() < 0.5 else (0.0, 0.0, 300.0, 200.0))))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_fifty_random_edits_undo_to_the_first_state_and_redo_to_the_last(qtbot, seed):
    rng = random.Random(seed)
    doc = stub_document([("c", "stub.const", {"value": 1.0}), ("a", "stub.add", {}), ("s", "stub.sum", {})],
                        [("c.value", "a.a"), ("a.value", "s.values")])
    ctl = DocumentController(doc)
    view = CanvasView(ctl)
    qtbot.addWidget(view)
    first = doc.to_json_text()
    for step in range(50):
        _random_edit(rng, ctl, step)
    last = doc.to_json_text()
    _scene_matches(view)
    steps = ctl.undo_stack.count()
    assert steps > 20
    while ctl.undo_stack.canUndo():
        ctl.undo()
    assert doc.to_json_text() == first
    _scene_matches(view)
    while ctl.undo_stack.canRedo():
        ctl.redo()
    assert doc.to_json_text() == last
    _scene_matches(view)
