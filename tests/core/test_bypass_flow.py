"""The bypass flag in the flow file: written only when on, old files load, schema, undoable edit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowstudio.cli import main
from flowstudio.core.bypass import SetBypass
from flowstudio.core.document import FlowDocument
from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import flow_json_schema, load_flow, parse_flow, save_flow
from tests.stubs import make_flow, stub_registry


def _flow():
    return make_flow([("a", "stub.const", {"value": 1}), ("b", "stub.add", {}), ("c", "stub.echo", {})],
                     [("a.value", "b.a"), ("b.value", "c.value")])


def test_bypass_round_trips_and_is_written_only_when_on(tmp_path: Path) -> None:
    flow = _flow()
    flow.node("b").bypass = True
    path = tmp_path / "x.flow.json"
    save_flow(flow, path)
    raw = json.loads(path.read_text())
    assert [n.get("bypass") for n in raw["nodes"]] == [None, True, None]  # false is not written
    loaded = load_flow(path)
    assert [n.bypass for n in loaded.nodes] == [False, True, False]
    assert loaded.to_json_text() == flow.to_json_text()


def test_old_files_without_bypass_load_and_save_unchanged() -> None:
    text = json.dumps({"schema_version": 1, "nodes": [{"id": "a", "type": "stub.const", "params": {}}]})
    flow = parse_flow(text)
    assert flow.nodes[0].bypass is False
    assert "bypass" not in flow.to_json_text()


def test_bad_bypass_value_is_a_flow_file_error() -> None:
    text = json.dumps({"nodes": [{"id": "a", "type": "stub.const", "bypass": "perhaps"}]})
    with pytest.raises(FlowFileError, match="bypass"):
        parse_flow(text)


def test_schema_documents_bypass(capsys: pytest.CaptureFixture[str]) -> None:
    node = flow_json_schema()["$defs"]["NodeSpec"]["properties"]["bypass"]
    assert node["type"] == "boolean" and node["default"] is False
    assert main(["schema"]) == 0  # `flowstudio schema` prints it
    assert json.loads(capsys.readouterr().out)["$defs"]["NodeSpec"]["properties"]["bypass"] == node


def test_set_bypass_is_undoable_and_validation_follows() -> None:
    doc = FlowDocument(_flow(), registry=stub_registry())
    before = doc.to_json_text()
    inverse = doc.apply(SetBypass({"b": True}))
    assert doc.flow.node("b").bypass
    assert {p.code for p in doc.validate()} == {"bypassed"}
    doc.apply(inverse)
    assert doc.to_json_text() == before and doc.validate() == []


def test_validate_cli_reports_what_a_bypass_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = Path(__file__).resolve().parents[2]
    flow = load_flow(repo / "templates" / "sft_lora.flow.json")
    flow.node("lora").bypass = True
    flow.node("merge").bypass = True
    path = tmp_path / "sft.flow.json"
    save_flow(flow, path)
    assert main(["validate", str(path)]) == 0  # warnings only: it may run
    out = capsys.readouterr().out
    assert "node 'merge': bypassed: passes 'model' to 'model'" in out
    assert "node 'lora': bypassed: passes nothing" in out
    assert "node 'sft': runs without its optional input(s) lora (bypassed upstream)" in out
