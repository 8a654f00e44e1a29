"""Bypass in the engine: a bypassed node passes a value through, changes downstream keys, skips a branch."""

from __future__ import annotations

import pytest

from flowstudio.core.bypass import passthrough, resolve_bypass
from flowstudio.core.flow import Flow
from flowstudio.core.validation import validate_flow
from flowstudio.engine import Engine
from flowstudio.engine.plan import FlowInvalidError
from tests.engine.helpers import of_kind, ran, statuses
from tests.stubs import STUB_TYPES, make_flow, stub_registry


def _bypass(flow: Flow, *node_ids: str) -> Flow:
    for node_id in node_ids:
        node = flow.node(node_id)
        assert node is not None
        node.bypass = True
    return flow


def chain(bias: float = 10.0) -> Flow:
    # c1 -> add(+bias) -> echo
    return make_flow([("c1", "stub.const", {"value": 1}), ("add", "stub.add", {"bias": bias}),
                      ("echo", "stub.echo", {})],
                     [("c1.value", "add.a"), ("add.value", "echo.value")])


def test_passthrough_picks_the_first_input_of_the_output_type() -> None:
    cls = {c.type: c for c in STUB_TYPES}
    add = cls["stub.add"]
    assert passthrough(add.input_ports({}), add.output_ports({})) == {"value": "a"}
    echo = cls["stub.echo"]  # an Any input is not a Text: nothing passes
    assert passthrough(echo.input_ports({}), echo.output_ports({})) == {"text": None}
    train = cls["stub.train"]
    assert passthrough(train.input_ports({}), train.output_ports({})) == {"model": "model"}
    total = cls["stub.sum"]  # a list of numbers is not a number
    assert passthrough(total.input_ports({}), total.output_ports({})) == {"value": None}


def test_bypassed_node_passes_its_input_through(engine: Engine, run_opts) -> None:
    plain = engine.run(chain(), options=run_opts())
    assert plain.summary["nodes"]["echo"]["outputs"] == {"text": "11.0"}

    result = engine.run(_bypass(chain(), "add"), options=run_opts())
    assert result.ok, result.summary
    assert result.summary["status"] == "succeeded"
    assert result.summary["nodes"]["echo"]["outputs"] == {"text": "1.0"}  # 1, not 1 + 10
    assert "add" not in ran(result.events) and "add" not in result.summary["nodes"]
    skipped = {e.node: e.reason for e in of_kind(result.events, "node_skipped")}
    assert skipped["add"].startswith("bypassed: passes 'a' to 'value'")
    assert result.summary["bypassed"]["add"] == skipped["add"]


def test_chain_of_bypassed_nodes(engine: Engine, run_opts) -> None:
    def flow() -> Flow:
        return make_flow([("c1", "stub.const", {"value": 2}), ("a1", "stub.add", {"bias": 1}),
                          ("a2", "stub.add", {"bias": 5}), ("echo", "stub.echo", {})],
                         [("c1.value", "a1.a"), ("a1.value", "a2.a"), ("a2.value", "echo.value")])

    both = engine.run(_bypass(flow(), "a1", "a2"), options=run_opts())
    assert both.ok and both.summary["nodes"]["echo"]["outputs"] == {"text": "2.0"}
    second = engine.run(_bypass(flow(), "a2"), options=run_opts())
    assert second.summary["nodes"]["echo"]["outputs"] == {"text": "3.0"}  # 2 + 1, a2's +5 left out


def test_cache_key_of_downstream_follows_the_passed_value(engine: Engine, run_opts) -> None:
    plain = engine.run(chain(), options=run_opts())
    bypassed = engine.run(_bypass(chain(), "add"), options=run_opts())
    direct = engine.run(make_flow([("c1", "stub.const", {"value": 1}), ("echo", "stub.echo", {})],
                                  [("c1.value", "echo.value")]), options=run_opts())
    key = {name: r.summary["nodes"]["echo"]["cache_key"] for name, r in
           (("plain", plain), ("bypassed", bypassed), ("direct", direct))}
    assert key["bypassed"] != key["plain"]  # echo reads another value now
    assert key["bypassed"] == key["direct"]  # exactly as if c1 fed it
    assert statuses(direct)["echo"] == "cached"  # so it was served from the bypassed run's result
    again = engine.run(chain(), options=run_opts())  # un-bypassed: the old result again, from the cache
    assert statuses(again) == {"c1": "cached", "add": "cached", "echo": "cached"}


