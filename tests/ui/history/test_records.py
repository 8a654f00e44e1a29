"""Run records and snapshot diffs on hand-made run directories: which runs belong to a flow, what
differed, and that broken, oversized or planted files are ignored rather than trusted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flowstudio.ui.history import records as rec
from flowstudio.ui.history import snapshot_diff as sd
from flowstudio.ui.history.replay import read_events


def _flow(lr: float = 0.1, extra_node: bool = False, name: str = "f") -> dict:
    nodes = [{"id": "m", "type": "model.load", "params": {"source": "builtin:tiny-llama"}},
             {"id": "t", "type": "train.sft", "params": {"learning_rate": lr}}]
    if extra_node:
        nodes.append({"id": "o", "type": "io.output", "params": {}})
    return {"name": name, "nodes": nodes, "edges": [{"source": "m.model", "target": "t.model"}]}


def _run(root: Path, name: str, source: str | None, flow: dict, started: float, summary: dict | None = None,
         metrics: list[dict] | None = None) -> Path:
    path = root / name
    (path / "nodes" / "t").mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"run_id": name, "source": source,
                                               "attempts": [{"started": started}]}))
    (path / "flow.json").write_text(json.dumps(flow))
    if summary is not None:
        (path / "summary.json").write_text(json.dumps({"started": started, **summary}))
    if metrics:
        (path / "nodes" / "t" / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    return path


def test_runs_of_a_saved_flow_are_found_by_its_file_newest_first(tmp_path: Path):
    root, flow_file = tmp_path / "runs", tmp_path / "a.flow.json"
    flow_file.write_text("{}")
    old = _run(root, "20260101-a", str(flow_file), _flow(0.1), 100.0, {"status": "succeeded", "seconds": 2.0})
    new = _run(root, "20260102-a", str(flow_file), _flow(0.2), 200.0, {"status": "failed", "seconds": 1.0})
    _run(root, "20260103-b", str(tmp_path / "other.flow.json"), _flow(), 300.0, {"status": "succeeded"})
    _run(root, "20260104-u", None, _flow(), 400.0, {"status": "succeeded"})  # an unsaved flow's run
    running = _run(root, "20260105-a", str(flow_file), _flow(0.1), 500.0)  # no summary yet
    (root / "20260106-junk").mkdir()
    (root / "20260106-junk" / "run.json").write_text("{not json")
    os.symlink(old, root / "20260107-link")  # a planted link is not followed
    found = rec.runs_of_flow(flow_file, "f", root)
    assert [r.path for r in found] == [running, new, old]
    assert [r.status for r in found] == ["running", "failed", "succeeded"]
    assert found[0].seconds is None and found[2].seconds == 2.0
    unsaved = rec.runs_of_flow(None, "f", root)
    assert [r.path.name for r in unsaved] == ["20260104-u"]
    assert rec.runs_of_flow(None, "another name", root) == []


def test_the_params_that_differed(tmp_path: Path):
    root = tmp_path / "runs"
    a = rec.load_run(_run(root, "a", None, _flow(0.1), 1.0))
    b = rec.load_run(_run(root, "b", None, _flow(0.2), 2.0))
    c = rec.load_run(_run(root, "c", None, _flow(0.1, extra_node=True), 3.0))
    assert rec.differing_params([a, b]) == ["t.learning_rate"]
    assert rec.differing_params([a, c]) == ["o.type"]
    assert rec.differing_params([a, b, c]) == ["o.type", "t.learning_rate"]
    assert rec.differing_params([a]) == []
    del c.flow["nodes"][1]["params"]["learning_rate"]  # a param the snapshot leaves at its default
    c.params = rec.flow_params(c.flow)
    assert rec.differing_params([a, c]) == ["o.type", "t.learning_rate"]
    assert c.params.get("t.learning_rate", rec.MISSING) == "(default)"


def test_final_metrics_series_and_model_outputs_are_read_defensively(tmp_path: Path):
    summary = {"status": "succeeded", "nodes": {
        "t": {"status": "done", "metrics": {"loss": 1.5, "steps": 4, "flag": True, "note": "x"},
              "outputs": {"model": {"__artifact__": True, "kind": "model", "path": "/m", "meta": {"adapter": True}},
                          "metrics": {"loss": 1.5}}},
        "d": {"status": "failed", "outputs": {"model": {"__artifact__": True, "kind": "model", "path": "/x"}}},
        "bad": "not a dict"}}
    metrics = [{"name": "loss", "value": 2.0, "step": 1}, {"name": "loss", "value": 1.5, "step": 2}]
    run = rec.load_run(_run(tmp_path, "r", None, _flow(), 1.0, summary, metrics))
    with (run.path / "nodes" / "t" / "metrics.jsonl").open("a") as fh:
        fh.write('{"name": "loss", "val')  # a half-written last line
    assert run.final_metrics() == {"t": {"loss": 1.5, "steps": 4.0}}
    assert run.series("t") == {"loss": [(1.0, 2.0), (2.0, 1.5)]}
    assert run.metric_nodes() == ["t"]
    assert list(run.model_outputs()) == ["t.model"]  # a failed node's outputs are not offered


def test_oversized_or_broken_files_count_as_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _run(tmp_path, "r", None, _flow(), 1.0, {"status": "succeeded", "pad": "x" * 5000})
    monkeypatch.setattr(rec, "MAX_JSON_BYTES", 1000)
    run = rec.load_run(path)
    assert run is not None and run.summary == {} and run.status == "running"
    (path / "flow.json").write_text("[1, 2")
    assert rec.load_run(path) is None
    (path / "events.jsonl").write_text('{"event": "run_started"}\n[1]\n{"event": "node_log", "li')
    assert read_events(path / "events.jsonl") == [{"event": "run_started"}]


def test_snapshot_changes_name_nodes_params_and_connections():
    before = _flow(0.1)
    after = _flow(0.2, extra_node=True)
    after["nodes"][0]["type"] = "model.load2"
    after["nodes"][0]["bypass"] = True
    after["edges"].append({"source": "t.metrics", "target": "o.value"})
    after["nodes"][1]["position"] = [10, 10]  # layout is not a change
    found = [c.text() for c in sd.changes(before, after)]
    assert found == ["m.type: model.load → model.load2", "m.bypass: false → true",
                     "t.learning_rate: 0.1 → 0.2", "node added: o", "edge added: t.metrics → o.value"]
    back = [c.text() for c in sd.changes(after, before)]
    assert "node removed: o" in back and "edge removed: t.metrics → o.value" in back
    assert sd.changes(before, before) == []
    report = sd.report(before, before, ("#1", "#2"))
    assert report == "#1 → #2: the flows are the same"
    text = sd.unified(before, after, ("#1", "#2"))
    assert text.startswith("--- #1/flow.json\n+++ #2/flow.json") and '+        "learning_rate": 0.2' in text
    assert sd.changes({"nodes": "junk", "edges": None}, {"nodes": [1, {"id": 3}]}) == []
