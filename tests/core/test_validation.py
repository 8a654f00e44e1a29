"""Validation reports every problem kind, with an address, all at once."""

from __future__ import annotations

from pathlib import Path

from flowstudio.core.flow import EdgeSpec, NodeSpec
from flowstudio.core.validation import connection_problem, validate_flow
from tests.stubs import make_flow, stub_registry

REG = stub_registry()


def codes(problems):
    return sorted(p.code for p in problems)


def test_valid_flow_has_no_problems():
    flow = make_flow([("a", "stub.const", {"value": 1}), ("b", "stub.add", {})], [("a.value", "b.a")])
    assert validate_flow(flow, REG) == []


def test_unknown_node_type_is_reported_as_not_installed():
    flow = make_flow([("x", "acme.magic", {"k": 1})], [])
    [problem] = validate_flow(flow, REG)
    assert problem.code == "unknown_type"
    assert problem.node_id == "x"
    assert "not installed" in problem.message and "acme.magic" in problem.message


def test_legacy_id_resolves_to_renamed_type():
    flow = make_flow([("a", "stub.const", {}), ("e", "stub.old_echo", {})], [("a.value", "e.value")])
    assert validate_flow(flow, REG) == []


def test_cycle_is_reported():
    flow = make_flow([("a", "stub.add", {}), ("b", "stub.add", {})], [("a.value", "b.a"), ("b.value", "a.a")])
    problems = validate_flow(flow, REG)
    assert codes(problems) == ["cycle"]
    assert "a -> b -> a" in problems[0].message or "b -> a -> b" in problems[0].message


def test_missing_required_input_names_port_and_type():
    flow = make_flow([("b", "stub.add", {})], [])
    [problem] = validate_flow(flow, REG)
    assert (problem.code, problem.node_id, problem.field) == ("missing_input", "b", "a")
    assert "Number" in problem.message


def test_optional_input_may_stay_unconnected():
    flow = make_flow([("a", "stub.const", {}), ("b", "stub.add", {})], [("a.value", "b.a")])
    assert "b" not in {p.field for p in validate_flow(flow, REG)}


def test_port_type_mismatch():
    flow = make_flow([("a", "stub.const", {}), ("s", "stub.score", {})], [("a.value", "s.reward_model")])
    problems = [p for p in validate_flow(flow, REG) if p.code == "type_mismatch"]
    assert len(problems) == 1
    assert problems[0].node_id == "s" and problems[0].field == "reward_model"
    assert "Number" in problems[0].message and "RewardModel" in problems[0].message


def test_subtype_may_feed_supertype_but_not_the_reverse():
    from flowstudio.core.ports import Dataset, Model, PreferenceDataset, RewardModel, is_compatible

    assert is_compatible(PreferenceDataset, Dataset)
    assert not is_compatible(Dataset, PreferenceDataset)
    assert not is_compatible(RewardModel, Model)


def test_edges_to_missing_nodes_and_ports():
    flow = make_flow([("a", "stub.const", {}), ("b", "stub.add", {})],
                     [("ghost.value", "b.a"), ("a.nope", "b.b"), ("a.value", "gone.a")])
    problems = validate_flow(flow, REG)
    assert codes(problems) == ["dangling_edge", "dangling_edge", "missing_port"]
    missing = next(p for p in problems if p.code == "missing_port")
    assert missing.node_id == "a" and missing.field == "nope" and "value" in missing.hint


def test_port_fed_twice_but_multiple_ports_accept_many():
    flow = make_flow([("a", "stub.const", {}), ("c", "stub.const", {}), ("b", "stub.add", {}), ("s", "stub.sum", {})],
                     [("a.value", "b.a"), ("c.value", "b.a"), ("a.value", "s.values"), ("c.value", "s.values")])
    problems = validate_flow(flow, REG)
    assert codes(problems) == ["port_fed_twice"]
    assert (problems[0].node_id, problems[0].field) == ("b", "a")


def test_bad_params_wrong_type_out_of_bounds_unknown_name():
    flow = make_flow([("a", "stub.const", {"value": "lots"}), ("b", "stub.add", {"bias": 1000, "colour": "red"})],
                     [("a.value", "b.a")])
    problems = validate_flow(flow, REG)
    by_field = {(p.node_id, p.field): p for p in problems}
    assert by_field[("a", "value")].code == "bad_param"
    assert "lots" in by_field[("a", "value")].message
    assert by_field[("b", "bias")].code == "bad_param"
    assert "100" in by_field[("b", "bias")].message
    assert by_field[("b", "colour")].code == "unknown_param"
    assert "bias" in by_field[("b", "colour")].hint


def test_duplicate_node_id():
    flow = make_flow([("a", "stub.const", {}), ("a", "stub.const", {})], [])
    assert codes(validate_flow(flow, REG)) == ["duplicate_id"]


def test_missing_local_file_is_reported_before_a_run(tmp_path: Path):
    flow = make_flow([("m", "stub.model", {"path": "data/missing.jsonl"})], [])
    [problem] = validate_flow(flow, REG, flow_dir=tmp_path)
    assert (problem.code, problem.node_id, problem.field) == ("missing_path", "m", "path")
    assert str(tmp_path / "data" / "missing.jsonl") in problem.message
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "missing.jsonl").write_text("{}\n")
    assert validate_flow(flow, REG, flow_dir=tmp_path) == []


def test_many_problems_reported_together_in_one_call():
    flow = make_flow(
        [("a", "stub.const", {"value": "x"}), ("a", "stub.const", {}), ("u", "nope.type", {}),
         ("b", "stub.add", {"bias": -500}), ("s", "stub.score", {}), ("c1", "stub.add", {}), ("c2", "stub.add", {})],
        [("a.value", "s.reward_model"), ("c1.value", "c2.a"), ("c2.value", "c1.a"), ("zz.value", "b.b")],
    )
    found = set(codes(validate_flow(flow, REG)))
    assert {"bad_param", "duplicate_id", "unknown_type", "type_mismatch", "missing_input", "cycle",
            "dangling_edge"} <= found


def test_problem_format_names_file_node_field_and_hint():
    flow = make_flow([("b", "stub.add", {"bias": 500})], [("x.value", "b.a")])
    lines = [p.format("my.flow.json") for p in validate_flow(flow, REG)]
    assert any(line.startswith("my.flow.json: node 'b', field 'bias':") and "hint:" in line for line in lines)


def test_connection_problem_for_the_canvas():
    flow = make_flow([("a", "stub.const", {}), ("b", "stub.add", {}), ("s", "stub.score", {})], [("a.value", "b.a")])
    assert connection_problem(flow, REG, "a.value", "b.b") is None
    assert "cannot feed" in connection_problem(flow, REG, "a.value", "s.reward_model")
    assert "cycle" in connection_problem(flow, REG, "b.value", "b.a") or "itself" in connection_problem(
        flow, REG, "b.value", "b.a")
    flow.nodes.append(NodeSpec(id="c", type="stub.add"))
    flow.edges.append(EdgeSpec(source="b.value", target="c.a"))
    assert "cycle" in connection_problem(flow, REG, "c.value", "b.b")


def test_builtin_references_in_path_params_are_not_checked_as_files(tmp_path: Path):
    flow = make_flow([("m", "stub.model", {"path": "builtin:sft-chat"})], [])
    assert validate_flow(flow, REG, flow_dir=tmp_path) == []
