"""Before anything runs: overrides, --until, consent for user code, validation, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowstudio.core.node import Node, NodeParams, PathField, Port, Ports
from flowstudio.core.ports import Text
from flowstudio.core.registry import NodeRegistry
from flowstudio.engine import DeviceInventory, Engine, FlowInvalidError, RunSetupError
from flowstudio.engine.plan import apply_overrides, parse_value
from tests.engine.helpers import ran
from tests.stubs import STUB_TYPES, make_flow


def diamond():
    # c1 -> a1 -> s ; c2 -> a2 -> s ; c3 (unrelated)
    return make_flow(
        [("c1", "stub.const", {"value": 1}), ("c2", "stub.const", {"value": 2}), ("c3", "stub.const", {"value": 3}),
         ("a1", "stub.add", {}), ("a2", "stub.add", {}), ("s", "stub.sum", {}), ("e", "stub.echo", {})],
        [("c1.value", "a1.a"), ("c2.value", "a2.a"), ("a1.value", "s.values"), ("a2.value", "s.values"),
         ("s.value", "e.value")],
    )


def test_until_runs_exactly_the_upstream_closure(engine: Engine, run_opts) -> None:
    result = engine.run(diamond(), options=run_opts(until="a2"))
    assert ran(result.events) == {"c2", "a2"}
    assert set(result.summary["nodes"]) == {"c2", "a2"}
    result = engine.run(diamond(), options=run_opts(until="s", use_cache=False))
    assert ran(result.events) == {"c1", "c2", "a1", "a2", "s"}


def test_until_unknown_node_is_a_clear_error(engine: Engine, run_opts) -> None:
    with pytest.raises(RunSetupError, match=r"--until 'zz'.*no such node"):
        engine.run(diamond(), options=run_opts(until="zz"))


def test_set_overrides_params_and_is_validated(engine: Engine, run_opts) -> None:
    result = engine.run(diamond(), options=run_opts(sets=["c1.value=10", "a2.bias=0.5"]))
    assert result.summary["nodes"]["e"]["outputs"]["text"] == "12.5"
    with pytest.raises(FlowInvalidError) as info:
        engine.run(diamond(), options=run_opts(sets=["a1.bias=1000", "c3.colour=\"red\""]))
    fields = {(p.node_id, p.field) for p in info.value.problems}
    assert fields == {("a1", "bias"), ("c3", "colour")}  # every problem at once
    assert "a1" in str(info.value) and "bias" in str(info.value)
    with pytest.raises(RunSetupError, match="no node 'nope'"):
        engine.run(diamond(), options=run_opts(sets=["nope.value=1"]))
    with pytest.raises(RunSetupError, match="NODE_ID.PARAM=VALUE"):
        engine.run(diamond(), options=run_opts(sets=["c1value=1"]))


def test_parse_value_json_then_string() -> None:
    assert parse_value("2") == 2 and parse_value("[1, 2]") == [1, 2] and parse_value("true") is True
    assert parse_value("hello world") == "hello world" and parse_value('"7"') == "7"


def test_input_sets_text_nodes_only() -> None:
    from flowstudio.core.registry import default_registry

    reg = default_registry()
    flow = make_flow([("q", "io.text", {"text": "a"}), ("c", "stub.const", {})], [])
    assert apply_overrides(flow, inputs=["q=What is 2+2?"], registry=reg).node("q").params["text"] == "What is 2+2?"
    assert flow.node("q").params["text"] == "a"  # the caller's flow is untouched
    with pytest.raises(RunSetupError, match=r"not a text input \(io.text\)"):
        apply_overrides(flow, inputs=["c=1"], registry=reg)
    with pytest.raises(RunSetupError, match="no node 'zz'"):
        apply_overrides(flow, inputs=["zz=1"], registry=reg)


def test_invalid_flow_is_refused_before_anything_runs(engine: Engine, run_opts, tmp_path: Path) -> None:
    flow = make_flow([("a", "stub.add", {"bias": 500}), ("m", "stub.model", {"path": "missing.txt"})], [])
    run_dir = tmp_path / "never"
    with pytest.raises(FlowInvalidError) as info:
        engine.run(flow, flow_dir=tmp_path, options=run_opts(run_dir=run_dir))
    codes = {p.code for p in info.value.problems}
    assert codes == {"missing_input", "bad_param", "missing_path"}
    assert not run_dir.exists()


def test_user_code_needs_consent(engine: Engine, run_opts) -> None:
    flow = make_flow([("py", "stub.code", {})], [])
    with pytest.raises(RunSetupError, match=r"'py' \(stub.code\).*--allow-code"):
        engine.run(flow, options=run_opts())
    assert engine.run(flow, options=run_opts(allow_code=True)).ok


class ReadFile(Node):
    type = "test.read"

    class Outputs(Ports):
        text = Port(Text)

    class Params(NodeParams):
        path: str = PathField("", "a file")

    def run(self, ctx, inputs, params):  # noqa: ANN001, ANN201
        assert Path(params.path).is_absolute()
        return {"text": Path(params.path).read_text()}


def test_relative_paths_are_relative_to_the_flow_dir(store, run_opts, tmp_path: Path, monkeypatch) -> None:
    flow_dir = tmp_path / "project"
    flow_dir.mkdir()
    (flow_dir / "note.txt").write_text("from the flow dir")
    monkeypatch.chdir(tmp_path)  # not the flow dir
    with Engine(NodeRegistry([*STUB_TYPES, ReadFile]), DeviceInventory.fake(), store) as engine:
        result = engine.run(make_flow([("r", "test.read", {"path": "note.txt"})], []), flow_dir=flow_dir,
                            options=run_opts())
    assert result.summary["nodes"]["r"]["outputs"]["text"] == "from the flow dir"


def test_builtin_references_stay_as_they_are(tmp_path):
    from flowstudio.engine.plan import _absolute_params
    from tests.stubs import MakeModel

    params, names = _absolute_params(MakeModel, MakeModel.Params(path="builtin:qa"), tmp_path)
    assert names == ["path"] and params.path == "builtin:qa"
    params, _ = _absolute_params(MakeModel, MakeModel.Params(path="data/x.jsonl"), tmp_path)
    assert params.path == str(tmp_path / "data" / "x.jsonl")
