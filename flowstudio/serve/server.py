"""Running the app with uvicorn: in the foreground (`flowstudio serve`) or in a thread (tests, benchmarks).

The socket is bound before uvicorn starts, so port 0 picks a free port and the real address is known.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

READY_PREFIX = "flowstudio serve: listening on "


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def _server(app: Any, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve_forever(app: Any, sock: socket.socket, log_level: str = "warning") -> None:
    _server(app, log_level).run(sockets=[sock])


@dataclass
class RunningServer:
    server: Any
    thread: threading.Thread
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> RunningServer:
    sock = bind(host, port)
    server = _server(app, "warning")
    server.install_signal_handlers = lambda: None  # noqa: not the main thread (older uvicorn)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="serve-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    return RunningServer(server, thread, base_url(sock))
