"""Run a Python snippet in a separate process with limits: wall time, memory, output size, a scratch dir.

The child gets a minimal environment (no secrets inherited from ours), runs in its own session, and its
limits are set before the snippet's interpreter starts: a tiny supervisor calls `setrlimit`, makes itself
a child subreaper (Linux), forks `python -I snippet.py` and waits for it, so tracebacks stay clean and no
`preexec_fn` runs in a threaded parent. When the snippet exits (or on SIGTERM, at a timeout) the
supervisor kills and reaps everything it left behind, including processes that called `setsid()` (as
orphans they were reparented to the supervisor), then exits with the snippet's status. The session's
process group is killed afterwards too (a backstop, and all there is on macOS). A watchdog in the
supervisor stops the snippet when it has more than `max_processes` processes (a fork bomb). The whole
thing runs inside the strongest jail the machine offers (`containment`: bubblewrap's read-only file
system and private namespaces, or user namespaces, or nothing); docs/reliability.md says what holds where.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import containment

MB = 1024 * 1024
TOO_MANY_PROCESSES = 125  # the supervisor's exit status when its process-count watchdog fired

_BOOTSTRAP = """\
import os, resource, signal, sys, time
mem, cpu, fsize, max_procs = (int(v) for v in sys.argv[1:5])
for limit, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, fsize),
                     (resource.RLIMIT_CORE, 0)):
    if value >= 0:
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass
try:  # orphans of the snippet's processes become ours, so none escapes the sweep below
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
me = str(os.getpid()).encode()

def children():
    found = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if name.isdigit():
            try:
                with open("/proc/" + name + "/stat", "rb") as fh:
                    if fh.read().rsplit(b")", 1)[1].split()[1] == me:
                        found.append(int(name))
            except (OSError, IndexError):
                pass
    return found

