"""A model kept loaded in a child process: `flowstudio serve --model NAME=SOURCE` on 127.0.0.1.

The GUI process never imports torch; the playground talks to this server over HTTP (SSE streams), the
same OpenAI-compatible endpoint `flowstudio serve` gives every other client. Each server binds a free
port (`--port 0`) and requires a random API key (passed in its environment, which other users cannot
read, rather than on its command line), so other local programs cannot use it.
It prints `... listening on URL` once the model is loaded, and `... NAME ready (S s)` for each load —
`loads` counts those lines, so a test (or the status line) can tell the model was loaded once.
On Linux the child asks the kernel to end it when the app dies (PR_SET_PDEATHSIG), so a crashed app
leaves no server behind.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from .sources import is_flow_source

READY = re.compile(r"flowstudio serve: listening on (http://\S+)")
LOADED = re.compile(r"flowstudio serve: (\S+) ready \(([\d.]+) s\)")
SERVED_NAME = "model"
MAX_LINES = 400

# `python -c BOOT serve ...`: end with the app (Linux), then run the CLI as `python -m flowstudio` would.
BOOT = """\
import os, sys
if sys.platform.startswith("linux"):
    import ctypes, signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if str(os.getppid()) != os.environ.get("FLOWSTUDIO_PARENT_PID", str(os.getppid())):
        sys.exit(0)  # the app is already gone
from flowstudio.cli import main
sys.exit(main(sys.argv[1:]))
"""


class ModelServer(QObject):
    """One served model. `state`: "starting" → "ready" (→ "stopped"), or "failed"."""

    ready = Signal(str)  # the base URL, http://127.0.0.1:PORT/v1
    failed = Signal(str)  # why (the server's last output lines)
    stateChanged = Signal(str)  # noqa: N815 - Qt's style

    def __init__(self, source: str, parent: QObject | None = None, device: str = "auto",
                 max_tokens: int = 512, cwd: Path | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.device = device
        self.max_tokens = max_tokens
        self.cwd = cwd
        self.api_key = secrets.token_hex(24)
        self.url = ""
        self.state = "stopped"
        self.loads = 0  # how many times the model was loaded (once per process)
        self.load_seconds: float | None = None
        self.starts = 0  # how many processes were started for this source
        self.lines: deque[str] = deque(maxlen=MAX_LINES)
        self.process: QProcess | None = None
        self._partial = ""

    @property
    def pid(self) -> int:
        return int(self.process.processId()) if self.process is not None else 0

    def arguments(self) -> list[str]:
        return ["-c", BOOT, "serve", "--host", "127.0.0.1", "--port", "0",
                "--device", self.device, "--max-tokens", str(self.max_tokens),
                "--flow" if is_flow_source(self.source) else "--model", f"{SERVED_NAME}={self.source}"]

    def start(self) -> None:
        """Start the server unless it is starting or ready."""
        if self.state in ("starting", "ready"):
            return
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("FLOWSTUDIO_PARENT_PID", str(os.getpid()))
        env.insert("FLOWSTUDIO_API_KEY", self.api_key)  # not on the command line, which `ps` shows to all
        process.setProcessEnvironment(env)
        if self.cwd is not None and self.cwd.is_dir():
            process.setWorkingDirectory(str(self.cwd))
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self.process = process
        self.url, self.loads, self._partial = "", 0, ""
        self.starts += 1
        self._set_state("starting")
        process.start(sys.executable, self.arguments())

    def stop(self, wait_ms: int = 5000) -> None:
        process = self.process
        if process is None:
            return
        self._set_state("stopped")  # before it ends: its exit is not a failure
        if process.state() != QProcess.ProcessState.NotRunning:
            process.terminate()
            if not process.waitForFinished(wait_ms):
                process.kill()
                process.waitForFinished(3000)
        self.url = ""

    def output(self, last: int = 12) -> str:
        return "\n".join(list(self.lines)[-last:])

    # -- the process

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)

    def _read(self) -> None:
        if self.process is None:
            return
        text = self._partial + bytes(self.process.readAllStandardOutput().data()).decode("utf-8", errors="replace")
        *lines, self._partial = text.replace("\r", "\n").split("\n")
        for line in lines:
            if not line.strip():
                continue
            self.lines.append(line)
            loaded = LOADED.search(line)
            if loaded:
                self.loads += 1
                self.load_seconds = float(loaded.group(2))
            found = READY.search(line)
            if found and self.state == "starting":
                self.url = found.group(1)
                self._set_state("ready")
                self.ready.emit(self.url)

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._read()
        if self.state == "starting":
            self._set_state("failed")
            self.failed.emit(f"the model server exited (status {code}) before the model was loaded:\n"
                             + self.output())
        elif self.state == "ready":
            self._set_state("failed")
            self.failed.emit(f"the model server exited (status {code}):\n" + self.output())
        self.url = ""

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.state == "starting":
            self._set_state("failed")
            self.failed.emit(f"could not start {sys.executable}: {self.process.errorString() if self.process else ''}")


class ServerPool(QObject):
    """The playground's servers, one per model source, shared by its panes."""

    def __init__(self, parent: QObject | None = None, device: str = "auto") -> None:
        super().__init__(parent)
        self.device = device
        self.servers: dict[str, ModelServer] = {}

    def server(self, source: str, cwd: Path | None = None) -> ModelServer:
        """The server for `source`, started if it is not running."""
        server = self.servers.get(source)
        if server is None:
            server = ModelServer(source, self, device=self.device, cwd=cwd)
            self.servers[source] = server
        server.start()
        return server

    def unload(self, source: str) -> None:
        server = self.servers.pop(source, None)
        if server is not None:
            server.stop()
            server.deleteLater()

    def shutdown(self) -> None:
        for source in list(self.servers):
            self.unload(source)
