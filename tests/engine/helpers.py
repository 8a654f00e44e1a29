"""Queries over a run's events and summary, shared by the engine tests."""

from __future__ import annotations

from flowstudio.engine import RunResult
from flowstudio.engine.events import Event


def statuses(result: RunResult) -> dict[str, str]:
    return {node_id: info["status"] for node_id, info in result.summary["nodes"].items()}


def ran(events: list[Event]) -> set[str]:
    """Nodes that were executed (started), from the events."""
    return {e.node for e in events if e.kind == "node_started"}


def cached(events: list[Event]) -> set[str]:
    return {e.node for e in events if e.kind == "node_cached"}


def of_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]
