"""`flowstudio run` and `flowstudio cache` as a user runs them: a subprocess, stub nodes installed as a
plugin (a dist-info with a `flowstudio.nodes` entry point on PYTHONPATH), JSON on stdout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowstudio.core.flow import save_flow
from tests.stubs import make_flow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    plugin = tmp_path / "plugin"
    dist = plugin / "flowstudio_test_stubs-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: flowstudio-test-stubs\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[flowstudio.nodes]\nstubs = tests.stubs:STUB_TYPES\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(plugin)])
    env["FLOWSTUDIO_HOME"] = str(tmp_path / "home")
    env["OMP_NUM_THREADS"] = "1"
    return env


def flowstudio(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowstudio", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def write(flow, path: Path) -> Path:
    save_flow(flow, path)
    return path


def qa_flow():
    return make_flow(
        [("question", "io.text", {"text": "hi"}), ("answer", "io.output", {}),
         ("m", "stub.model", {"size": 2}), ("t", "stub.train", {"steps": 2}), ("model_out", "io.output", {})],
        [("question.text", "answer.value"), ("m.model", "t.model"), ("t.model", "model_out.value")],
    )


def test_run_json_summary_shape_and_exit_status(cli_env, tmp_path: Path) -> None:
    path = write(qa_flow(), tmp_path / "qa.flow.json")
    done = flowstudio(["run", str(path), "--json", "--input", "question=What is 2+2?"], cli_env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # stdout is exactly one JSON object
    assert summary["status"] == "succeeded"
    assert Path(summary["run_dir"]).is_dir()
    assert summary["outputs"]["answer"] == "What is 2+2?"
    assert summary["outputs"]["model_out"]["kind"] == "model"
    t = summary["nodes"]["t"]
    assert t["status"] == "done" and t["error"] is None and t["metrics"] == {"loss": 0.5}
    assert t["outputs"]["model"]["kind"] == "model" and Path(t["outputs"]["model"]["path"]).is_dir()
    assert isinstance(t["seconds"], float)
    assert "t" in done.stderr  # progress and the table go to stderr

    again = flowstudio(["run", str(path), "--json", "--input", "question=What is 2+2?"], cli_env)
    statuses = {k: v["status"] for k, v in json.loads(again.stdout)["nodes"].items()}
    assert statuses == {"question": "cached", "answer": "done", "m": "cached", "t": "cached", "model_out": "done"}


def test_failed_run_exits_nonzero_with_the_error(cli_env, tmp_path: Path) -> None:
    flow = make_flow(
        [("killed", "stub.fail", {"mode": "kill", "delay": 0.2}), ("raised", "stub.fail", {"message": "bad data"}),
         ("after", "stub.echo", {}), ("ok", "stub.model", {"size": 1})],
        [("killed.value", "after.value")],
    )
    path = write(flow, tmp_path / "bad.flow.json")
    done = flowstudio(["run", str(path), "--json"], cli_env)
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["status"] == "failed"
    nodes = summary["nodes"]
    assert {k: v["status"] for k, v in nodes.items()} == {"killed": "failed", "raised": "failed", "after": "skipped",
                                                         "ok": "done"}
    assert "killed by SIGKILL" in nodes["killed"]["error"]
    assert nodes["raised"]["error"] == "RuntimeError: bad data"
    run_dir = Path(summary["run_dir"])
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    events = [json.loads(line)["event"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert events[0] == "run_started" and events[-1] == "run_finished" and events.count("node_failed") == 2
    for node_id in ("killed", "raised", "ok"):
        assert (run_dir / "nodes" / node_id / "result.json").is_file()
    assert "RuntimeError: bad data" in (run_dir / "nodes" / "raised" / "log.txt").read_text()

    only = json.loads(flowstudio(["run", str(path), "--json", "--until", "raised"], cli_env).stdout)
    assert set(only["nodes"]) == {"raised"}
    plain = flowstudio(["run", str(path)], cli_env)
    assert plain.returncode == 1 and "SIGKILL" in plain.stdout and "skipped" in plain.stdout
    assert "last lines of raised's log" in plain.stderr and "RuntimeError: bad data" in plain.stderr


def test_invalid_flow_and_bad_flags_exit_1_with_the_problems(cli_env, tmp_path: Path) -> None:
    path = write(qa_flow(), tmp_path / "qa.flow.json")
    done = flowstudio(["run", str(path), "--json", "--set", "t.steps=0", "--set", "m.size=-1"], cli_env)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["status"] == "invalid"
    assert {(p["node_id"], p["field"]) for p in report["problems"]} == {("t", "steps"), ("m", "size")}
    done = flowstudio(["run", str(path), "--input", "m=hello"], cli_env)
    assert done.returncode == 1 and "not a text input" in done.stderr
    code = write(make_flow([("py", "stub.code", {})], []), tmp_path / "code.flow.json")
    done = flowstudio(["run", str(code)], cli_env)
    assert done.returncode == 1 and "'py'" in done.stderr and "--allow-code" in done.stderr
    assert flowstudio(["run", str(code), "--allow-code"], cli_env).returncode == 0


def test_sigint_stops_cleanly_and_resume_finishes(cli_env, tmp_path: Path) -> None:
    flow = make_flow(
        [("m", "stub.model", {"size": 2}), ("t", "stub.train", {"steps": 30, "step_seconds": 0.1}),
         ("out", "io.output", {})],
        [("m.model", "t.model"), ("t.model", "out.value")],
    )
    path = write(flow, tmp_path / "train.flow.json")
    run_dir = tmp_path / "the-run"
    proc = subprocess.Popen([sys.executable, "-m", "flowstudio", "run", str(path), "--json", "--run-dir",
                             str(run_dir)], env=cli_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines: list[str] = []
    training = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("▶ t"):
                training.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert training.wait(60), "".join(lines)
    ckpt = run_dir / "nodes" / "t" / "checkpoint" / "state.json"
    deadline = time.time() + 30
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()  # type: ignore[union-attr]  (stderr belongs to the reader thread)
    proc.wait(timeout=60)
    reader.join(5)
    assert proc.returncode == 130, "".join(lines)
    stopped = json.loads(out)
    assert stopped["status"] == "cancelled"
    assert stopped["nodes"]["m"]["status"] == "done" and stopped["nodes"]["t"]["status"] == "cancelled"
    saved = json.loads(ckpt.read_text())["step"]
    assert 1 <= saved < 30
    assert any("--resume" in line for line in lines)

    done = flowstudio(["run", "--resume", str(run_dir), "--json"], cli_env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["run_dir"] == str(run_dir.absolute())
    assert {k: v["status"] for k, v in summary["nodes"].items()} == {"m": "cached", "t": "done", "out": "done"}
    assert summary["outputs"]["out"]["meta"]["lineage"] == [saved]


def test_cache_info_and_clear(cli_env, tmp_path: Path) -> None:
    path = write(qa_flow(), tmp_path / "qa.flow.json")
    assert flowstudio(["run", str(path), "-q"], cli_env).returncode == 0
    info = json.loads(flowstudio(["cache", "info", "--json"], cli_env).stdout)
    assert info["entries"] == 3 and info["by_type"]["stub.model"]["bytes"] > 0
    assert "stub.model" in flowstudio(["cache", "info"], cli_env).stdout
    assert "removed 0 entries" in flowstudio(["cache", "trim", "--older-than", "1h"], cli_env).stdout  # all fresh
    assert flowstudio(["cache", "trim"], cli_env).returncode == 2  # says what to give
    trimmed = flowstudio(["cache", "trim", "--max-size", "0"], cli_env)
    assert trimmed.returncode == 0 and "removed 3 entries" in trimmed.stdout
    cleared = flowstudio(["cache", "clear"], cli_env)
    assert cleared.returncode == 0 and "freed" in cleared.stdout
    assert json.loads(flowstudio(["cache", "info", "--json"], cli_env).stdout)["entries"] == 0


def test_second_sigint_kills_the_workers_at_once(cli_env, tmp_path: Path) -> None:
    path = write(make_flow([("slow", "stub.busy", {"sleep": 60})], []), tmp_path / "slow.flow.json")
    proc = subprocess.Popen([sys.executable, "-m", "flowstudio", "run", str(path), "--json"], env=cli_env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            if line.startswith("▶ slow"):
                seen.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    assert seen.wait(60)
    t0 = time.time()
    proc.send_signal(signal.SIGINT)  # stop cleanly: the node ignores it and sleeps on
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)  # kill at once
    out = proc.stdout.read()  # type: ignore[union-attr]
    proc.wait(timeout=30)
    assert time.time() - t0 < 20
    assert proc.returncode == 130
    summary = json.loads(out)
    assert summary["nodes"]["slow"]["status"] == "cancelled"
