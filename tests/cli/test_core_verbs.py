"""`flowstudio nodes`, `schema` and `validate` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from flowstudio.core.paths import templates_dir

TEMPLATES = sorted(templates_dir().glob("*.flow.json"))


def flowstudio(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowstudio", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def test_nodes_json_lists_ports_and_params():
    out = flowstudio("nodes", "--json")
    assert out.returncode == 0, out.stderr
    nodes = {n["type"]: n for n in json.loads(out.stdout)}
    assert {"io.text", "io.output"} <= set(nodes)
    text = nodes["io.text"]
    assert text["outputs"][0]["type"] == "Text"
    assert "text" in text["params"]["properties"]


def test_nodes_plain_and_markdown():
    assert "io.text" in flowstudio("nodes").stdout
    assert "### `io.text`" in flowstudio("nodes", "--markdown").stdout


def test_schema_validates_every_template():
    out = flowstudio("schema")
    schema = json.loads(out.stdout)
    assert TEMPLATES, "templates/ ships at least one flow"
    for path in TEMPLATES:
        jsonschema.validate(json.loads(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"nodes": [{"id": "has space", "type": "x"}]}, schema)


def test_validate_accepts_every_template():
    out = flowstudio("validate", *map(str, TEMPLATES))
    assert out.returncode == 0, out.stdout + out.stderr


def test_validate_reports_each_problem_on_its_own_line(tmp_path: Path):
    bad = tmp_path / "bad.flow.json"
    bad.write_text(json.dumps({
        "schema_version": 1,
        "nodes": [{"id": "t", "type": "io.text", "params": {"text": 5, "colour": "red"}},
                  {"id": "o", "type": "io.output"}, {"id": "x", "type": "not.installed"}],
        "edges": [],
    }))
    out = flowstudio("validate", str(bad))
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 4, lines
    assert all(line.startswith(f"{bad}: node '") for line in lines)
    assert any("field 'text'" in line for line in lines)
    assert any("field 'colour'" in line and "unknown parameter" in line for line in lines)
    assert any("node 'o', field 'value'" in line and "not connected" in line for line in lines)
    assert any("node 'x'" in line and "not installed" in line for line in lines)


@pytest.mark.parametrize("content", ["not json at all", "[1,2,3]", '{"nodes": 5}', ""])
def test_validate_broken_files_get_one_line_and_no_traceback(tmp_path: Path, content: str):
    path = tmp_path / "broken.flow.json"
    path.write_text(content)
    out = flowstudio("validate", str(path), str(TEMPLATES[0]))
    assert out.returncode == 1
    assert "Traceback" not in out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(path))


def test_validate_missing_file():
    out = flowstudio("validate", "/nonexistent/x.flow.json")
    assert out.returncode == 1 and "no such file" in out.stdout and "Traceback" not in out.stderr


def test_a_flow_file_alone_opens_the_app(tmp_path: Path):
    shot = tmp_path / "shot.png"
    out = flowstudio(str(TEMPLATES[0]), "--screenshot", str(shot), "--size", "800x500")
    assert out.returncode == 0, out.stderr
    assert shot.stat().st_size > 10_000


def test_the_node_reference_in_docs_is_current():
    """docs/node-reference.md is `flowstudio nodes --markdown`; regenerate it when a node changes."""
    out = flowstudio("nodes", "--markdown")
    reference = Path(__file__).resolve().parents[2] / "docs" / "node-reference.md"
    assert out.stdout == reference.read_text(), "run: flowstudio nodes --markdown > docs/node-reference.md"
