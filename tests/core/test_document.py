"""The flow document: edits with exact inverses, notifications, copy/paste with new ids."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from flowstudio.core.clipboard import copy_fragment, fragment_from_text, fragment_to_text, paste_edit
from flowstudio.core.document import FlowDocument
from flowstudio.core.edits import (
    UNSET,
    AddGroup,
    AddNode,
    Batch,
    Connect,
    Disconnect,
    EditError,
    MoveNodes,
    RemoveGroup,
    RemoveNode,
    SetFlowInfo,
    SetParam,
    SetTitle,
    UpdateGroup,
)
from flowstudio.core.flow import EdgeSpec, GroupSpec
from tests.stubs import make_flow, stub_registry

REG = stub_registry()


def sample_doc() -> FlowDocument:
    flow = make_flow([("a", "stub.const", {"value": 1}), ("b", "stub.add", {"bias": 1}), ("c", "stub.echo", {})],
                     [("a.value", "b.a"), ("b.value", "c.value")])
    flow.groups.append(GroupSpec(id="g", title="Numbers", nodes=["a", "b"], rect=(0, 0, 300, 100)))
    return FlowDocument(flow, registry=REG)


def test_remove_node_takes_its_edges_and_membership_and_undo_restores_order():
    doc = sample_doc()
    before = doc.to_json_text()
    inverse = doc.apply(RemoveNode("b"))
    assert doc.flow.node("b") is None and doc.flow.edges == [] and doc.flow.groups[0].nodes == ["a"]
    doc.apply(inverse)
    assert doc.to_json_text() == before


def test_every_edit_kind_round_trips():
    doc = sample_doc()
    edits = [
        AddNode(doc.make_node("stub.const", (5, 5))),
        MoveNodes({"a": (50, 60), "b": (70, 80)}),
        SetParam("b", "bias", 7),
        SetParam("b", "bias", UNSET),
        SetParam("a", "value", 9),
        SetTitle("c", "Shout"),
        Disconnect(EdgeSpec(source="a.value", target="b.a")),
        Connect(EdgeSpec(source="a.value", target="b.b")),
        AddGroup(GroupSpec(id="g2", nodes=["c"])),
        UpdateGroup(GroupSpec(id="g", title="Renamed", nodes=["a"])),
        RemoveGroup("g2"),
        SetFlowInfo("New name", "New description"),
    ]
    for edit in edits:
        before = doc.to_json_text()
        inverse = doc.apply(edit)
        assert doc.to_json_text() != before or isinstance(edit, SetParam)
        redo = doc.apply(inverse)
        assert doc.to_json_text() == before, edit
        doc.apply(redo)


def test_failing_batch_leaves_the_flow_unchanged():
    doc = sample_doc()
    before = doc.to_json_text()
    with pytest.raises(EditError):
        doc.apply(Batch([SetParam("a", "value", 5), RemoveNode("nope")]))
    assert doc.to_json_text() == before


def test_listeners_hear_each_change_with_the_touched_nodes():
    doc = sample_doc()
    heard = []
    unsubscribe = doc.subscribe(heard.append)
    doc.apply(SetParam("a", "value", 2))
    doc.apply(doc.remove_nodes_edit(["b", "c"]))
    unsubscribe()
    doc.apply(SetParam("a", "value", 3))
    assert [set(c.nodes) for c in heard] == [{"a"}, {"b", "c"}]
    assert doc.modified


def test_connect_to_a_single_input_replaces_the_old_edge_in_one_step():
    doc = sample_doc()
    doc.apply(AddNode(doc.make_node("stub.const", node_id="z")))
    inverse = doc.apply(doc.connect_edit("z.value", "b.a"))
    assert [e.source for e in doc.flow.edges if e.target == "b.a"] == ["z.value"]
    doc.apply(inverse)
    assert [e.source for e in doc.flow.edges if e.target == "b.a"] == ["a.value"]


def test_connect_to_a_multiple_input_adds():
    flow = make_flow([("a", "stub.const", {}), ("b", "stub.const", {}), ("s", "stub.sum", {})], [("a.value", "s.values")])
    doc = FlowDocument(flow, registry=REG)
    doc.apply(doc.connect_edit("b.value", "s.values"))
    assert len([e for e in doc.flow.edges if e.target == "s.values"]) == 2


def test_new_ids_are_unique_and_readable():
    doc = sample_doc()
    assert doc.new_node_id("stub.add") == "add"
    doc.apply(AddNode(doc.make_node("stub.add")))
    assert doc.new_node_id("stub.add") == "add_2"
    node = doc.make_node("stub.add")
    assert node.params == {"bias": 0.0}  # defaults are written so files show every setting


def test_random_edits_undo_to_the_first_state_and_redo_to_the_last():
    rng = random.Random(7)
    doc = sample_doc()
    first = doc.to_json_text()
    undo: list = []
    for _ in range(60):
        ids = [n.id for n in doc.flow.nodes]
        choice = rng.choice(["add", "remove", "move", "param", "connect", "disconnect", "paste"])
        if choice == "add" or not ids:
            edit = AddNode(doc.make_node(rng.choice(["stub.const", "stub.add", "stub.echo"]), (rng.random(), 0)))
        elif choice == "remove":
            edit = doc.remove_nodes_edit([rng.choice(ids)])
        elif choice == "move":
            edit = MoveNodes({i: (rng.uniform(-9, 9), rng.uniform(-9, 9)) for i in rng.sample(ids, min(2, len(ids)))})
        elif choice == "param":
            edit = SetParam(rng.choice(ids), "value", rng.randint(0, 9))
        elif choice == "connect":
            src, dst = rng.choice(ids), rng.choice(ids)
            if doc.can_connect(f"{src}.value", f"{dst}.a") is not None:
                continue
            edit = doc.connect_edit(f"{src}.value", f"{dst}.a")
        elif choice == "disconnect":
            if not doc.flow.edges:
                continue
            edit = Disconnect(rng.choice(doc.flow.edges))
        else:
            fragment = copy_fragment(doc.flow, rng.sample(ids, min(2, len(ids))))
            edit, _ = paste_edit(doc, fragment_from_text(fragment_to_text(fragment)))
        undo.append((edit, doc.apply(edit)))
    last = doc.to_json_text()
    for _, inverse in reversed(undo):
        doc.apply(inverse)
    assert doc.to_json_text() == first
    for edit, _ in undo:
        doc.apply(edit)
    assert doc.to_json_text() == last


def test_copy_paste_between_documents_keeps_params_and_inner_edges_with_new_ids():
    source = sample_doc()
    fragment = fragment_from_text(fragment_to_text(copy_fragment(source.flow, ["a", "b"])))
    assert [(e.source, e.target) for e in fragment.edges] == [("a.value", "b.a")]  # b->c is not inner

    target = FlowDocument(make_flow([("a", "stub.const", {}), ("b", "stub.const", {})], []), registry=REG)
    edit, new_ids = paste_edit(target, fragment, offset=(10, 10))
    target.apply(edit)
    assert len(new_ids) == 2 and not set(new_ids) & {"a", "b"}
    pasted = {n.id: n for n in target.flow.nodes if n.id in new_ids}
    assert sorted((n.params for n in pasted.values()), key=str) == sorted([{"value": 1}, {"bias": 1}], key=str)
    [edge] = [e for e in target.flow.edges]
    assert edge.source_node in new_ids and edge.target_node in new_ids
    assert target.flow.groups[0].nodes == new_ids


def test_open_and_save(tmp_path: Path):
    doc = sample_doc()
    path = doc.save(tmp_path / "x.flow.json")
    assert not doc.modified
    doc.apply(SetParam("a", "value", 4))
    assert doc.modified
    reopened = FlowDocument.open(path, registry=REG)
    assert reopened.flow.node("a").params["value"] == 1
