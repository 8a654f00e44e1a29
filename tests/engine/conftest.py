"""Engine test fixtures: an Engine over the stub nodes with a private cache, and run options."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstudio.engine import ArtifactStore, DeviceInventory, Engine, RunOptions
from tests.stubs import stub_registry


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
