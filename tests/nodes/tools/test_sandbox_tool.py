"""tool.python: a separate process with time, memory and output limits, a scratch dir, a minimal env, consent."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flowstudio.nodes.tools import kinds
from flowstudio.nodes.tools.tools import Python

from flowstudio.core.errors import NodeRunError
from flowstudio.core.flow import Flow
from flowstudio.core.node import PortValues
from flowstudio.core.validation import validate_flow
from tests.stubs import make_flow


def run(make_ctx, code: str, stdin: str | None = None, code_input: str | None = None, **params):
    ctx = make_ctx()
    out = Python().run(ctx, PortValues({"code": code_input, "stdin": stdin}), Python.Params(code=code, **params))
    return ctx, out


def test_normal_run_returns_stdout_stderr_and_status(make_ctx) -> None:
    ctx, out = run(make_ctx, "import sys\nprint(sum(range(10)))\nprint('warn', file=sys.stderr)\n"
                             "print(input().upper())", stdin="hello")
    assert out["stdout"] == "45\nHELLO\n" and out["stderr"] == "warn\n" and out["exit_code"] == 0
    assert out["tool"]["kind"] == "python"


def test_runs_in_a_scratch_dir_with_a_minimal_environment(make_ctx, monkeypatch) -> None:
    monkeypatch.setenv("FLOWSTUDIO_TEST_SECRET", "hunter2")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    code = ("import os, json\nopen('made.txt', 'w').write('x')\n"
            "print(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ)}))")
    ctx, out = run(make_ctx, code)
    data = json.loads(out["stdout"])
    scratch = Path(ctx.work_dir) / "scratch"
    assert Path(data["cwd"]) == scratch and (scratch / "made.txt").read_text() == "x"
    assert "hunter2" not in out["stdout"] and "hf_secret" not in out["stdout"]
    assert set(data["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONIOENCODING",
                                "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS", "MPLBACKEND"}


def test_code_input_replaces_the_param(make_ctx) -> None:
    _, out = run(make_ctx, "print('param')", code_input="print('from input')")
    assert out["stdout"] == "from input\n"


def test_timeout_is_a_clear_error_not_a_hang(make_ctx) -> None:
    import time

    started = time.monotonic()
    with pytest.raises(NodeRunError) as err:
        run(make_ctx, "import time\nwhile True:\n    time.sleep(0.01)", timeout_s=1.0)
    assert time.monotonic() - started < 6
    assert "time limit of 1 s" in str(err.value) and err.value.field == "timeout_s"


@pytest.mark.parametrize("own_session", [False, True], ids=["group", "setsid"])
def test_timeout_also_kills_children(make_ctx, tmp_path, own_session: bool, monkeypatch) -> None:
    """Without a jail (the marker is outside the scratch dir); jails are covered in test_containment.py."""
    import time

    monkeypatch.setenv("FLOWSTUDIO_SANDBOX", "none")
    marker = tmp_path / "child_alive"
    child = f"import time; time.sleep(2); open({str(marker)!r}, 'w')"
    code = ("import subprocess, sys, time\n"
            f"subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session={own_session})\n"
            "time.sleep(60)")
    with pytest.raises(NodeRunError, match="time limit"):
        run(make_ctx, code, timeout_s=0.5)
    time.sleep(2.5)
    assert not marker.exists()


def test_memory_limit_is_a_clear_error(make_ctx) -> None:
    with pytest.raises(NodeRunError) as err:
        run(make_ctx, "x = bytearray(2 * 1024**3)\nprint(len(x))", memory_mb=256)
    assert "memory limit of 256 MB" in str(err.value) and err.value.field == "memory_mb"


def test_large_output_is_capped(make_ctx) -> None:
    _, out = run(make_ctx, "for i in range(200000):\n    print('line', i)", max_output_chars=1000)
    assert out["stdout"].startswith("line 0\nline 1\n")
    assert len(out["stdout"]) < 1100 and "[output truncated after 1000 characters]" in out["stdout"]


def test_non_zero_exit_fails_by_default_and_can_be_returned(make_ctx) -> None:
    with pytest.raises(NodeRunError) as err:
        run(make_ctx, "raise ValueError('bad value')")
    assert "exited with status 1: ValueError: bad value" in str(err.value) and err.value.field == "code"
    _, out = run(make_ctx, "import sys\nprint('partial')\nsys.exit(3)", fail_on_error=False)
    assert out["exit_code"] == 3 and out["stdout"] == "partial\n"


def test_without_code_it_only_serves_as_a_tool(make_ctx) -> None:
    _, out = run(make_ctx, "", timeout_s=3, memory_mb=512)
    assert out["stdout"] is None
    assert out["tool"]["config"] == {"timeout_s": 3.0, "memory_mb": 512, "max_output_chars": 20000}


def test_as_an_agent_tool_errors_come_back_as_text() -> None:
    spec = kinds.make_spec("python", "python", "", kinds.PYTHON_PARAMETERS, {"timeout_s": 1})
    assert kinds.call_tool(spec, {"code": "print(6 * 7)"}) == "42"
    with pytest.raises(kinds.ToolError, match="time limit"):
        kinds.call_tool(spec, {"code": "while True: pass"})
    with pytest.raises(kinds.ToolError, match="ZeroDivisionError"):
        kinds.call_tool(spec, {"code": "1/0"})
    with pytest.raises(kinds.ToolError, match="missing required argument 'code'"):
        kinds.call_tool(spec, {"source": "1"})


def _code_flow(tmp_path: Path, marker: Path) -> Path:
    flow = make_flow([("py", "tool.python", {"code": f"open({str(marker)!r}, 'w').write('ran')\nprint('ran')"}),
                      ("out", "io.output", {})], [("py.stdout", "out.value")])
    path = tmp_path / "code.flow.json"
    path.write_text(flow.model_dump_json())
    return path


def _flowstudio(*args: str) -> subprocess.CompletedProcess[str]:
    # no jail: these tests are about consent, and their marker lies outside the snippet's scratch dir
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FLOWSTUDIO_SANDBOX": "none"}
    return subprocess.run([sys.executable, "-m", "flowstudio", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_validating_a_flow_never_runs_its_code(tmp_path) -> None:
    marker = tmp_path / "marker"
    flow = Flow.model_validate_json(_code_flow(tmp_path, marker).read_text())
    assert validate_flow(flow, flow_dir=tmp_path) == []
    proc = _flowstudio("validate", str(tmp_path / "code.flow.json"))
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()


def test_flowstudio_run_refuses_without_consent_and_runs_with_it(tmp_path) -> None:
    marker = tmp_path / "marker"
    path = _code_flow(tmp_path, marker)
    refused = _flowstudio("run", str(path), "--json")
    assert refused.returncode != 0 and not marker.exists()
    assert "'py' (tool.python)" in refused.stderr + refused.stdout and "--allow-code" in refused.stderr + refused.stdout
    allowed = _flowstudio("run", str(path), "--json", "--allow-code", "--no-cache")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["outputs"]["out"] == "ran\n" and marker.exists()


def _gone(pid: int, within_s: float = 3.0) -> bool:
    """Whether `pid` has exited (a zombie counts: it runs nothing) within `within_s` seconds."""
    import time

    deadline = time.monotonic() + within_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


BACKGROUND = {
    "popen": "import subprocess, sys\n"
             "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\nprint(child.pid)",
    "fork": "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(60)\n    os._exit(0)\nprint(pid)",
    "setsid": "import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    time.sleep(60)\n    os._exit(0)\n"
              "print(pid)",
    "setsid-grandchild": "import subprocess, sys\n"
                         "child = subprocess.Popen([sys.executable, '-c', 'import os, subprocess, sys, time\\n"
                         "p = subprocess.Popen([sys.executable, \"-c\", \"import time; time.sleep(60)\"], "
                         "start_new_session=True)\\nprint(p.pid, flush=True)\\ntime.sleep(60)'], "
                         "stdout=subprocess.PIPE, text=True)\nprint(child.stdout.readline().strip(), child.pid)",
}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.parametrize("how", sorted(BACKGROUND))
def test_background_children_die_when_the_snippet_exits_normally(make_ctx, how: str, monkeypatch) -> None:
    """The supervisor's own sweep, without a jail (pids are then this machine's pids)."""
    import signal
    import time

    monkeypatch.setenv("FLOWSTUDIO_SANDBOX", "none")
    started = time.monotonic()
    _, out = run(make_ctx, BACKGROUND[how], timeout_s=20)
    seconds = time.monotonic() - started
    assert out["exit_code"] == 0, out["stderr"]
    pids = [int(p) for p in out["stdout"].split()]  # the background process first, then any in between
    try:
        assert all(_gone(pid) for pid in pids), f"the snippet's background process {pids[0]} ({how}) outlived it"
        assert seconds < 5, "the tool waited for its background child (which held its output pipes)"
    finally:
        for pid in pids:  # leave nothing running when it failed
            if not _gone(pid, 0):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_the_process_group_is_killed_even_when_the_supervisor_is(tmp_path, monkeypatch) -> None:
    import signal

    monkeypatch.setenv("FLOWSTUDIO_SANDBOX", "none")
    from flowstudio.nodes.tools.sandbox import SandboxLimits, run_python

    code = ("import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(child.pid, flush=True)\n"
            f"if os.getppid() != {os.getpid()}:  # the supervisor, never this test\n"
            "    os.kill(os.getppid(), 9)\n"
            "time.sleep(60)")
    result = run_python(code, SandboxLimits(timeout_s=20), scratch=tmp_path / "scratch")
    pid = int(result.stdout.split()[0])
    try:
        assert result.seconds < 5 and _gone(pid), "the snippet's child outlived its killed supervisor"
    finally:
        if not _gone(pid, 0):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

