"""Scheduling with fake device inventories: GPUs through CUDA_VISIBLE_DEVICES, CPU concurrency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowstudio.core.node import Resources
from flowstudio.engine import DeviceInventory, Engine, RunSetupError
from flowstudio.engine.devices import detect_inventory, parse_nvidia_smi
from flowstudio.engine.scheduler import ResourcePool, Unschedulable
from tests.engine.helpers import of_kind
from tests.stubs import make_flow, stub_registry

GPU = Resources(gpus=1, worker=True)


def two_branches(sleep: float = 0.6):
    return make_flow([("a", "stub.model", {"size": 1, "sleep": sleep}), ("b", "stub.model", {"size": 2, "sleep": sleep})],
                     [])


def spans(result) -> dict[str, dict]:
    out = {}
    for node_id in ("a", "b"):
        path = Path(result.summary["nodes"][node_id]["outputs"]["model"]["path"]) / "weights.json"
        out[node_id] = json.loads(path.read_text())
    return out


def overlap(x: dict, y: dict) -> bool:
    return x["started"] < y["finished"] and y["started"] < x["finished"]


def test_two_gpus_run_independent_branches_at_once_each_on_its_own_gpu(store, run_opts) -> None:
    with Engine(stub_registry(), DeviceInventory.fake(gpus=2), store) as engine:
        engine.run(two_branches(0.0), options=run_opts())  # one warm worker per GPU: no start-up skew below
        result = engine.run(two_branches(0.6), options=run_opts())
    assert result.ok, result.summary
    s = spans(result)
    assert overlap(s["a"], s["b"])
    assert {s["a"]["cuda_visible_devices"], s["b"]["cuda_visible_devices"]} == {"0", "1"}
    started = {e.node: e for e in of_kind(result.events, "node_started")}
    assert {started["a"].cuda_visible_devices, started["b"].cuda_visible_devices} == {"0", "1"}
    assert started["a"].device == started["b"].device == "cuda"
    assert s["a"]["pid"] != s["b"]["pid"]


def test_one_gpu_runs_them_one_after_the_other(store, run_opts) -> None:
    with Engine(stub_registry(), DeviceInventory.fake(gpus=1), store) as engine:
        result = engine.run(two_branches(0.3), options=run_opts())
    assert result.ok
    s = spans(result)
    assert not overlap(s["a"], s["b"])
    assert s["a"]["cuda_visible_devices"] == s["b"]["cuda_visible_devices"] == "0"
    assert s["a"]["pid"] == s["b"]["pid"]  # the idle worker on GPU 0 was reused


def test_device_cpu_hides_the_gpus_and_limits_heavy_nodes(store, run_opts) -> None:
    with Engine(stub_registry(), DeviceInventory.fake(gpus=2), store) as engine:
        result = engine.run(two_branches(0.3), options=run_opts(device="cpu", cpu_concurrency=1))
    s = spans(result)
    assert s["a"]["cuda_visible_devices"] == s["b"]["cuda_visible_devices"] == ""
    assert not overlap(s["a"], s["b"])


def test_cpu_concurrency_is_a_setting(store, run_opts) -> None:
    flow = make_flow([("x", "stub.busy", {"sleep": 0.6, "tag": "x"}), ("y", "stub.busy", {"sleep": 0.6, "tag": "y"})], [])
    with Engine(stub_registry(), DeviceInventory.fake(gpus=0, cpu_count=2), store) as engine:
        engine.run(flow, options=run_opts(use_cache=False, cpu_concurrency=2))  # starts two warm workers
        assert len(engine.worker_pids) == 2
        one = engine.run(flow, options=run_opts(use_cache=False))
        two = engine.run(flow, options=run_opts(use_cache=False, cpu_concurrency=2))
    s1 = [one.summary["nodes"][n]["outputs"]["span"] for n in ("x", "y")]
    s2 = [two.summary["nodes"][n]["outputs"]["span"] for n in ("x", "y")]
    assert not overlap(*s1)  # default on 2 cores: one heavy node at a time
    assert overlap(*s2)


def test_device_cuda_without_gpus_is_refused_before_running(engine, run_opts) -> None:
    with pytest.raises(RunSetupError, match="no GPU"):
        engine.run(two_branches(), options=run_opts(device="cuda"))


# ------------------------------------------------------------------------------------- the pool itself


def test_pool_gives_each_gpu_once_and_prefers_warm_workers() -> None:
    pool = ResourcePool(DeviceInventory.fake(gpus=3))
    a = pool.request(GPU, True)
    b = pool.request(GPU, True, prefer=[(2,)])
    assert a is not None and b is not None and b.gpus == (2,)
    assert a.cuda_visible_devices != b.cuda_visible_devices
    c = pool.request(GPU, True)
    assert c is not None and pool.request(GPU, True) is None
    pool.release(a)
    assert pool.request(GPU, True) == a


def test_pool_multi_gpu_node_waits_for_enough_gpus() -> None:
    pool = ResourcePool(DeviceInventory.fake(gpus=2))
    one = pool.request(GPU, True)
    assert pool.request(Resources(gpus=2, worker=True), True) is None
    pool.release(one)
    both = pool.request(Resources(gpus=2, worker=True), True)
    assert both is not None and both.cuda_visible_devices == "0,1"
    # a node asking for more GPUs than exist gets all of them
    pool.release(both)
    assert pool.request(Resources(gpus=8, worker=True), True).gpus == (0, 1)


def test_pool_prefers_the_gpu_with_most_free_memory() -> None:
    from flowstudio.engine.devices import GpuInfo

    inv = DeviceInventory((GpuInfo(0, "A", 24000, 1000), GpuInfo(1, "B", 24000, 20000)), cpu_count=8)
    assert ResourcePool(inv).request(GPU, True).gpus == (1,)


def test_pool_requires_gpu_is_unschedulable_without_one() -> None:
    with pytest.raises(Unschedulable, match="requires a GPU"):
        ResourcePool(DeviceInventory.fake(gpus=0)).request(Resources(gpus=1, requires_gpu=True), True)
    with pytest.raises(Unschedulable, match="--device cpu"):
        ResourcePool(DeviceInventory.fake(gpus=1), device="cpu").request(Resources(gpus=1, requires_gpu=True), True)


def test_pool_counts_host_memory() -> None:
    pool = ResourcePool(DeviceInventory.fake(gpus=0, cpu_count=16, memory_gb=10), cpu_concurrency=4)
    big = Resources(worker=True, memory_gb=6)
    first = pool.request(big, True)
    assert first is not None and pool.request(big, True) is None  # 12 GB > 90% of 10 GB
    pool.release(first)
    alone = ResourcePool(DeviceInventory.fake(gpus=0, memory_gb=4)).request(big, True)
    assert alone is not None  # too big for the machine, but alone it may try


def test_light_nodes_do_not_take_heavy_slots() -> None:
    pool = ResourcePool(DeviceInventory.fake(gpus=0, cpu_count=2))
    assert pool.request(Resources(worker=True), True).heavy
    assert pool.request(Resources(worker=True), True) is None
    light = pool.request(Resources(), False)
    assert light is not None and not light.worker


def test_parse_nvidia_smi_and_detect_without_torch() -> None:
    text = "0, NVIDIA H100 80GB HBM3, 81559, 80100, GPU-aaa\n1, NVIDIA H100 80GB HBM3, 81559, 1200, GPU-bbb\n"
    gpus = parse_nvidia_smi(text)
    assert [(g.index, g.memory_total_mb, g.memory_free_mb) for g in gpus] == [(0, 81559, 80100), (1, 81559, 1200)]
    assert gpus[0].name == "NVIDIA H100 80GB HBM3" and gpus[1].uuid == "GPU-bbb"
    inv = detect_inventory()  # this machine: whatever it has, the call must not fail
    assert inv.cpu_count >= 1 and inv.source in ("nvidia-smi", "proc", "none")
