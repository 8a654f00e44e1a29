"""The run's event stream: typed, JSON-serialisable dataclasses, one per thing that happened.

Listeners get these objects in the thread that called `Engine.run`; the run directory records
them as `events.jsonl` (`event.to_dict()`, one a line). `event_from_dict` reads them back.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    t: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"event": self.kind, **data}


@dataclass
class NodeEvent(Event):
    node: str = ""


@dataclass
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_id: str = ""
    run_dir: str = ""
    flow_name: str = ""
    nodes: list[str] = field(default_factory=list)
    resumed: bool = False


@dataclass
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    run_id: str = ""
    status: str = ""  # succeeded | failed | cancelled
    seconds: float = 0.0


@dataclass
class NodeQueued(NodeEvent):
    kind: ClassVar[str] = "node_queued"
    node_type: str = ""


@dataclass
class NodeStarted(NodeEvent):
    kind: ClassVar[str] = "node_started"
    node_type: str = ""
    device: str = "cpu"
    cuda_visible_devices: str | None = None
    worker_pid: int | None = None  # None: ran in the engine process
    cache_key: str = ""


@dataclass
class NodeProgress(NodeEvent):
    kind: ClassVar[str] = "node_progress"
    step: int = 0
    total: int | None = None
    message: str = ""


@dataclass
class NodeLog(NodeEvent):
    kind: ClassVar[str] = "node_log"
    line: str = ""


@dataclass
class NodeMetric(NodeEvent):
    kind: ClassVar[str] = "node_metric"
    name: str = ""
    value: float = 0.0
    step: int | None = None


@dataclass
class NodeStream(NodeEvent):
    kind: ClassVar[str] = "node_stream"
    text: str = ""


@dataclass
class NodeArtifact(NodeEvent):
    kind: ClassVar[str] = "node_artifact"
    port: str = ""
    artifact_kind: str = ""
    path: str = ""


@dataclass
class NodeFinished(NodeEvent):
    kind: ClassVar[str] = "node_finished"
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)  # JSON (artifacts as tagged dicts)
    metrics: dict[str, float] = field(default_factory=dict)
    cache_key: str = ""


@dataclass
class NodeCached(NodeEvent):
    kind: ClassVar[str] = "node_cached"
    cache_key: str = ""
    source: str = "cache"  # "cache" (the artifact store) or "run" (this run dir, on resume)
    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class NodeFailed(NodeEvent):
    kind: ClassVar[str] = "node_failed"
    error: str = ""
    error_type: str = ""
    hint: str = ""
    field: str | None = None
    log_tail: str = ""
    seconds: float = 0.0


@dataclass
class NodeCancelled(NodeEvent):
    kind: ClassVar[str] = "node_cancelled"
    message: str = ""
    started: bool = True  # False: the run stopped before this node began
    seconds: float = 0.0


@dataclass
class NodeSkipped(NodeEvent):
    kind: ClassVar[str] = "node_skipped"
    reason: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (RunStarted, RunFinished, NodeQueued, NodeStarted, NodeProgress, NodeLog, NodeMetric, NodeStream,
                NodeArtifact, NodeFinished, NodeCached, NodeFailed, NodeCancelled, NodeSkipped)
}

# What a node's own context may send (from a worker or a thread), by the context's "event" name.
CONTEXT_EVENTS: dict[str, type[NodeEvent]] = {
    "progress": NodeProgress, "log": NodeLog, "metric": NodeMetric, "stream": NodeStream,
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of `Event.to_dict` (unknown keys are ignored, so old readers survive new fields)."""
    cls = EVENT_TYPES[data["event"]]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def context_event(data: dict[str, Any]) -> NodeEvent | None:
    """Turn a LocalContext event dict into a typed event (None for unknown kinds)."""
    cls = CONTEXT_EVENTS.get(data.get("event", ""))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names and k != "t"})