def test_nothing_to_pass_skips_the_downstream_branch(engine: Engine, run_opts) -> None:
    # c1 -> echo(bypassed: an Any input cannot stand for Text) -> e2 -> e3 ; c1 -> add
    flow = make_flow([("c1", "stub.const", {"value": 1}), ("echo", "stub.echo", {}), ("e2", "stub.echo", {}),
                      ("e3", "stub.echo", {}), ("add", "stub.add", {})],
                     [("c1.value", "echo.value"), ("echo.text", "e2.value"), ("e2.text", "e3.value"),
                      ("c1.value", "add.a")])
    _bypass(flow, "echo")
    problems = validate_flow(flow, stub_registry())
    assert all(p.severity == "warning" for p in problems), problems
    by_node = {p.node_id: p for p in problems}
    assert by_node["echo"].code == "bypassed" and "'text'" in by_node["echo"].message
    assert by_node["e2"].code == "skipped_by_bypass" and "'echo', which is bypassed" in by_node["e2"].message
    assert by_node["e3"].code == "skipped_by_bypass" and "'e2', which is skipped" in by_node["e3"].message

    result = engine.run(flow, options=run_opts())
    assert result.ok, result.summary
    assert ran(result.events) == {"c1", "add"}
    skipped = {e.node for e in of_kind(result.events, "node_skipped")}
    assert skipped == {"echo", "e2", "e3"}


def test_optional_input_from_a_bypassed_node_is_left_unconnected(engine: Engine, run_opts) -> None:
    # c2 (bypassed, no inputs) fed add's optional b: add runs with a only
    flow = make_flow([("c1", "stub.const", {"value": 1}), ("c2", "stub.const", {"value": 5}),
                      ("add", "stub.add", {}), ("echo", "stub.echo", {})],
                     [("c1.value", "add.a"), ("c2.value", "add.b"), ("add.value", "echo.value")])
    _bypass(flow, "c2")
    warnings = {p.node_id: p.code for p in validate_flow(flow, stub_registry())}
    assert warnings == {"c2": "bypassed", "add": "unfed_by_bypass"}
    result = engine.run(flow, options=run_opts())
    assert result.ok and result.summary["nodes"]["echo"]["outputs"] == {"text": "1.0"}


def test_a_bypassed_node_need_not_be_valid_but_the_flow_must_be(engine: Engine, run_opts) -> None:
    flow = _bypass(chain(), "add")
    flow.node("add").params["bias"] = 1000  # out of range: an error, unless the node is bypassed
    problems = validate_flow(flow, stub_registry())
    bad = [p for p in problems if p.code == "bad_param"]
    assert bad and bad[0].severity == "warning" and "(the node is bypassed)" in bad[0].message
    assert engine.run(flow, options=run_opts()).summary["nodes"]["echo"]["outputs"] == {"text": "1.0"}
    flow.node("add").bypass = False
    with pytest.raises(FlowInvalidError):
        engine.run(flow, options=run_opts())


def test_resolve_keeps_the_original_flow_and_unbypassed_flows_unchanged() -> None:
    flow = _bypass(chain(), "add")
    before = flow.to_json_text()
    result = resolve_bypass(flow, stub_registry())
    assert flow.to_json_text() == before
    assert [n.id for n in result.flow.nodes] == ["c1", "echo"]
    assert [(e.source, e.target) for e in result.flow.edges] == [("c1.value", "echo.value")]
    plain = chain()
    assert resolve_bypass(plain, stub_registry()).flow is plain
