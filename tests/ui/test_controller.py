"""The DocumentController: undo commands over core edits, merging, macros, document replacement."""

from __future__ import annotations

import pytest

from flowstudio.core.document import FlowDocument
from flowstudio.core.edits import AddNode, EditError, MoveNodes, SetParam
from flowstudio.ui.controller import DocumentController
from tests.ui.conftest import stub_document


@pytest.fixture
def ctl(qapp) -> DocumentController:
    return DocumentController(stub_document([("c", "stub.const", {"value": 1.0}), ("a", "stub.add", {})]))


def test_push_applies_and_undo_redo_restore(ctl):
    first = ctl.doc.to_json_text()
    ctl.push(SetParam("c", "value", 5.0))
    assert ctl.doc.flow.node("c").params["value"] == 5.0
    ctl.undo()
    assert ctl.doc.to_json_text() == first
    ctl.redo()
    assert ctl.doc.flow.node("c").params["value"] == 5.0


def test_changed_is_emitted_with_the_core_change(ctl, qtbot):
    with qtbot.waitSignal(ctl.changed) as blocker:
        ctl.push(MoveNodes({"a": (10.0, 20.0)}))
    assert blocker.args[0].nodes == frozenset({"a"})


def test_same_merge_key_merges_into_one_step(ctl):
    first = ctl.doc.to_json_text()
    for x in range(1, 6):
        ctl.push(MoveNodes({"a": (float(x), 0.0)}), merge_key="drag:1")
    assert ctl.undo_stack.count() == 1
    ctl.undo()
    assert ctl.doc.to_json_text() == first
    ctl.redo()
    assert ctl.doc.flow.node("a").position == (5.0, 0.0)


def test_typing_into_one_param_merges_but_another_param_does_not(ctl):
    for v in (1.0, 12.0, 123.0):
        ctl.push(SetParam("a", "bias", v), merge_key="param:a:bias")
    ctl.push(SetParam("c", "value", 7.0), merge_key="param:c:value")
    assert ctl.undo_stack.count() == 2
    ctl.undo()
    ctl.undo()
    assert "bias" not in ctl.doc.flow.node("a").params


def test_different_edits_under_one_key_merge_exactly(ctl):
    first = ctl.doc.to_json_text()
    ctl.push(MoveNodes({"a": (5.0, 5.0)}), merge_key="k")
    ctl.push(SetParam("a", "bias", 3.0), merge_key="k")
    ctl.push(MoveNodes({"a": (9.0, 9.0)}), merge_key="k")
    assert ctl.undo_stack.count() == 1
    last = ctl.doc.to_json_text()
    ctl.undo()
    assert ctl.doc.to_json_text() == first
    ctl.redo()
    assert ctl.doc.to_json_text() == last


def test_a_different_key_or_no_key_starts_a_new_step(ctl):
    ctl.push(MoveNodes({"a": (1.0, 0.0)}), merge_key="drag:1")
    ctl.push(MoveNodes({"a": (2.0, 0.0)}), merge_key="drag:2")
    ctl.push(MoveNodes({"a": (3.0, 0.0)}))
    ctl.push(MoveNodes({"a": (4.0, 0.0)}))
    assert ctl.undo_stack.count() == 4


def test_a_macro_is_one_undo_step(ctl):
    first = ctl.doc.to_json_text()
    ctl.begin_macro("Add and connect")
    ctl.push(AddNode(ctl.doc.make_node("stub.add", (300.0, 0.0), node_id="b")))
    ctl.push(ctl.doc.connect_edit("c.value", "b.a"))
    ctl.end_macro()
    assert ctl.undo_stack.count() == 1
    assert ctl.undo_stack.undoText() == "Add and connect"
    ctl.undo()
    assert ctl.doc.to_json_text() == first


def test_a_refused_edit_raises_and_pushes_nothing(ctl):
    with pytest.raises(EditError):
        ctl.push(SetParam("nope", "x", 1))
    assert ctl.undo_stack.count() == 0


def test_set_document_clears_history_and_announces_it(ctl, qtbot):
    ctl.push(MoveNodes({"a": (1.0, 0.0)}))
    other = FlowDocument()
    with qtbot.waitSignal(ctl.documentReplaced):
        ctl.set_document(other)
    assert ctl.doc is other and ctl.undo_stack.count() == 0
    seen = []
    ctl.changed.connect(seen.append)
    ctl.push(AddNode(other.make_node("not.installed", node_id="x")))
    assert seen and seen[-1].nodes == frozenset({"x"})


def test_the_old_document_no_longer_reaches_the_controller(ctl):
    old = ctl.doc
    ctl.set_document(FlowDocument())
    seen = []
    ctl.changed.connect(seen.append)
    old.apply(MoveNodes({"a": (1.0, 1.0)}))
    assert seen == []


def test_many_edits_and_signals_do_not_exhaust_none_or_true(ctl):
    """PySide6 6.12 on Python 3.11 drops a reference to None per void call and to True per emit."""
    import sys

    from flowstudio.ui.compat import ensure_singletons_survive

    guarded = ensure_singletons_survive()
    if sys.version_info < (3, 12):
        for name, obj in (("None", None), ("True", True)):
            assert name not in guarded or sys.getrefcount(obj) > 1 << 40
    for i in range(20_000):  # each push emits `changed` and calls void Qt methods
        ctl.push(MoveNodes({"a": (float(i % 7), 0.0)}), merge_key="drag")
    assert ctl.undo_stack.count() == 1


def test_a_long_merge_of_unlike_edits_stays_flat_and_exact(ctl):
    first = ctl.doc.to_json_text()
    for i in range(1500):  # e.g. a drag that also retitles: far beyond Python's recursion limit if nested
        ctl.push(MoveNodes({"a": (float(i), 0.0)}), merge_key="k")
        ctl.push(SetParam("a", "bias", float(i % 50)), merge_key="k")
    assert ctl.undo_stack.count() == 1
    last = ctl.doc.to_json_text()
    ctl.undo()
    assert ctl.doc.to_json_text() == first
    ctl.redo()
    assert ctl.doc.to_json_text() == last
