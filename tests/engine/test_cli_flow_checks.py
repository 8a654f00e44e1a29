"""`flowstudio run` refuses what the flow file would refuse, before anything runs or is written: a --set
value that is not a finite number, text that is not Unicode, a node id too long to name a directory.
Real subprocesses over the stub nodes; the user sees an exit status of 1 and one clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowstudio.core.flow import load_flow
from flowstudio.engine.plan import RunSetupError, apply_overrides
from tests.engine.test_cli_run import cli_env, flowstudio, write
from tests.stubs import make_flow

__all__ = ["cli_env"]  # the fixture, imported for pytest


def adder_flow():
    return make_flow([("one", "stub.const", {"value": 2.0}), ("adder", "stub.add", {"bias": 1.0})],
                     [("one.value", "adder.a")])


@pytest.mark.parametrize("value", ["1e999", "Infinity", "-Infinity", "NaN", "[1, NaN]"])
def test_a_set_that_is_not_a_finite_number_is_refused_before_the_run(cli_env, tmp_path: Path, value: str):
    flow_path = write(adder_flow(), tmp_path / "adder.flow.json")
    run_dir = tmp_path / "run"
    done = flowstudio(["run", str(flow_path), "--set", f"adder.bias={value}", "--run-dir", str(run_dir)], cli_env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"--set 'adder.bias={value}'" in done.stderr
    assert "adder.bias" in done.stderr and "not a finite number" in done.stderr
    assert "give a finite number, e.g. --set adder.bias=1.0" in done.stderr  # the fix
    assert not run_dir.exists()  # nothing ran, no flow.json with Infinity in it


def test_a_finite_set_still_runs_and_its_run_dir_flow_loads(cli_env, tmp_path: Path):
    flow_path = write(adder_flow(), tmp_path / "adder.flow.json")
    run_dir = tmp_path / "run"
    done = flowstudio(["run", str(flow_path), "--json", "--set", "one.value=1e300", "--run-dir", str(run_dir)],
                      cli_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert load_flow(run_dir / "flow.json").node("one").params["value"] == 1e300


def test_a_set_with_invalid_utf8_from_the_shell_is_refused(cli_env, tmp_path: Path):
    flow = make_flow([("fail", "stub.fail", {"mode": "raise"})], [])
    flow_path = write(flow, tmp_path / "f.flow.json")
    run_dir = tmp_path / "run"
    # argv bytes that are not UTF-8 reach Python as lone surrogates (\udcff)
    args = [sys.executable.encode(), b"-m", b"flowstudio", b"run", str(flow_path).encode(), b"--set",
            b"fail.message=bad \xff byte", b"--run-dir", str(run_dir).encode()]
    done = subprocess.run(args, env=cli_env, capture_output=True, timeout=120)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr and "fail.message" in stderr and "not valid Unicode" in stderr
    assert not run_dir.exists()


def test_a_300_character_node_id_is_refused_by_validate_and_run(cli_env, tmp_path: Path):
    long_id = "n" * 300
    flow_path = write(make_flow([(long_id, "stub.const", {})], []), tmp_path / "long.flow.json")
    checked = flowstudio(["validate", str(flow_path)], cli_env)
    assert checked.returncode == 1 and "ids are at most 64" in checked.stdout + checked.stderr
    run_dir = tmp_path / "run"
    done = flowstudio(["run", str(flow_path), "--run-dir", str(run_dir)], cli_env)
    assert done.returncode == 1  # before: OSError "File name too long" with a traceback
    assert "Traceback" not in done.stderr and "ids are at most 64" in done.stderr
    assert not run_dir.exists()


def test_a_lone_surrogate_in_a_param_is_refused_by_validate_and_run(cli_env, tmp_path: Path):
    flow_path = tmp_path / "s.flow.json"
    flow_path.write_text('{"nodes": [{"id": "f", "type": "stub.fail", "params": {"message": "a\\ud800b"}}]}')
    for args in (["validate", str(flow_path)], ["run", str(flow_path), "--run-dir", str(tmp_path / "run")]):
        done = flowstudio(args, cli_env)
        assert done.returncode == 1, args  # before: validate said ok, run crashed writing flow.json
        out = done.stdout + done.stderr
        assert "Traceback" not in out and "nodes[0].params.message" in out and "not valid Unicode" in out
    assert not (tmp_path / "run").exists()


def test_apply_overrides_names_the_param_and_the_fix():
    with pytest.raises(RunSetupError) as err:
        apply_overrides(adder_flow(), ["adder.bias=1e999"])
    assert "adder.bias is inf, not a finite number" in str(err.value)
    with pytest.raises(RunSetupError, match=r"adder.bias\.x\[0\] is nan"):
        apply_overrides(adder_flow(), ['adder.bias={"x": [NaN]}'])
    assert apply_overrides(adder_flow(), ["adder.bias=2"]).node("adder").params["bias"] == 2
