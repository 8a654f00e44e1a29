"""A new run never lands on someone's files or on another run (issue 12, data loss: `--run-dir`).

A run writes flow.json, run.json, events.jsonl and nodes/<id>/ and empties each node's work dir, so
it starts only in a new or empty directory. A directory holding a FlowStudio run is refused too, with
the command that continues it (`--resume`): starting over in place would mix two runs' events and
results and discard the checkpoints a resume needs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from flowstudio.engine import Engine, RunSetupError
from tests.engine.test_cli_run import cli_env, flowstudio, write  # noqa: F401 - cli_env is a fixture
from tests.stubs import make_flow


def listing(root: Path) -> dict[str, str]:
    """Every path under `root` with a checksum of its content."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def flow():
    return make_flow([("m", "stub.model", {"size": 2}), ("t", "stub.train", {"steps": 2}), ("out", "stub.echo", {})],
                     [("m.model", "t.model"), ("t.model", "out.value")])


def users_dir(path: Path) -> Path:
    """Someone's directory whose names collide with a run's: flow.json, events.jsonl, nodes/t/work/."""
    (path / "nodes" / "t" / "work").mkdir(parents=True)
    (path / "nodes" / "t" / "work" / "results.csv").write_text("epoch,acc\n1,0.9\n")
    (path / "flow.json").write_text('{"mine": true}')
    (path / "events.jsonl").write_text("my log\n")
    (path / "paper.pdf").write_bytes(os.urandom(2048))
    return path


def test_a_directory_with_user_files_is_refused_and_intact(engine: Engine, run_opts, tmp_path: Path) -> None:
    target = users_dir(tmp_path / "mine")
    before = listing(target)
    with pytest.raises(RunSetupError, match="not empty and is not a FlowStudio run") as err:
        engine.run(flow(), tmp_path, run_opts(run_dir=target))
    assert str(target) in str(err.value) and "new or empty directory" in str(err.value)
    assert listing(target) == before


def test_a_file_is_refused(engine: Engine, run_opts, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep")
    with pytest.raises(RunSetupError, match="is a file"):
        engine.run(flow(), tmp_path, run_opts(run_dir=target))
    assert target.read_text() == "keep"


def test_an_empty_or_new_directory_works(engine: Engine, run_opts, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (empty, tmp_path / "new" / "run"):
        result = engine.run(flow(), tmp_path, run_opts(run_dir=target))
        assert result.ok, result.summary
        assert result.run_dir == target.absolute() and (target / "summary.json").is_file()


def test_an_existing_run_is_refused_with_the_resume_command(engine: Engine, run_opts, tmp_path: Path) -> None:
    target = tmp_path / "run"
    first = engine.run(flow(), tmp_path, run_opts(run_dir=target))
    assert first.ok
    before = listing(target)
    with pytest.raises(RunSetupError, match="already holds a FlowStudio run") as err:
        engine.run(flow(), tmp_path, run_opts(run_dir=target))
    assert f"flowstudio run --resume {target}" in str(err.value)
    assert listing(target) == before
    resumed = engine.resume(target)  # what the message says works, in the same directory
    assert resumed.ok and resumed.run_dir == target.absolute()
    assert len(json.loads((target / "run.json").read_text())["attempts"]) == 2


def test_the_cli_refuses_a_users_directory_and_says_why(cli_env, tmp_path: Path) -> None:  # noqa: F811
    path = write(flow(), tmp_path / "f.flow.json")
    target = users_dir(tmp_path / "mine")
    before = listing(target)
    done = flowstudio(["run", str(path), "--run-dir", str(target)], cli_env)
    assert done.returncode == 1
    assert f"run dir {target} is not empty and is not a FlowStudio run" in done.stderr
    assert "Traceback" not in done.stderr
    assert listing(target) == before

    fresh = tmp_path / "fresh"
    assert flowstudio(["run", str(path), "--run-dir", str(fresh)], cli_env).returncode == 0
    again = flowstudio(["run", str(path), "--run-dir", str(fresh), "--json"], cli_env)
    assert again.returncode == 1 and json.loads(again.stdout)["status"] == "invalid"
    assert f"--resume {fresh}" in again.stderr
    both = flowstudio(["run", "--resume", str(fresh), "--run-dir", str(tmp_path / "other")], cli_env)
    assert both.returncode == 1 and "leave out --run-dir" in both.stderr
