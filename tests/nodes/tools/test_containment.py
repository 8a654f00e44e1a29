"""The python tool's jail, tried the way a hostile flow would: each probe runs in every mode this machine
supports (bubblewrap, user namespaces, none) and asserts what that mode promises (docs/reliability.md)."""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path

import pytest
from flowstudio.nodes.tools import containment
from flowstudio.nodes.tools.sandbox import SandboxLimits, run_python

LIMITS = SandboxLimits(timeout_s=10)
AVAILABLE = [m for m in ("bwrap", "unshare", "none")
             if m == "none" or (m == "bwrap" and containment._detected() == "bwrap")
             or (m == "unshare" and containment._unshare_works())]
JAILED = [m for m in AVAILABLE if m != "none"]


@pytest.fixture(params=AVAILABLE)
def sandbox_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FLOWSTUDIO_SANDBOX", request.param)
    assert containment.mode() == request.param
    return request.param


def py(code: str, limits: SandboxLimits = LIMITS):  # noqa: ANN201
    return run_python(textwrap.dedent(code), limits)


def test_the_best_jail_is_used_by_default() -> None:
    os.environ.pop("FLOWSTUDIO_SANDBOX", None)
    assert containment.mode() == AVAILABLE[0]


def test_a_fork_bomb_is_stopped_and_leaves_nothing(sandbox_mode: str) -> None:
    token = f"flowstudio-bomb-{os.getpid()}-{sandbox_mode}"
    result = py(f"""
        import os
        for _ in range(1000):
            if os.fork() == 0:
                os.execv('/bin/sh', ['sh', '-c', 'sleep 60', {token!r}])
    """)
    assert result.problem(LIMITS) == f"the code started more than {LIMITS.max_processes} processes at once and was stopped"
    assert result.seconds < 8
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and token in _cmdline(p)]
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.parametrize("mode", JAILED)
def test_no_ancestor_environment_is_readable(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's environment (tokens, keys) must not be readable through /proc, however far up one walks."""
    monkeypatch.setenv("FLOWSTUDIO_SANDBOX", mode)
    monkeypatch.setenv("FLOWSTUDIO_PROBE_SECRET", "hunter2-secret")
    result = py("""
        import os
        seen = []
        for name in os.listdir('/proc'):
            if name.isdigit():
                try:
                    seen.append(open('/proc/%s/environ' % name, 'rb').read())
                except OSError:
                    pass
        print(any(b'hunter2-secret' in env for env in seen), len(seen))
    """)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split()[0] == "False"


@pytest.mark.parametrize("mode", JAILED)
def test_the_engine_cannot_be_signalled(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSTUDIO_SANDBOX", mode)
    result = py(f"""
        import os, signal
        try:
            os.kill({os.getpid()}, 0)
            print('reachable')
        except ProcessLookupError:
            print('invisible')
    """)
    assert result.stdout.strip() == "invisible", result.stdout + result.stderr


@pytest.mark.parametrize("mode", JAILED)
def test_no_connection_reaches_a_server_on_this_machine(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSTUDIO_SANDBOX", mode)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        result = py(f"""
            import socket
            try:
                socket.create_connection(('127.0.0.1', {port}), timeout=2)
                print('connected')
            except OSError as err:
                print('refused', type(err).__name__)
        """)
    finally:
        server.close()
    assert result.stdout.startswith("refused"), result.stdout + result.stderr


@pytest.mark.skipif("bwrap" not in AVAILABLE, reason="bubblewrap is not installed (apt install bubblewrap)")
def test_under_bubblewrap_only_the_scratch_dir_is_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack wrote into the artifact cache and poisoned an entry a later run served."""
    monkeypatch.setenv("FLOWSTUDIO_SANDBOX", "bwrap")
    victim = Path(os.environ.get("FLOWSTUDIO_HOME", tmp_path)) / "cache-probe.txt"
    victim.write_text("original")
    outside = Path.home() / f".flowstudio-sandbox-probe-{os.getpid()}"  # outside /tmp, which the jail makes private
    result = py(f"""
        import os
        for target in ({str(victim)!r}, {str(outside)!r}):
            try:
                open(target, 'w').write('poisoned')
                print('wrote', target)
            except OSError as err:
                print('denied', err.strerror)
        open('scratch.txt', 'w').write('fine')
        print('scratch ok')
    """)
    written = outside.exists()
    outside.unlink(missing_ok=True)  # the repository stays clean even when the jail failed
    assert victim.read_text() == "original" and not written
    # the cache is read-only, or hidden when it lies under /tmp (the jail's /tmp is private); home is read-only
    assert "denied Read-only file system" in result.stdout.splitlines()[1], result.stdout
    assert "scratch ok" in result.stdout


def test_background_processes_die_with_the_snippet(sandbox_mode: str) -> None:
    """A child in its own session that would outlive a plain process-group kill."""
    token = f"flowstudio-orphan-{os.getpid()}-{sandbox_mode}"
    result = py(f"""
        import subprocess
        subprocess.Popen(['/bin/sh', '-c', 'sleep 60', {token!r}], start_new_session=True)
        print('started')
    """)
    assert result.exit_code == 0 and result.seconds < 5, result.stderr
    import time

    deadline = time.monotonic() + 3
    while [p for p in os.listdir("/proc") if p.isdigit() and token in _cmdline(p)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in os.listdir("/proc") if p.isdigit() and token in _cmdline(p)] == []
