"""The RunContext a node sees. Events go to one callback; the engine decides where they travel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EventSink = Callable[[dict[str, Any]], None]


@dataclass
class LocalContext:
    """A RunContext that reports each event as a dict to `sink` (in-process, or piped from a worker).

    Events: {"event": "progress", "step", "total", "message"}, {"event": "log", "line"},
    {"event": "metric", "name", "value", "step"}, {"event": "stream", "text"}.
    """

    node_id: str
    work_dir: Path
    checkpoint_dir: Path
    flow_dir: Path = field(default_factory=Path.cwd)
    device: str = "cpu"
    seed: int | None = None
    sink: EventSink = field(default=lambda event: None)
    cancel_event: threading.Event | Any = field(default_factory=threading.Event)
    metrics: dict[str, float] = field(default_factory=dict)
    # temporary files of this run of the node (e.g. what `datasets` writes while transforming an input);
    # not created here; `execute_node` removes it when the node ends. Default: beside work_dir.
    scratch_dir: Path | None = None

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)
        self.checkpoint_dir = Path(self.checkpoint_dir)
        self.scratch_dir = Path(self.scratch_dir) if self.scratch_dir is not None else self.work_dir.parent / "scratch"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)

    def progress(self, step: int, total: int | None = None, message: str = "") -> None:
        self.sink({"event": "progress", "node": self.node_id, "step": step, "total": total, "message": message})

    def log(self, line: str) -> None:
        self.sink({"event": "log", "node": self.node_id, "line": line})

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        self.metrics[name] = float(value)
        self.sink({"event": "metric", "node": self.node_id, "name": name, "value": float(value), "step": step})

    def stream(self, text: str) -> None:
        self.sink({"event": "stream", "node": self.node_id, "text": text})

    def cancelled(self) -> bool:
        return bool(self.cancel_event.is_set())
