"""What each GPU is doing now (memory in use, utilisation), without importing torch.

`read_gpu_usage()` asks NVML (the `nvidia-ml-py` package, `pynvml`), and when NVML cannot be used
falls back to `nvidia-smi --query-gpu=... --format=csv`. With no driver (no NVML library, no
nvidia-smi) it returns no GPUs and a note: the Devices panel then shows "CPU only". Cheap enough to
poll every few seconds, but it may block (a hung driver): call it off the GUI thread.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import subprocess
from dataclasses import dataclass

SMI_QUERY = "index,name,memory.used,memory.total,utilization.gpu,uuid"


@dataclass(frozen=True)
class GpuUsage:
    index: int
    name: str
    memory_used_mb: int
    memory_total_mb: int
    utilization_pct: int | None  # None: the driver does not report it
    uuid: str = ""

    @property
    def memory_fraction(self) -> float:
        return self.memory_used_mb / self.memory_total_mb if self.memory_total_mb else 0.0


@dataclass(frozen=True)
class UsageReport:
    gpus: tuple[GpuUsage, ...]
    source: str  # "nvml", "nvidia-smi" or "none"
    note: str = ""  # why no GPU was found, when none was


def _number(text: str) -> int | None:
    """'1234', '1234 MiB', '37 %' -> the integer; '[N/A]', '[Not Supported]' -> None."""
    text = text.strip().split(" ")[0]
    try:
        return int(float(text))
    except ValueError:
        return None


def parse_smi_csv(text: str) -> list[GpuUsage]:
    """Parse `nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu,uuid --format=csv`
    with or without `noheader` / `nounits` (values like `1234 MiB`, `37 %`, `[N/A]` are understood).
    Lines that are not a GPU (a header, a warning) are skipped."""
    gpus = []
    for row in csv.reader(io.StringIO(text), skipinitialspace=True):
        if len(row) < 5 or _number(row[0]) is None or not row[0].strip().isdigit():
            continue
        used, total = _number(row[2]), _number(row[3])
        gpus.append(GpuUsage(int(row[0]), row[1].strip(), used or 0, total or 0, _number(row[4]),
                             row[5].strip() if len(row) > 5 else ""))
    return gpus


def _from_nvml() -> tuple[list[GpuUsage] | None, str]:
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return None, f"NVML: {exc}"
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                util: int | None = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except pynvml.NVMLError:
                util = None
            try:
                uuid = pynvml.nvmlDeviceGetUUID(handle)
                uuid = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
            except pynvml.NVMLError:
                uuid = ""
            gpus.append(GpuUsage(i, name, int(memory.used) // 2**20, int(memory.total) // 2**20, util, uuid))
        return gpus, ""
    except pynvml.NVMLError as exc:
        return None, f"NVML: {exc}"
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def _from_smi(timeout: float) -> tuple[list[GpuUsage] | None, str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None, "nvidia-smi not found"
    try:
        done = subprocess.run([exe, f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"nvidia-smi failed: {exc}"
    if done.returncode != 0:
        return None, f"nvidia-smi exited {done.returncode}: {done.stderr.strip()[:200]}"
    return parse_smi_csv(done.stdout), ""


def read_gpu_usage(timeout: float = 5.0) -> UsageReport:
    """Every GPU's name, memory in use and utilisation now; no GPUs (and why) when there is no driver."""
    gpus, nvml_note = _from_nvml()
    if gpus is not None:
        return UsageReport(tuple(gpus), "nvml")
    gpus, smi_note = _from_smi(timeout)
    if gpus is not None:
        return UsageReport(tuple(gpus), "nvidia-smi")
    return UsageReport((), "none", f"{nvml_note}; {smi_note}")
