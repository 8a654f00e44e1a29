"""What this machine has: GPUs (without importing torch), CPU cores and memory.

`detect_inventory()` asks `nvidia-smi`; when it is missing or fails it falls back to
`/proc/driver/nvidia/gpus` (names only), then to no GPUs. Tests build a `DeviceInventory` by hand
(`DeviceInventory.fake(gpus=2)`) to exercise the scheduler on a machine without GPUs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str = "GPU"
    memory_total_mb: int = 0
    memory_free_mb: int = 0
    uuid: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "memory_total_mb": self.memory_total_mb,
                "memory_free_mb": self.memory_free_mb, "uuid": self.uuid}


@dataclass(frozen=True)
class DeviceInventory:
    gpus: tuple[GpuInfo, ...] = ()
    cpu_count: int = 1
    memory_total_gb: float = 0.0  # 0: unknown
    source: str = "none"  # how the GPUs were found: nvidia-smi, proc, none, fake
    notes: tuple[str, ...] = field(default=())

    @property
    def gpu_count(self) -> int:
        return len(self.gpus)

    @staticmethod
    def fake(gpus: int = 0, cpu_count: int = 2, memory_gb: float = 16.0, gpu_memory_mb: int = 24_000) -> DeviceInventory:
        """An inventory for tests: `gpus` identical fake GPUs."""
        return DeviceInventory(
            gpus=tuple(GpuInfo(i, f"Fake GPU {i}", gpu_memory_mb, gpu_memory_mb) for i in range(gpus)),
            cpu_count=cpu_count, memory_total_gb=memory_gb, source="fake",
        )

    def to_json(self) -> dict[str, Any]:
        return {"gpus": [g.to_json() for g in self.gpus], "cpu_count": self.cpu_count,
                "memory_total_gb": self.memory_total_gb, "source": self.source, "notes": list(self.notes)}


_QUERY = "index,name,memory.total,memory.free,uuid"


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """Parse `nvidia-smi --query-gpu=index,name,memory.total,memory.free,uuid --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or not parts[0].isdigit():
            continue

        def mb(value: str) -> int:
            try:
                return int(float(value))
            except ValueError:
                return 0

        gpus.append(GpuInfo(int(parts[0]), parts[1], mb(parts[2]), mb(parts[3]), parts[4] if len(parts) > 4 else ""))
    return gpus


def _from_nvidia_smi(notes: list[str]) -> list[GpuInfo] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, f"--query-gpu={_QUERY}", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        notes.append(f"nvidia-smi failed: {exc}")
        return None
    if done.returncode != 0:
        notes.append(f"nvidia-smi exited {done.returncode}: {done.stderr.strip()[:200]}")
        return None
    return parse_nvidia_smi(done.stdout)


def _from_proc(notes: list[str]) -> list[GpuInfo] | None:
    root = Path("/proc/driver/nvidia/gpus")
    if not root.is_dir():
        return None
    gpus = []
    for i, entry in enumerate(sorted(root.iterdir())):
        name = "NVIDIA GPU"
        info = entry / "information"
        try:
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    name = line.split(":", 1)[1].strip()
        except OSError:
            pass
        gpus.append(GpuInfo(i, name))
    if gpus:
        notes.append("GPU memory unknown (found through /proc, nvidia-smi unavailable)")
    return gpus


def _memory_total_gb() -> float:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


DEVICE_HELP = "auto, cpu, cuda (every GPU) or a GPU set such as cuda:0,2 (nvidia-smi's indices)"


def parse_device(device: str) -> tuple[str, tuple[int, ...] | None]:
    """'auto' | 'cpu' | 'cuda' | 'cuda:0,2' -> (mode, GPU indices or None for all). ValueError otherwise."""
    text = device.strip().lower()
    if text in ("auto", "cpu", "cuda"):
        return text, None
    if text.startswith("cuda:"):
        parts = [p.strip() for p in text[5:].split(",")]
        if parts and all(p.isdigit() for p in parts):
            return "cuda", tuple(sorted({int(p) for p in parts}))
    raise ValueError(f"device must be {DEVICE_HELP}, not {device!r}")


def device_problem(device: str, inventory: DeviceInventory) -> str | None:
    """Why `device` cannot be used on this machine (None when it can)."""
    try:
        mode, chosen = parse_device(device)
    except ValueError as exc:
        return str(exc)
    if mode == "cuda" and inventory.gpu_count == 0:
        return (f"--device {device}: no GPU was found on this machine (nvidia-smi lists none); "
                "use --device auto or cpu")
    have = {g.index for g in inventory.gpus}
    if chosen is not None and not set(chosen) <= have:
        missing = ", ".join(str(i) for i in sorted(set(chosen) - have))
        return (f"--device {device}: this machine has no GPU {missing} (GPUs: "
                f"{', '.join(str(i) for i in sorted(have))})")
    return None


def detect_inventory() -> DeviceInventory:
    """Detect GPUs (count, name, total/free memory) without importing torch."""
    notes: list[str] = []
    gpus = _from_nvidia_smi(notes)
    source = "nvidia-smi"
    if gpus is None:
        gpus = _from_proc(notes)
        source = "proc"
    if not gpus:
        gpus, source = [], "none"
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None and gpus:
        visible = [v.strip() for v in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if v.strip()]
        by_key = {str(g.index): g for g in gpus} | {g.uuid: g for g in gpus if g.uuid}
        gpus = [by_key[v] for v in visible if v in by_key]
        notes.append("limited to CUDA_VISIBLE_DEVICES=" + os.environ["CUDA_VISIBLE_DEVICES"])
    return DeviceInventory(tuple(gpus), cpu_count(), _memory_total_gb(), source, tuple(notes))
