"""Node types for the worker start-up and shut-down tests (importable, so they run in workers)."""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources
from flowstudio.core.ports import Any as AnyValue

# Called while the engine plans a flow holding a `test.plan_probe` node (from its code_risk check).
ON_PLAN: list[Callable[[], None]] = []


class AtExit(Node):
    """Registers an at-exit hook in its worker that writes `marker` when the process ends."""

    type = "test.atexit"
    title = "At exit"
    category = "Test"
    cacheable = False
    resources = Resources(worker=True)

    class Outputs(Ports):
        pid = Port(AnyValue)

    class Params(NodeParams):
        marker: str = ""

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        marker = Path(params.marker)
        atexit.register(lambda: marker.write_text(f"exited {os.getpid()}", encoding="utf-8"))
        return {"pid": os.getpid()}


class PlanProbe(Node):
    """An in-process node whose consent check runs the hooks in ON_PLAN (so a test sees the planning)."""

    type = "test.plan_probe"
    title = "Plan probe"
    category = "Test"
    cacheable = False

    class Outputs(Ports):
        value = Port(AnyValue)

    @classmethod
    def code_risk(cls, params: Mapping[str, Any]) -> str | None:
        for hook in ON_PLAN:
            hook()
        return None

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"value": os.getpid()}
