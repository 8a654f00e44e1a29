"""The flow file: round trips, atomic saves, migration, refusal of newer files, unknown types kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import SCHEMA_VERSION, Flow, load_flow, parse_flow, save_flow
from flowstudio.core.validation import validate_flow
from tests.stubs import make_flow, stub_registry

UNKNOWN_NODE = {
    "id": "magic",
    "type": "acme.sparkle",
    "params": {"intensity": 11, "nested": {"a": [1, 2, {"b": None}]}, "name": "ünïcode ✨"},
    "position": [123.5, -42.0],
    "title": "Sparkle",
    "acme_extra": {"colour": "gold"},
}


def flow_with_unknown_node() -> dict:
    return {
        "schema_version": 1,
        "name": "plugin flow",
        "description": "",
        "nodes": [
            {"id": "a", "type": "stub.const", "params": {"value": 2.0}, "position": [0.0, 0.0]},
            UNKNOWN_NODE,
            {"id": "e", "type": "stub.echo", "params": {}, "position": [400.0, 0.0]},
        ],
        "edges": [{"source": "a.value", "target": "magic.input"}, {"source": "magic.output", "target": "e.value"}],
        "groups": [],
        "metadata": {},
    }


def test_unknown_node_type_loads_validates_and_saves_back_unchanged(tmp_path: Path):
    path = tmp_path / "plugin.flow.json"
    path.write_text(json.dumps(flow_with_unknown_node()))
    flow = load_flow(path)
    problems = validate_flow(flow, stub_registry())
    assert [p.code for p in problems] == ["unknown_type"]
    assert problems[0].node_id == "magic" and "not installed" in problems[0].message

    out = tmp_path / "saved.flow.json"
    save_flow(flow, out)
    saved = json.loads(out.read_text())
    assert saved["nodes"][1] == UNKNOWN_NODE
    assert saved["edges"] == flow_with_unknown_node()["edges"]


def test_save_load_round_trip_is_identical(tmp_path: Path):
    flow = make_flow([("a", "stub.const", {"value": 1.5}), ("b", "stub.add", {"bias": 2})], [("a.value", "b.a")])
    path = tmp_path / "f.flow.json"
    save_flow(flow, path)
    again = load_flow(path)
    assert again.to_json_dict() == flow.to_json_dict()
    save_flow(again, tmp_path / "g.flow.json")
    assert (tmp_path / "g.flow.json").read_text() == path.read_text()


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "f.flow.json"
    save_flow(make_flow([("a", "stub.const", {})], []), path)
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_flow(make_flow([("b", "stub.const", {})], []), path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.flow.json"]


def test_newer_schema_is_refused_clearly():
    with pytest.raises(FlowFileError) as err:
        parse_flow(json.dumps({"schema_version": SCHEMA_VERSION + 1, "nodes": []}))
    assert "newer FlowStudio" in str(err.value) and "Upgrade" in str(err.value)


def test_schema_0_draft_is_migrated():
    old = {"name": "draft", "nodes": [{"id": "a", "type": "stub.const", "params": {"value": 3}, "x": 10, "y": 20},
                                      {"id": "b", "type": "stub.add", "params": {}, "x": 200, "y": 20}],
           "links": [{"from": "a.value", "to": "b.a"}]}
    flow = parse_flow(json.dumps(old))
    assert flow.schema_version == SCHEMA_VERSION
    assert flow.nodes[0].position == (10.0, 20.0)
    assert [(e.source, e.target) for e in flow.edges] == [("a.value", "b.a")]
    assert validate_flow(flow, stub_registry()) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not JSON"),
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"name": "x"}', "no 'nodes'"),
        ('{"nodes": [{"id": "a b", "type": "t"}]}', "nodes.0.id"),
        ('{"nodes": [], "edges": [{"source": "a", "target": "b.c"}]}', "edges.0.source"),
        ('{"schema_version": "one", "nodes": []}', "schema_version"),
        ('{"nodes": [{"id": "a", "type": "t", "position": [NaN, 0]}]}', "position"),
    ],
)
def test_malformed_files_get_one_line_errors(text: str, fragment: str):
    with pytest.raises(FlowFileError) as err:
        parse_flow(text, "bad.flow.json")
    message = str(err.value)
    assert fragment in message and "\n" not in message and message.startswith("bad.flow.json:")


def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(FlowFileError, match="no such file"):
        load_flow(tmp_path / "nope.flow.json")
    with pytest.raises(FlowFileError, match="directory"):
        load_flow(tmp_path)


def test_params_are_stored_by_name():
    flow = make_flow([("b", "stub.add", {"bias": 2.0})], [])
    assert flow.to_json_dict()["nodes"][0]["params"] == {"bias": 2.0}
    assert isinstance(Flow.model_validate(flow.to_json_dict()).nodes[0].params, dict)
