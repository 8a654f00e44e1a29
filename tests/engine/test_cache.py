"""Which nodes run and which come from the cache, asserted from the events."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from flowstudio.core.node import ModelSourceField, Node, NodeParams, Port, Ports
from flowstudio.core.ports import Text
from flowstudio.core.registry import NodeRegistry
from flowstudio.engine import ArtifactStore, DeviceInventory, Engine, fingerprint
from flowstudio.engine.fingerprint import fingerprint_path
from tests.engine.helpers import cached, ran, statuses
from tests.stubs import STUB_TYPES, make_flow

NODES = ["c1", "c2", "add", "echo", "m", "t"]


class Load(Node):
    """Names its model source (a built-in, a local model directory) without reading it."""

    type = "test.load"

    class Outputs(Ports):
        name = Port(Text)

    class Params(NodeParams):
        source: str = ModelSourceField("builtin:tiny")

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"name": params.source}


def chain_flow(bias: float = 0.0, steps: int = 2):
    # c1, c2 -> add -> echo ;  m -> t   (m and t run in worker processes)
    return make_flow(
        [("c1", "stub.const", {"value": 1}), ("c2", "stub.const", {"value": 2}),
         ("add", "stub.add", {"bias": bias}), ("echo", "stub.echo", {}),
         ("m", "stub.model", {"size": 2}), ("t", "stub.train", {"steps": steps})],
        [("c1.value", "add.a"), ("c2.value", "add.b"), ("add.value", "echo.value"), ("m.model", "t.model")],
    )


def test_first_run_runs_everything_then_unchanged_rerun_runs_nothing(engine: Engine, run_opts) -> None:
    first = engine.run(chain_flow(), options=run_opts())
    assert first.ok, first.summary
    assert ran(first.events) == set(NODES) and cached(first.events) == set()
    assert first.summary["nodes"]["echo"]["outputs"] == {"text": "3.0"}

    again = engine.run(chain_flow(), options=run_opts())
    assert again.ok
    assert ran(again.events) == set()
    assert cached(again.events) == set(NODES)
    assert set(statuses(again).values()) == {"cached"}
    assert again.summary["nodes"]["echo"]["outputs"] == {"text": "3.0"}


def test_changing_an_upstream_param_reruns_it_and_its_downstream_only(engine: Engine, run_opts) -> None:
    engine.run(chain_flow(), options=run_opts())
    changed = engine.run(chain_flow(bias=10.0), options=run_opts())
    assert ran(changed.events) == {"add", "echo"}
    assert cached(changed.events) == {"c1", "c2", "m", "t"}
    assert changed.summary["nodes"]["echo"]["outputs"] == {"text": "13.0"}


def test_changing_a_downstream_param_reruns_that_node_only(engine: Engine, run_opts) -> None:
    engine.run(chain_flow(), options=run_opts())
    changed = engine.run(chain_flow(steps=3), options=run_opts())
    assert ran(changed.events) == {"t"}
    assert cached(changed.events) == {"c1", "c2", "add", "echo", "m"}
    assert changed.summary["nodes"]["t"]["outputs"]["model"]["meta"]["steps"] == 3


def test_no_cache_runs_everything(engine: Engine, run_opts) -> None:
    engine.run(chain_flow(), options=run_opts())
    forced = engine.run(chain_flow(), options=run_opts(use_cache=False))
    assert ran(forced.events) == set(NODES) and cached(forced.events) == set()
    # --no-cache still refreshes the store: the next plain run is all cached
    assert cached(engine.run(chain_flow(), options=run_opts()).events) == set(NODES)


def test_not_cacheable_nodes_always_run_and_their_value_keys_downstream(engine: Engine, run_opts) -> None:
    flow = make_flow([("r", "stub.random", {}), ("e", "stub.echo", {})], [("r.value", "e.value")])
    first = engine.run(flow, options=run_opts())
    second = engine.run(flow, options=run_opts())
    assert "r" in ran(first.events) and "r" in ran(second.events)
    # echo is cached only when the random value happened to repeat
    same = first.summary["nodes"]["r"]["outputs"] == second.summary["nodes"]["r"]["outputs"]
    assert ("e" in cached(second.events)) == same


def test_an_edited_input_file_reruns_the_node_that_reads_it(engine: Engine, run_opts, tmp_path: Path) -> None:
    data = tmp_path / "flowdir" / "data.txt"
    data.parent.mkdir()
    data.write_text("one")
    flow = make_flow([("m", "stub.model", {"path": "data.txt"})], [])
    assert ran(engine.run(flow, flow_dir=data.parent, options=run_opts()).events) == {"m"}
    assert cached(engine.run(flow, flow_dir=data.parent, options=run_opts()).events) == {"m"}
    data.write_text("two")
    assert ran(engine.run(flow, flow_dir=data.parent, options=run_opts()).events) == {"m"}


def test_cached_artifacts_survive_deleting_the_run_dir(engine: Engine, run_opts) -> None:
    first = engine.run(chain_flow(), options=run_opts())
    model_path = Path(first.summary["nodes"]["t"]["outputs"]["model"]["path"])
    assert model_path.is_dir() and not str(model_path).startswith(str(first.run_dir))
    shutil.rmtree(first.run_dir)
    again = engine.run(chain_flow(), options=run_opts())
    assert cached(again.events) == set(NODES)
    path = Path(again.summary["nodes"]["t"]["outputs"]["model"]["path"])
    assert json.loads((path / "trained.json").read_text())["step"] == 2


def test_a_second_engine_on_the_same_store_finds_the_results(store: ArtifactStore, run_opts) -> None:
    from flowstudio.engine import DeviceInventory
    from tests.stubs import stub_registry

    with Engine(stub_registry(), DeviceInventory.fake(), store) as one:
        one.run(chain_flow(), options=run_opts(workers=False))
    with Engine(stub_registry(), DeviceInventory.fake(), store) as two:
        assert cached(two.run(chain_flow(), options=run_opts(workers=False)).events) == set(NODES)


def test_cache_info_and_clear(engine: Engine, store: ArtifactStore, run_opts) -> None:
    engine.run(chain_flow(), options=run_opts())
    info = store.info()
    assert info["entries"] == len(NODES)
    assert info["by_type"]["stub.model"]["bytes"] > 0
    assert store.clear() > 0
    assert store.info()["entries"] == 0
    assert ran(engine.run(chain_flow(), options=run_opts()).events) == set(NODES)


def test_a_local_model_source_is_fingerprinted(store, run_opts, tmp_path: Path) -> None:
    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "config.json").write_text("{}")
    local = make_flow([("l", "test.load", {"source": "my-model"})], [])
    builtin = make_flow([("l", "test.load", {})], [])
    with Engine(NodeRegistry([Load]), DeviceInventory.fake(), store) as engine:
        def run(flow) -> set[str]:  # noqa: ANN001
            return ran(engine.run(flow, flow_dir=tmp_path, options=run_opts()).events)

        assert run(local) == {"l"} and run(local) == set()
        (tmp_path / "my-model" / "config.json").write_text('{"hidden": 64}')
        assert run(local) == {"l"}  # the model changed on disk
        assert run(builtin) == {"l"} and run(builtin) == set()


def _rewrite_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    """What `cp -p`, `rsync -a` or `tar x` do to a file: new bytes, same size, the old mtime restored."""
    before = path.stat()
    assert len(data) == before.st_size
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.mark.parametrize("racy_seconds", [fingerprint.RACY_SECONDS, 0.0], ids=["fresh", "memoised"])
def test_new_bytes_with_the_same_size_and_mtime_rerun_the_node(store, run_opts, tmp_path: Path, monkeypatch,
                                                                racy_seconds: float) -> None:
    # "memoised": the files count as settled at once, so the content-hash memo is in play too
    monkeypatch.setattr(fingerprint, "RACY_SECONDS", racy_seconds)
    monkeypatch.setenv("FLOWSTUDIO_HOME", str(tmp_path / "home"))
    data = tmp_path / "data.bin"  # over 4 MiB, the size the old fingerprint stopped hashing at
    data.write_bytes(b"a" * (5 * 2**20))
    weights = tmp_path / "my-model" / "model.safetensors"
    weights.parent.mkdir()
    (weights.parent / "config.json").write_text("{}")
    weights.write_bytes(b"w" * 1000)
    file_flow = make_flow([("m", "stub.model", {"path": str(data)})], [])
    dir_flow = make_flow([("l", "test.load", {"source": "my-model"})], [])
    with Engine(NodeRegistry([*STUB_TYPES, Load]), DeviceInventory.fake(), store) as engine:
        def run(flow) -> set[str]:  # noqa: ANN001
            return ran(engine.run(flow, flow_dir=tmp_path, options=run_opts()).events)

        assert run(file_flow) == {"m"} and run(dir_flow) == {"l"}
        assert run(file_flow) == set() and run(dir_flow) == set()
        _rewrite_keeping_size_and_mtime(data, b"b" * (5 * 2**20))
        _rewrite_keeping_size_and_mtime(weights, b"v" * 1000)
        assert run(file_flow) == {"m"}
        assert run(dir_flow) == {"l"}
        assert run(file_flow) == set() and run(dir_flow) == set()


def test_a_file_version_is_read_once_even_across_restarts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fingerprint, "RACY_SECONDS", 0.0)
    monkeypatch.setenv("FLOWSTUDIO_HOME", str(tmp_path / "home"))
    reads: list[Path] = []
    real = fingerprint._hash_file

    def counting(path: Path) -> str:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(fingerprint, "_hash_file", counting)
    fingerprint.forget_memory()
    big = tmp_path / "model" / "weights.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(3 * 2**20))
    first = fingerprint_path(big)
    assert fingerprint_path(big) == first and len(reads) == 1
    assert fingerprint_path(big.parent) == fingerprint_path(big.parent) and len(reads) == 1  # in a directory too

    fingerprint.forget_memory()  # a restart: the memo on disk answers
    memo = tmp_path / "home" / "cache" / fingerprint.MEMO_FILE
    assert memo.is_file()
    assert fingerprint_path(big) == first and len(reads) == 1

    memo.write_text("{not json")  # a corrupt memo is ignored (and rewritten)
    fingerprint.forget_memory()
    assert fingerprint_path(big) == first and len(reads) == 2
    assert json.loads(memo.read_text())["version"] == 1

    _rewrite_keeping_size_and_mtime(big, os.urandom(3 * 2**20))
    assert fingerprint_path(big) != first and len(reads) == 3

    small = tmp_path / "model" / "config.json"  # below the size kept on disk: memoised in this process
    small.write_text("{}")
    assert fingerprint_path(small) == fingerprint_path(small) and len(reads) == 4


def test_a_file_changed_just_now_is_not_memoised(tmp_path: Path, monkeypatch) -> None:
    """Its time stamps may not have ticked yet: a rewrite in the same tick would look unchanged."""
    monkeypatch.setenv("FLOWSTUDIO_HOME", str(tmp_path / "home"))
    reads: list[Path] = []
    real = fingerprint._hash_file
    monkeypatch.setattr(fingerprint, "_hash_file", lambda path: reads.append(path) or real(path))
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(b"x" * 100)
    assert fingerprint.RACY_SECONDS >= 1.0
    assert fingerprint_path(fresh) == fingerprint_path(fresh) and len(reads) == 2
    monkeypatch.setattr(fingerprint, "RACY_SECONDS", 0.0)  # as if it had settled
    assert fingerprint_path(fresh) == fingerprint_path(fresh) and len(reads) == 3


def test_renamed_added_and_removed_files_change_a_directory_key(store, run_opts, tmp_path: Path) -> None:
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "a.safetensors").write_bytes(b"weights")
    flow = make_flow([("l", "test.load", {"source": "my-model"})], [])
    with Engine(NodeRegistry([Load]), DeviceInventory.fake(), store) as engine:
        def run() -> set[str]:
            return ran(engine.run(flow, flow_dir=tmp_path, options=run_opts()).events)

        assert run() == {"l"} and run() == set()
        (model / "a.safetensors").rename(model / "b.safetensors")
        assert run() == {"l"}, "renamed"
        (model / "extra.bin").write_bytes(b"")
        assert run() == {"l"}, "added (even empty)"
        (model / "extra.bin").unlink()
        assert run() == set(), "back as it was: the earlier entry"
        (model / "config.json").unlink()
        assert run() == {"l"}, "removed"
        (model / "config.json").write_text("{}")
        os.utime(model / "b.safetensors", (1, 1))
        assert run() == set(), "only a time stamp changed: the content is what counts"


def test_trim_removes_least_recently_used_entries_first(store: ArtifactStore, tmp_path: Path) -> None:
    import os
    import time

    sizes = []
    for i, name in enumerate(["old", "mid", "new"]):
        work = tmp_path / f"work-{name}"
        work.mkdir()
        (work / "blob").write_bytes(b"x" * 1000)
        entry = store.put(f"{i}" * 64, "test.blob", {"name": name}, {}, work)
        stamp = time.time() - (3 - i) * 86400  # old: 3 days, mid: 2 days, new: 1 day unused
        os.utime(entry.path / "entry.json", (stamp, stamp))
        sizes.append(sum(f.stat().st_size for f in entry.path.rglob("*") if f.is_file()))  # the blob and the record
    assert all(1000 < size < 3000 for size in sizes) and store.info()["bytes"] == sum(sizes)
    store.get("1" * 64)  # "mid" is used now: it becomes the most recent
    assert store.trim(max_bytes=sizes[1] + sizes[2]) == (1, sizes[0])
    assert store.get("0" * 64) is None and store.get("1" * 64) is not None and store.get("2" * 64) is not None
    removed, _ = store.trim(older_than_s=3600)
    assert removed == 0  # the two get() calls above just used both
    assert store.trim(max_bytes=0) == (2, sizes[1] + sizes[2]) and store.info()["entries"] == 0


def test_cache_cli_size_and_age_parsing() -> None:
    import argparse

    import pytest

    from flowstudio.cli.cache import human_size, parse_age, parse_size

    assert parse_size("500MB") == 500 * 2**20 and parse_size("1.5g") == int(1.5 * 2**30) and parse_size("10") == 10
    assert parse_age("12h") == 12 * 3600 and parse_age("2w") == 14 * 86400 and parse_age("30") == 30 * 86400
    with pytest.raises(argparse.ArgumentTypeError, match="not a size"):
        parse_size("lots")
    with pytest.raises(argparse.ArgumentTypeError, match="not an age"):
        parse_age("soon")
    assert human_size(512) == "512 B" and human_size(3 * 2**30) == "3.0 GiB"
