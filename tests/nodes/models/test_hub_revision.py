"""A hub id in the local HF cache is keyed by its revision: a new snapshot of `org/name` re-runs model.load."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstudio.engine import Engine, RunOptions
from flowstudio.engine.cache import ArtifactStore
from flowstudio.engine.devices import DeviceInventory
from flowstudio.engine.fingerprint import hub_fingerprint
from tests.engine.helpers import cached, ran
from tests.stubs import make_flow

REPO = "someone/tiny-model"


def _snapshot(cache: Path, model_dir: Path, revision: str) -> Path:
    """A snapshot as huggingface_hub lays it out: files link to blobs, refs/main names the revision."""
    repo = cache / ("models--" + REPO.replace("/", "--"))
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for src in sorted(model_dir.iterdir()):
        if src.is_file():
            blob = repo / "blobs" / f"{revision[:8]}-{src.name}"
            shutil.copyfile(src, blob)
            (snap / src.name).symlink_to(Path("..", "..", "blobs", blob.name))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snap


@pytest.fixture()
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf" / "hub"
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # workers inherit it
    return cache


@pytest.fixture()
def engine(tmp_path: Path, hub_cache: Path) -> Iterator[Engine]:
    eng = Engine(inventory=DeviceInventory.fake(gpus=0), store=ArtifactStore(tmp_path / "cache"))
    yield eng
    eng.close()


def test_a_new_revision_of_a_cached_hub_model_reruns_model_load(engine: Engine, hub_cache: Path,
                                                                 tiny_llama_dir: Path, tmp_path: Path) -> None:
    flow = make_flow([("model", "model.load", {"source": REPO})], [])
    counter = iter(range(100))

    def run():  # noqa: ANN202
        result = engine.run(flow, flow_dir=tmp_path, options=RunOptions(run_dir=tmp_path / f"run{next(counter)}"))
        assert result.ok, result.summary
        return result

    first_snap = _snapshot(hub_cache, tiny_llama_dir, "a" * 40)
    first = run()
    assert ran(first.events) == {"model"}
    assert Path(first.summary["nodes"]["model"]["outputs"]["model"]["path"]) == first_snap.resolve()
    assert cached(run().events) == {"model"}

    new_snap = _snapshot(hub_cache, tiny_llama_dir, "b" * 40)  # same files, another commit
    second = run()
    assert ran(second.events) == {"model"}, "a new revision must not come from the cache"
    assert Path(second.summary["nodes"]["model"]["outputs"]["model"]["path"]) == new_snap.resolve()
    assert second.summary["nodes"]["model"]["cache_key"] != first.summary["nodes"]["model"]["cache_key"]
    assert cached(run().events) == {"model"}


def test_the_hub_fingerprint_names_the_revision_and_the_blobs(hub_cache: Path, tiny_llama_dir: Path) -> None:
    assert hub_fingerprint(REPO) is None  # not in the cache: keyed by name, and the node fails
    snap = _snapshot(hub_cache, tiny_llama_dir, "c" * 40)
    first = hub_fingerprint(REPO)
    assert first is not None and first["revision"] == "c" * 40 and first["hub"] == REPO
    blob = (snap / "config.json").resolve()
    (snap / "config.json").unlink()
    (snap / "config.json").symlink_to(blob.with_name("other-config.json"))  # a re-download into the same commit
    shutil.copyfile(blob, blob.with_name("other-config.json"))
    second = hub_fingerprint(REPO)
    assert second is not None and second["revision"] == first["revision"] and second["files"] != first["files"]
