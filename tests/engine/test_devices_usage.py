"""GPU usage without torch (nvidia-smi CSV parsing, no-driver fallback), device sets, Free memory."""

from __future__ import annotations

import pytest

from flowstudio.core.node import Resources
from flowstudio.engine import DeviceInventory, Engine
from flowstudio.engine.devices import device_problem, parse_device
from flowstudio.engine.gpu_usage import GpuUsage, parse_smi_csv, read_gpu_usage
from flowstudio.engine.scheduler import ResourcePool
from tests.stubs import make_flow, stub_registry

# `nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu,uuid --format=csv` on a
# two-GPU machine (with the header and units), and the same query with noheader,nounits.
WITH_UNITS = """index, name, memory.used [MiB], memory.total [MiB], utilization.gpu [%], uuid
0, NVIDIA H200, 71234 MiB, 143771 MiB, 87 %, GPU-5c3a1f0e-8b1d-4c1e-9d3e-0a1b2c3d4e5f
1, NVIDIA GeForce RTX 4090, 3 MiB, 24564 MiB, [N/A], GPU-7d2e9f10-1a2b-3c4d-5e6f-708192a3b4c5
"""
NO_UNITS = """0, Tesla T4, 15, 15360, 0, GPU-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
Failed to initialize NVML: Driver/library version mismatch
"""


def test_parse_nvidia_smi_csv_with_header_and_units() -> None:
    gpus = parse_smi_csv(WITH_UNITS)
    assert gpus == [
        GpuUsage(0, "NVIDIA H200", 71234, 143771, 87, "GPU-5c3a1f0e-8b1d-4c1e-9d3e-0a1b2c3d4e5f"),
        GpuUsage(1, "NVIDIA GeForce RTX 4090", 3, 24564, None, "GPU-7d2e9f10-1a2b-3c4d-5e6f-708192a3b4c5"),
    ]
    assert gpus[0].memory_fraction == pytest.approx(71234 / 143771)


def test_parse_nvidia_smi_csv_noheader_nounits_skips_noise() -> None:
    assert parse_smi_csv(NO_UNITS) == [GpuUsage(0, "Tesla T4", 15, 15360, 0, "GPU-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")]
    assert parse_smi_csv("") == [] and parse_smi_csv("No devices were found\n") == []


def test_no_driver_means_no_gpus_and_a_reason() -> None:
    report = read_gpu_usage()  # this machine: nvidia-ml-py is installed, NVML's library and nvidia-smi are not
    assert report.gpus == () and report.source == "none"
    assert "NVML" in report.note and "nvidia-smi" in report.note


def test_device_sets_parse_and_limit_the_scheduler() -> None:
    assert parse_device("auto") == ("auto", None) and parse_device("CUDA") == ("cuda", None)
    assert parse_device("cuda:2,0") == ("cuda", (0, 2))
    for bad in ("gpu", "cuda:", "cuda:a", "cuda:0;1"):
        with pytest.raises(ValueError, match="cuda:0,2"):
            parse_device(bad)
    two = DeviceInventory.fake(gpus=3)
    assert device_problem("cuda:0,2", two) is None
    assert "no GPU 5" in device_problem("cuda:0,5", two)
    assert "no GPU was found" in device_problem("cuda:0", DeviceInventory.fake(gpus=0))
    pool = ResourcePool(two, "cuda:1,2")
    assert pool.gpus == [1, 2]
    alloc = pool.request(Resources(gpus=4), wants_worker=True)
    assert alloc is not None and alloc.gpus == (1, 2)  # never GPU 0


def test_free_memory_closes_warm_workers_and_their_models(store, run_opts) -> None:
    flow = make_flow([("w", "stub.warm", {"key": "model-a"})], [])
    with Engine(registry=stub_registry(), inventory=DeviceInventory.fake(gpus=0), store=store) as engine:
        first = engine.run(flow, options=run_opts())
        second = engine.run(flow, options=run_opts())
        info1, info2 = (r.summary["nodes"]["w"]["outputs"]["info"] for r in (first, second))
        assert info2["warm"] and info2["pid"] == info1["pid"]  # the worker kept the model loaded
        assert engine.worker_pids == [info1["pid"]]
        assert engine.free_memory() == 1
        assert engine.worker_pids == [] and engine.workers.idle_device_sets() == []
        third = engine.run(flow, options=run_opts()).summary["nodes"]["w"]["outputs"]["info"]
        assert not third["warm"] and third["pid"] != info1["pid"]  # loaded again, in a new worker
        assert engine.free_memory() == 1 and engine.free_memory() == 0
