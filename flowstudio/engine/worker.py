"""Worker processes: spawned (never forked) Python processes that run one node at a time and stay
alive between nodes and runs, so models loaded with `flowstudio.core.warm` stay warm.

Engine -> worker messages: ("run", task), ("cancel", node_id), ("exit",).
Worker -> engine: ("ready", pid), ("event", node_id, event_dict), ("result", node_id, result_dict).
A worker whose pipe closes (the engine died) exits at once. While a node runs, the worker's
stdout and stderr (file descriptors 1 and 2, so C libraries' output too) go to the node's log.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Callable
from itertools import count
from typing import Any

_IDS = count(1)
_BOOT = ("import sys; from multiprocessing.connection import Connection; "
         "from flowstudio.engine.worker import worker_main; worker_main(Connection(int(sys.argv[1])))")


# ----------------------------------------------------------------------------------------- child side


def _redirect(path: str | None) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    target = os.open(path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


def _exit_now(code: int) -> None:
    """End the worker without tearing the interpreter down: the at-exit hooks run (temporary
    directories, libraries' own clean-up) and the output is flushed, but the module-by-module teardown
    is skipped. With torch, transformers and TRL imported, that teardown takes ~2 s of CPU and does
    nothing a process exit does not do anyway."""
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def worker_main(conn: Any) -> None:
    """Entry point of a worker process: `python -m flowstudio.engine.worker FD` (FD: its end of a socket pair)."""
    _redirect(None)  # nothing a node prints may reach the caller's stdout (it may be JSON)
    init = conn.recv()  # ("init", sys_path): the engine's import path, so test-only node modules import
    parent_path = [p for p in init[1] if isinstance(p, str)]
    sys.path[:] = parent_path + [p for p in sys.path if p not in parent_path]
    from flowstudio.engine.execute import execute_node

    send_lock = threading.Lock()
    tasks: queue.Queue[Any] = queue.Queue()
    cancel = threading.Event()
    current: list[str | None] = [None]

    def send(msg: Any) -> None:
        with send_lock:
            conn.send(msg)

    def reader() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                os._exit(1)  # the engine is gone: nothing will read our results
            if msg[0] == "run":
                cancel.clear()
                current[0] = msg[1]["node_id"]
                tasks.put(msg)
            elif msg[0] == "cancel":
                if msg[1] == current[0]:
                    cancel.set()
            elif msg[0] == "exit":
                tasks.put(msg)
                return

    threading.Thread(target=reader, name="flowstudio-worker-reader", daemon=True).start()
    send(("ready", os.getpid()))
    while True:
        msg = tasks.get()
        if msg[0] == "exit":
            break
        task = msg[1]
        node_id = task["node_id"]
        sys.path.extend(p for p in task.get("sys_path", ()) if p not in sys.path)  # added since we started
        _redirect(task["log_path"])
        try:
            result = execute_node(task, lambda event, n=node_id: send(("event", n, event)), cancel)
        finally:
            _redirect(None)
        current[0] = None
        send(("result", node_id, result))
    conn.close()
    _exit_now(0)


# ---------------------------------------------------------------------------------------- engine side


def wait_exit(process: subprocess.Popen[bytes], timeout: float) -> int:
    """`process.wait(timeout)` that returns as soon as the process has exited. Popen's own wait with a
    timeout polls with sleeps of up to 50 ms; on Linux a pidfd tells the moment (elsewhere: Popen's)."""
    if process.poll() is not None:
        return process.returncode
    try:
        fd = os.pidfd_open(process.pid)  # type: ignore[attr-defined]
    except (AttributeError, OSError):  # not Linux >= 5.3, or reaped meanwhile
        return process.wait(timeout)
    try:
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(process.args, timeout)
    return process.wait()  # it has exited: this only reaps it


class WorkerHandle:
    """The engine's end of one worker process. Messages from it land in `inbox` as (handle, msg);
    when the process dies, ("died", exitcode) arrives."""

    def __init__(self, env: dict[str, str], inbox: Callable[[Any], None], devices: str | None,
                 boot_log: str | None = None) -> None:
        self.id = next(_IDS)
        self.devices = devices  # CUDA_VISIBLE_DEVICES of this worker ("" = CPU only)
        self.node: str | None = None  # the node it is running, None when idle
        self.last_used = 0.0
        self.node_types: set[str] = set()  # what it ran: a later node of the same type finds its warm objects
        self.pid: int | None = None
        self.alive = True
        parent, child = multiprocessing.Pipe(duplex=True)  # a socket pair on POSIX
        self.conn = parent
        full_env = dict(os.environ)
        full_env.update(env)
        # Until the worker redirects its own output, what it prints while it starts (a broken environment, a
        # failing import) comes through a pipe and goes to `boot_log`: the log of the first node it is
        # given (named now, or later by `claim_boot_log` for a worker started ahead of its node).
        self.boot_log: str | None = None
        self._boot_lock = threading.Lock()
        self._boot_output: bytes | None = None  # None while the pipe is open; then what came through it
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(child.fileno())],
            pass_fds=(child.fileno(),), env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: Ctrl-C reaches the engine, which stops it cleanly
        )
        child.close()
        self.pid = self.process.pid
        self._boot_thread = threading.Thread(target=self._read_boot_output, daemon=True,
                                             name=f"flowstudio-worker-{self.id}-boot")
        self._boot_thread.start()
        if boot_log:
            self.claim_boot_log(boot_log)
        self.conn.send(("init", list(sys.path)))
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(inbox,), name=f"flowstudio-worker-{self.id}-reader",
                                        daemon=True)
        self._thread.start()

    def _read_boot_output(self) -> None:
        """Take what the worker prints before it redirects its output (the pipe closes then, or when it dies)."""
        stream = self.process.stderr
        data = b""
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                data = stream.read()
            with contextlib.suppress(OSError):
                stream.close()
        with self._boot_lock:
            self._boot_output = data
            if self.boot_log:
                self._write_boot_output()

    def claim_boot_log(self, path: str) -> None:
        """Make `path` (a node's log) the place of the worker's start-up output, unless one was named before."""
        with self._boot_lock:
            if self.boot_log:
                return
            self.boot_log = path
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "ab"):
                pass
            if self._boot_output is not None:
                self._write_boot_output()

    def _write_boot_output(self) -> None:
        if self._boot_output and self.boot_log:
            with contextlib.suppress(OSError), open(self.boot_log, "ab") as fh:
                fh.write(self._boot_output)
        self._boot_output = b""

    def _read(self, inbox: Callable[[Any], None]) -> None:
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # an unpicklable message: report it as a death with a reason
                inbox((self, ("garbled", f"{type(exc).__name__}: {exc}")))
                continue
            inbox((self, msg))
        try:
            code = wait_exit(self.process, 5)
        except subprocess.TimeoutExpired:
            code = None
        self._boot_thread.join(timeout=2)  # what it printed while starting is in the node's log before "died"
        self.alive = False
        inbox((self, ("died", code)))

    def send(self, msg: Any) -> bool:
        try:
            with self._send_lock:
                self.conn.send(msg)
            return True
        except (OSError, ValueError, BrokenPipeError):
            return False

    def run(self, task: dict[str, Any]) -> bool:
        self.node = task["node_id"]
        self.node_types.add(task["node_type"])
        return self.send(("run", task))

    def cancel(self) -> None:
        if self.node is not None:
            self.send(("cancel", self.node))

    def is_running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Kill the worker and whatever it started (it leads its own process group)."""
        if self.is_running():
            if hasattr(os, "killpg") and self.pid:
                try:
                    os.killpg(self.pid, 9)
                    return
                except OSError:
                    pass
            self.process.kill()

    def close(self, timeout: float = 3.0) -> None:
        """Ask the worker to exit; kill it when it does not within `timeout` seconds."""
        self.ask_exit()
        self.finish_close(timeout)

    def ask_exit(self) -> None:
        """The first half of `close`: an idle worker is asked to exit (so several can exit at once)."""
        if self.node is None and self.is_running():
            self.send(("exit",))

    def finish_close(self, timeout: float = 3.0) -> None:
        """The second half of `close`: wait up to `timeout` seconds for an idle worker to exit, then kill
        it (a busy worker at once) and wait for it to go."""
        if self.is_running():
            if self.node is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    wait_exit(self.process, timeout)
            if self.is_running():
                self.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    wait_exit(self.process, 2)
        with contextlib.suppress(OSError):
            self.conn.close()
        self.alive = False

