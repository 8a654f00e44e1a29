"""Resource accounting: which node may start now, on which devices. Pure logic, no processes,
so it is tested with a fake `DeviceInventory` on machines without GPUs.

Three kinds of slot:
- GPUs: a node with `Resources(gpus=n)` gets n free GPUs (fewer when the machine has fewer) and runs
  in a worker with `CUDA_VISIBLE_DEVICES` set to them. Idle workers' GPU sets are preferred, so a
  warm model is found again.
- heavy CPU slots: worker nodes without a GPU (and GPU nodes falling back to the CPU). Default: one
  per four cores, at least one, so two trainings never fight over two cores.
- light slots: small nodes, a few at a time: in the engine process, or in a worker when the node is
  `isolated` (it handles data the flow can make slow or big, so it must stay stoppable and killable).
Host memory (`Resources.memory_gb`) is also counted when the machine's total is known; a node that
needs more than is free waits, unless nothing else runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flowstudio.core.node import Resources
from flowstudio.engine.devices import DeviceInventory, parse_device


class Unschedulable(Exception):
    """The node can never run with these devices (e.g. it requires a GPU and there is none)."""


@dataclass(frozen=True)
class Allocation:
    worker: bool
    gpus: tuple[int, ...] = ()
    heavy: bool = False
    memory_gb: float = 0.0

    @property
    def device(self) -> str:
        return "cuda" if self.gpus else "cpu"

    @property
    def cuda_visible_devices(self) -> str | None:
        """The worker's CUDA_VISIBLE_DEVICES ("" hides every GPU); None for in-process nodes."""
        if not self.worker:
            return None
        return ",".join(str(g) for g in self.gpus)


def default_cpu_concurrency(cpu_count: int) -> int:
    return max(1, cpu_count // 4)


class ResourcePool:
    def __init__(self, inventory: DeviceInventory, device: str = "auto", cpu_concurrency: int | None = None,
                 light_concurrency: int = 4, use_workers: bool = True) -> None:
        mode, chosen = parse_device(device)  # ValueError for anything else
        self.inventory = inventory
        self.device = mode
        self.gpus = [g.index for g in inventory.gpus if chosen is None or g.index in chosen] if mode != "cpu" else []
        self.free_gpus: set[int] = set(self.gpus)
        self.cpu_slots = cpu_concurrency if cpu_concurrency is not None else default_cpu_concurrency(inventory.cpu_count)
        self.cpu_slots = max(1, self.cpu_slots)
        self.light_slots = max(1, light_concurrency)
        self.heavy_running = 0
        self.light_running = 0
        self.memory_used = 0.0
        self.use_workers = use_workers
        self._free_memory = {g.index: g.memory_free_mb for g in inventory.gpus}

    @property
    def busy(self) -> bool:
        return bool(self.heavy_running or self.light_running or len(self.free_gpus) < len(self.gpus))

    def _memory_ok(self, need: float) -> bool:
        total = self.inventory.memory_total_gb
        if need <= 0 or total <= 0 or not self.busy:
            return True
        return self.memory_used + need <= total * 0.9

    def request(self, resources: Resources, wants_worker: bool,
                prefer: Sequence[tuple[int, ...]] = ()) -> Allocation | None:
        """An allocation when the node may start now, None when it must wait; Unschedulable when never."""
        if resources.gpus > 0 and self.gpus:
            n = min(resources.gpus, len(self.gpus))
            if len(self.free_gpus) < n or not self._memory_ok(resources.memory_gb):
                return None
            chosen = next((tuple(p) for p in prefer if len(p) == n and set(p) <= self.free_gpus), None)
            if chosen is None:
                ranked = sorted(self.free_gpus, key=lambda g: (-self._free_memory.get(g, 0), g))
                chosen = tuple(sorted(ranked[:n]))
            self.free_gpus -= set(chosen)
            self.memory_used += resources.memory_gb
            return Allocation(worker=True, gpus=chosen, heavy=False, memory_gb=resources.memory_gb)
        if resources.gpus > 0 and resources.requires_gpu:
            why = "--device cpu was chosen" if self.device == "cpu" else "no GPU was found on this machine"
            raise Unschedulable(f"this node requires a GPU and {why}")
        heavy = wants_worker or resources.gpus > 0
        if heavy:
            if self.heavy_running >= self.cpu_slots or not self._memory_ok(resources.memory_gb):
                return None
            self.heavy_running += 1
            self.memory_used += resources.memory_gb
            return Allocation(worker=self.use_workers, heavy=True, memory_gb=resources.memory_gb)
        if self.light_running >= self.light_slots:
            return None
        self.light_running += 1
        return Allocation(worker=self.use_workers and resources.isolated, heavy=False)

    def release(self, alloc: Allocation) -> None:
        self.free_gpus |= set(alloc.gpus)
        self.memory_used = max(0.0, self.memory_used - alloc.memory_gb)
        if alloc.heavy:
            self.heavy_running -= 1
        elif not alloc.gpus:
            self.light_running -= 1
