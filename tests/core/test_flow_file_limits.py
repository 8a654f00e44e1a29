"""Malformed and hostile flow files: each is refused with a one-line FlowFileError (or a validation
problem) in bounded time and memory. Loads that could hang or exhaust memory run in a subprocess under
a timeout and an address-space limit, so a regression fails the test instead of the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import load_flow, parse_flow
from flowstudio.core.limits import MAX_FLOW_ERRORS, MAX_FLOW_FILE_BYTES, MAX_MESSAGE_CHARS, MAX_NODE_ID_LENGTH
from flowstudio.core.paths import templates_dir
from flowstudio.core.validation import validate_flow
from tests.stubs import make_flow, stub_registry

REPO = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 600 * 2**20

_LOADER = r"""
import resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import load_flow
try:
    flow = load_flow(sys.argv[1])
except FlowFileError as exc:
    print("refused:", exc)
else:
    print("loaded:", len(flow.nodes), "nodes")
"""


def load_in_subprocess(path: Path, timeout: float = 30) -> str:
    """Load `path` in a fresh interpreter limited to MEMORY_LIMIT of address space; its one output line."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", _LOADER, str(path), str(MEMORY_LIMIT)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)
    assert done.returncode == 0, f"the loader crashed (memory?):\n{done.stderr[-2000:]}"
    return done.stdout.strip()


# -------------------------------------------------------------------------------------- size and errors


def test_a_2_mb_list_of_numbers_stops_after_the_first_errors(tmp_path: Path):
    path = tmp_path / "numbers.flow.json"
    path.write_text('{"nodes": [' + ",".join(str(i) for i in range(400_000)) + "]}")
    assert path.stat().st_size > 2 * 2**20
    out = load_in_subprocess(path)  # before: 1.7 GB of error records for a 2 MB file
    assert out.startswith("refused:") and "nodes.0:" in out
    assert f"checking stopped after the first {MAX_FLOW_ERRORS} errors" in out
    assert "\n" not in out and len(out) < 1000


def test_a_file_as_large_as_allowed_of_bad_nodes_still_loads_in_bounded_memory(tmp_path: Path):
    path = tmp_path / "max.flow.json"
    count = (MAX_FLOW_FILE_BYTES - 100) // 2
    path.write_text('{"nodes": [' + ",".join(["0"] * count) + "]}")
    out = load_in_subprocess(path, timeout=60)
    assert out.startswith("refused:") and "checking stopped" in out


def test_one_group_with_a_million_bad_members_is_one_error():
    text = json.dumps({"nodes": [], "groups": [{"id": "g", "nodes": list(range(1_000_000))}]})
    with pytest.raises(FlowFileError) as err:
        parse_flow(text, "g.flow.json")
    assert str(err.value).count("groups.0.nodes") == 1


def test_many_non_finite_numbers_are_refused_while_parsing():
    text = '{"nodes": [{"id": "a", "type": "t", "params": {"x": [' + ",".join(["NaN"] * 100_000) + "]}}]}"
    with pytest.raises(FlowFileError, match=f"more than {MAX_FLOW_ERRORS} numbers are not finite"):
        parse_flow(text)
    with pytest.raises(FlowFileError, match="nodes.0.params.x"):  # a few: reported where they are
        parse_flow('{"nodes": [{"id": "a", "type": "t", "params": {"x": 1e999}}]}')


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path):
    path = tmp_path / "huge.flow.json"
    with path.open("wb") as fh:  # sparse: no disk used, but stat says 40 MB
        fh.truncate(MAX_FLOW_FILE_BYTES + 8 * 2**20)
    out = load_in_subprocess(path)
    assert out.startswith("refused:") and "too large to be a flow" in out and "32 MiB" in out


# ------------------------------------------------------------------------------- not a regular file


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path):
    fifo = tmp_path / "pipe.flow.json"
    os.mkfifo(fifo)  # nobody writes to it: reading it would block forever
    out = load_in_subprocess(fifo, timeout=20)
    assert out.startswith("refused:") and "named pipe" in out and "regular file" in out


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_symlink_to_dev_zero_is_refused_without_reading(tmp_path: Path):
    link = tmp_path / "zero.flow.json"
    link.symlink_to("/dev/zero")  # endless: reading it would fill the memory
    out = load_in_subprocess(link, timeout=20)
    assert out.startswith("refused:") and "a device" in out


def test_a_symlink_to_a_directory_reads_as_a_directory(tmp_path: Path):
    link = tmp_path / "dir.flow.json"
    link.symlink_to(tmp_path)
    with pytest.raises(FlowFileError, match="is a directory"):
        load_flow(link)


def test_a_symlink_to_a_regular_flow_loads(tmp_path: Path):
    real = tmp_path / "real.flow.json"
    real.write_text(make_flow([("a", "stub.const", {})], []).to_json_text())
    link = tmp_path / "link.flow.json"
    link.symlink_to(real)
    assert load_flow(link).nodes[0].id == "a"


# --------------------------------------------------------------- what validate lets through, run needs


def test_a_lone_surrogate_in_a_param_is_refused_on_load_with_its_place():
    text = '{"nodes": [{"id": "t", "type": "stub.echo", "params": {"text": "a\\ud800b"}}]}'
    with pytest.raises(FlowFileError) as err:
        parse_flow(text, "s.flow.json")
    message = str(err.value)
    assert "nodes[0].params.text" in message and "not valid Unicode" in message and "\\ud800" in message
    # a proper pair written as escapes is fine
    assert parse_flow('{"nodes": [], "name": "\\ud83d\\ude00"}').name == "😀"


def test_a_lone_surrogate_made_in_memory_is_a_validation_problem():
    flow = make_flow([("e", "stub.fail", {"message": "bad \udc80 byte"})], [])
    problems = validate_flow(flow, stub_registry(), check_files=False)
    assert [(p.code, p.node_id, p.field) for p in problems] == [("bad_value", "e", "message")]
    assert "not valid Unicode" in problems[0].message


def test_a_300_character_node_id_is_a_validation_problem():
    long_id = "n" * 300
    flow = make_flow([(long_id, "stub.const", {})], [])
    problems = validate_flow(flow, stub_registry(), check_files=False)
    assert [(p.code, p.node_id) for p in problems] == [("bad_id", long_id)]
    assert f"at most {MAX_NODE_ID_LENGTH}" in problems[0].message


def test_every_template_keeps_to_the_limits():
    templates = sorted(templates_dir().glob("*.flow.json"))
    assert templates
    for path in templates:
        flow = load_flow(path)
        assert all(len(n.id) <= MAX_NODE_ID_LENGTH for n in flow.nodes), path
        assert path.stat().st_size < MAX_FLOW_FILE_BYTES


def test_generated_ids_stay_within_the_limit():
    from flowstudio.core.document import FlowDocument

    doc = FlowDocument(registry=stub_registry())
    node_id = doc.new_node_id("acme." + "x" * 200, taken=["x" * 56])
    assert len(node_id) <= MAX_NODE_ID_LENGTH


def test_problem_messages_quote_huge_values_shortly():
    flow = make_flow([("c", "stub.const", {"value": "x" * 1_000_000})], [])
    problems = validate_flow(flow, stub_registry(), check_files=False)
    assert problems and all(len(p.format()) < 3 * MAX_MESSAGE_CHARS for p in problems)
    assert "more characters" in problems[0].message or len(problems[0].message) < 200
