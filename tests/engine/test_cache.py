"""Which nodes run and which come from the cache, asserted from the events."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from flowstudio.engine import ArtifactStore, Engine
from tests.engine.helpers import cached, ran, statuses
from tests.stubs import make_flow

NODES = ["c1", "c2", "add", "echo", "m", "t"]


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
    from typing import Any

    from flowstudio.core.node import ModelSourceField, Node, NodeParams, Port, Ports
    from flowstudio.core.ports import Text
    from flowstudio.core.registry import NodeRegistry
    from flowstudio.engine import DeviceInventory

    class Load(Node):
        type = "test.load"

        class Outputs(Ports):
            name = Port(Text)

        class Params(NodeParams):
            source: str = ModelSourceField("builtin:tiny")

        def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
            return {"name": params.source}

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


def test_trim_removes_least_recently_used_entries_first(store: ArtifactStore, tmp_path: Path) -> None:
    import os
    import time

    for i, name in enumerate(["old", "mid", "new"]):
        work = tmp_path / f"work-{name}"
        work.mkdir()
        (work / "blob").write_bytes(b"x" * 1000)
        entry = store.put(f"{i}" * 64, "test.blob", {"name": name}, {}, work)
        stamp = time.time() - (3 - i) * 86400  # old: 3 days, mid: 2 days, new: 1 day unused
        os.utime(entry.path / "entry.json", (stamp, stamp))
    store.get("1" * 64)  # "mid" is used now: it becomes the most recent
    assert store.trim(max_bytes=2500) == (1, 1000)
    assert store.get("0" * 64) is None and store.get("1" * 64) is not None and store.get("2" * 64) is not None
    removed, _ = store.trim(older_than_s=3600)
    assert removed == 0  # the two get() calls above just used both
    assert store.trim(max_bytes=0) == (2, 2000) and store.info()["entries"] == 0


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