def descendants():  # every process below us, from /proc's parent links
    parents = {}
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if name.isdigit():
            try:
                with open("/proc/" + name + "/stat", "rb") as fh:
                    parents[int(name)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found

def sweep(find=children):  # kill what `find` lists until nothing is left below us (or 5 s pass)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for pid in find():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.005)

def stop(signum, frame):
    sweep()
    os.kill(os.getpid(), signal.SIGKILL)

signal.signal(signal.SIGTERM, stop)
os.environ.pop("PWD", None)  # set by bubblewrap's --chdir; the snippet gets exactly minimal_env()
snippet = os.fork()
if snippet == 0:
    os.execv(sys.executable, [sys.executable, "-I", "-X", "utf8", "-u", "snippet.py"])
status = None
while status is None:  # a watchdog on the number of processes: a fork bomb is stopped within ~50 ms
    pid, got = os.waitpid(snippet, os.WNOHANG)
    if pid:
        status = got
        break
    if max_procs > 0 and len(descendants()) > max_procs:
        sweep(descendants)
        sys.stderr.write("flowstudio: the code started more than %d processes and was stopped\\n" % max_procs)
        sys.stderr.flush()
        status = os.waitpid(snippet, 0)[1] if os.path.exists("/proc/%d" % snippet) else 9
        os._exit(125)
    time.sleep(0.05)
sweep()
if os.WIFSIGNALED(status):  # die of the same signal, so the parent sees what killed the snippet
    sig = os.WTERMSIG(status)
    for each in {signal.SIGTERM, sig} - {signal.SIGKILL, signal.SIGSTOP}:
        signal.signal(each, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)
os._exit(os.waitstatus_to_exitcode(status))
"""

_SAFE_ENV_KEYS = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_output_chars: int = 20_000
    max_file_mb: int = 100
    max_processes: int = 32  # the snippet and everything it starts, at once


@dataclass(frozen=True)
class SandboxResult:
    stdout: str
    stderr: str
    exit_code: int
    seconds: float
    timed_out: bool = False
    out_of_memory: bool = False
    truncated: bool = False
    signal: int | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.out_of_memory

    def problem(self, limits: SandboxLimits) -> str | None:
        """A one-line explanation when the snippet did not finish normally."""
        if self.timed_out:
            return f"the code ran longer than the time limit of {limits.timeout_s:g} s and was stopped"
        if self.exit_code == TOO_MANY_PROCESSES:
            return f"the code started more than {limits.max_processes} processes at once and was stopped"
        if self.out_of_memory:
            return f"the code used more than the memory limit of {limits.memory_mb} MB and was stopped"
        if self.signal is not None:
            name = signal.Signals(self.signal).name if self.signal in signal.Signals._value2member_map_ else self.signal
            return f"the code was killed by signal {name}"
        if self.exit_code != 0:
            last = self.stderr.strip().splitlines()[-1:] or ["(no error output)"]
            return f"the code exited with status {self.exit_code}: {last[0]}"
        return None


def minimal_env(scratch: Path) -> dict[str, str]:
    """An environment with nothing from ours but locale settings: no tokens, keys or proxies."""
    env = {key: os.environ[key] for key in _SAFE_ENV_KEYS if key in os.environ}
    env.update({
        "PATH": os.pathsep.join(p for p in ("/usr/local/bin", "/usr/bin", "/bin") if os.path.isdir(p)),
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    })
    env.setdefault("LANG", "C.UTF-8")
    return env


class _Capped:
    """Reads a pipe to the end, keeping at most `limit` characters (the rest is counted and dropped)."""

    def __init__(self, stream: object, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.chunks: list[bytes] = []
        self.kept = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        read = self.stream.read1 if hasattr(self.stream, "read1") else self.stream.read  # type: ignore[attr-defined]
        byte_limit = self.limit * 4  # utf-8: at most 4 bytes a character
        while True:
            chunk = read(65536)
            if not chunk:
                break
            room = byte_limit - self.kept
            if room > 0:
                self.chunks.append(chunk[:room])
                self.kept += min(room, len(chunk))
            self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> tuple[str, bool]:
        self.thread.join(timeout=5)
        text = b"".join(self.chunks).decode("utf-8", errors="replace")
        truncated = self.dropped > 0 or len(text) > self.limit
        if truncated:
            text = text[: self.limit] + f"\n... [output truncated after {self.limit} characters]"
        return text, truncated


class SandboxUnavailable(RuntimeError):
    """This platform cannot enforce the limits (no `resource` module or process groups)."""


def run_python(code: str, limits: SandboxLimits, *, stdin: str = "", scratch: Path | None = None) -> SandboxResult:
    """Run `code` as a script in `scratch` (a fresh temporary directory when None, removed afterwards)."""
    if os.name != "posix":
        raise SandboxUnavailable("the Python tool needs Linux or macOS: its time and memory limits use POSIX "
                                 "process groups and setrlimit")
    if scratch is None:
        with tempfile.TemporaryDirectory(prefix="flowstudio-py-") as tmp:
            return _run(code, limits, stdin, Path(tmp))
    scratch.mkdir(parents=True, exist_ok=True)
    return _run(code, limits, stdin, scratch)


def _run(code: str, limits: SandboxLimits, stdin: str, scratch: Path) -> SandboxResult:
    (scratch / "snippet.py").write_text(code, encoding="utf-8")
    # A backstop behind the wall-time limit; threads add CPU time in parallel, so allow every core.
    cpu = int(limits.timeout_s * (os.cpu_count() or 1)) + 2
    args = containment.wrap([sys.executable, "-I", "-S", "-c", _BOOTSTRAP, str(limits.memory_mb * MB), str(cpu),
                             str(limits.max_file_mb * MB), str(limits.max_processes)], scratch)
    started = time.monotonic()
    proc = subprocess.Popen(args, cwd=scratch, env=minimal_env(scratch), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            close_fds=True)
    out, err = _Capped(proc.stdout, limits.max_output_chars), _Capped(proc.stderr, limits.max_output_chars)
    threading.Thread(target=_feed, args=(proc, stdin), daemon=True).start()
    timed_out = False
    try:
        proc.wait(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGTERM)  # the supervisor kills the snippet and all it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
        _kill_group(proc)
        proc.wait()
    finally:
        _kill_group(proc)  # a backstop: anything left running in the session (the supervisor swept already)
    seconds = time.monotonic() - started
    stdout, cut_out = out.text()
    stderr, cut_err = err.text()
    code_ = proc.returncode
    if containment.mode() != "none" and code_ > 128 and code_ != TOO_MANY_PROCESSES:
        code_ = -(code_ - 128)  # the jail reports a child killed by signal N as 128 + N
    sig = -code_ if code_ < 0 else None
    if sig == signal.SIGXCPU:
        timed_out = True
    oom = not timed_out and _looks_out_of_memory(stderr, code_)
    return SandboxResult(stdout, stderr, code_, seconds, timed_out, oom, cut_out or cut_err,
                         None if timed_out else sig)


def _feed(proc: subprocess.Popen[bytes], stdin: str) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write(stdin.encode("utf-8"))
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _looks_out_of_memory(stderr: str, exit_code: int) -> bool:
    if exit_code == 0:
        return False
    tail = stderr.strip().splitlines()[-3:]
    return any(line.startswith("MemoryError") or "Cannot allocate memory" in line
               or "std::bad_alloc" in line for line in tail) or exit_code == -signal.SIGKILL and not stderr
