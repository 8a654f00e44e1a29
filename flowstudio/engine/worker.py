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
        # Until the worker redirects its own output, errors while it starts (a broken environment, a
        # failing import) go to `boot_log`: the log of the node it was started for.
        stderr: Any = subprocess.DEVNULL
        if boot_log:
            os.makedirs(os.path.dirname(boot_log), exist_ok=True)
            stderr = open(boot_log, "ab")  # noqa: SIM115 - closed right after the spawn
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(child.fileno())],
                pass_fds=(child.fileno(),), env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group: Ctrl-C reaches the engine, which stops it cleanly
            )
        finally:
            if boot_log:
                stderr.close()
        child.close()
        self.pid = self.process.pid
        self.conn.send(("init", list(sys.path)))
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(inbox,), name=f"flowstudio-worker-{self.id}-reader",
                                        daemon=True)
        self._thread.start()

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
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
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
                    self.process.wait(timeout)
            if self.is_running():
                self.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(2)
        with contextlib.suppress(OSError):
            self.conn.close()
        self.alive = False

