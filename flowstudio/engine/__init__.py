"""The engine: plans, schedules and runs flows in worker processes, caches results, emits events.

No torch, no Qt: importing this package is cheap (`flowstudio run` pays for torch only in workers).
"""

from flowstudio.engine.cache import ArtifactStore
from flowstudio.engine.devices import DeviceInventory, GpuInfo, detect_inventory
from flowstudio.engine.engine import Engine, RunOptions, RunResult
from flowstudio.engine.events import Event, event_from_dict
from flowstudio.engine.plan import FlowInvalidError, RunSetupError

__all__ = [
    "ArtifactStore", "DeviceInventory", "Engine", "Event", "FlowInvalidError", "GpuInfo", "RunOptions", "RunResult",
    "RunSetupError", "detect_inventory", "event_from_dict",
]
