"""The launcher's child processes: start `accelerate launch`, tee its output into the node's log, follow
rank 0's event file, and kill the whole tree when the node ends.

Nothing may outlive the node. `accelerate launch` runs torch's elastic agent, which starts every rank in a
session of its own, so neither the worker's nor the launcher's process group reaches the ranks. Three
things cover every way out:
- the launcher is started with a parent-death signal (SIGKILL when this worker thread goes away, e.g. the
  engine kills the worker on a second Stop), and each rank sets one on itself (`entry.py`);
- while the launcher runs, its process tree is snapshotted (psutil) at every poll;
- `ChildGroup.kill()` (always called when the node ends) terminates every process of the last snapshot,
  then kills what is left after a grace period.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
TAIL_LINES = 40
# looked up before any fork: a child between fork and exec must not load libraries
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (thread) ends; a no-op elsewhere."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class ChildGroup:
    """`accelerate launch` (or any command) whose whole process tree is killed by `kill()`."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.process = subprocess.Popen(
            cmd, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)  # noqa: PLW1509 - only calls prctl
        self._known: dict[int, Any] = {}
        self.snapshot()
        self._tee = threading.Thread(target=self._copy_output, name="flowstudio-accelerate-output", daemon=True)
        self._tee.start()

    def _copy_output(self) -> None:
        """The launcher's and the ranks' output goes on to this process's stdout (the node's log)."""
        assert self.process.stdout is not None
        out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        for raw in iter(self.process.stdout.readline, b""):
            self.tail.append(raw.decode("utf-8", "replace").rstrip("\n"))
            if out is not None:
                with contextlib.suppress(Exception):
                    out.write(raw)
                    out.flush()

    def snapshot(self) -> None:
        """Remember every live process of the tree (so they can be killed even after the launcher died)."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in procs:
            self._known.setdefault(proc.pid, proc)

    def poll(self) -> int | None:
        code = self.process.poll()
        if code is None:
            self.snapshot()
        return code

    def wait_output(self, timeout: float = 5.0) -> None:
        self._tee.join(timeout)

    def alive_pids(self) -> list[int]:
        return [pid for pid, proc in self._known.items() if _running(proc)]

    def kill(self, grace: float = 3.0) -> None:
        """SIGTERM every process of the tree, SIGKILL whatever is still there after `grace` seconds."""
        import psutil

        if self.process.poll() is None:
            self.snapshot()
        procs = [p for p in self._known.values() if _running(p)]
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _gone, alive = psutil.wait_procs(procs, timeout=grace)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        if self.process.stdout is not None:
            self.wait_output(1.0)
            with contextlib.suppress(OSError):
                self.process.stdout.close()


def _running(proc: Any) -> bool:
    import psutil

    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class EventTail:
    """Reads the JSON lines rank 0 appends to `path` and replays them on a RunContext."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def forward(self, ctx: Any) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                with contextlib.suppress(ValueError):
                    replay(json.loads(line), ctx)


def replay(event: dict[str, Any], ctx: Any) -> None:
    kind = event.get("event")
    if kind == "progress":
        ctx.progress(int(event.get("step") or 0), event.get("total"), str(event.get("message") or ""))
    elif kind == "metric":
        ctx.metric(str(event["name"]), float(event["value"]), event.get("step"))
    elif kind == "log":
        ctx.log(str(event.get("line", "")))
    elif kind == "stream":
        ctx.stream(str(event.get("text", "")))


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(num_processes: int, extra_path: list[str]) -> dict[str, str]:
    """This worker's environment for the launcher: its import path (test-only node modules too) and the
    worker's CPU threads shared among the ranks."""
    env = dict(os.environ)
    paths = [p for p in extra_path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + env.get("PYTHONPATH", "").split(os.pathsep)))
    env["PYTHONPATH"] = env["PYTHONPATH"].strip(os.pathsep)
    threads = int(env.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 2) - 1))
    env["OMP_NUM_THREADS"] = str(max(1, threads // num_processes))
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env
