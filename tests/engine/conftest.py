"""Engine test helpers: an Engine over the stub nodes with a private cache, and event queries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstudio.engine import ArtifactStore, DeviceInventory, Engine, RunOptions, RunResult
from flowstudio.engine.events import Event
from tests.stubs import stub_registry


def statuses(result: RunResult) -> dict[str, str]:
    return {node_id: info["status"] for node_id, info in result.summary["nodes"].items()}


def ran(events: list[Event]) -> set[str]:
    """Nodes that were executed (started), from the events."""
    return {e.node for e in events if e.kind == "node_started"}


def cached(events: list[Event]) -> set[str]:
    return {e.node for e in events if e.kind == "node_cached"}


def of_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "cache")


@pytest.fixture
def engine(store: ArtifactStore) -> Iterator[Engine]:
    eng = Engine(registry=stub_registry(), inventory=DeviceInventory.fake(gpus=0), store=store)
    yield eng
    eng.close()


@pytest.fixture
def run_opts(tmp_path: Path):  # noqa: ANN201 - a small factory
    counter = iter(range(1000))

    def make(**kwargs: object) -> RunOptions:
        kwargs.setdefault("run_dir", tmp_path / f"run{next(counter)}")
        return RunOptions(**kwargs)  # type: ignore[arg-type]

    return make
