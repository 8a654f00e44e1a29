"""Shared by the Run History and Playground tests: the SFT template on tiny-llama, made small.

`sft_flow_file(dir, lr)` writes the template with tiny-llama and a few steps; `FIRST_LR` is the first
run's learning rate, so the Playground tests' engine run of the same flow is a cache hit when the
History tests ran first in the session (it trains when run alone). `FLOWSTUDIO_SCREENSHOTS=DIR` makes
the tests save the app's own screenshots there (with more steps, so the curves have a shape).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PySide6.QtTest import QTest

from flowstudio.core.paths import templates_dir

SHOTS = os.environ.get("FLOWSTUDIO_SCREENSHOTS", "")
STEPS = 30 if SHOTS else 4
FIRST_LR, SECOND_LR = 0.005, 0.002
RUN_TIMEOUT_S = 180.0


def sft_flow(lr: float = FIRST_LR) -> dict:
    flow = json.loads((templates_dir() / "sft_lora.flow.json").read_text(encoding="utf-8"))
    nodes = {n["id"]: n for n in flow["nodes"]}
    nodes["model"]["params"]["source"] = "builtin:tiny-llama"
    nodes["sft"]["params"].update({"max_steps": STEPS, "logging_steps": 1, "learning_rate": lr,
                                   "max_length": 64, "batch_size": 2})
    nodes["split"]["params"]["eval_rows"] = 8
    flow["name"] = "SFT history test"
    return flow


def sft_flow_file(directory: Path, lr: float = FIRST_LR) -> Path:
    path = directory / "sft_history.flow.json"
    path.write_text(json.dumps(sft_flow(lr), indent=2), encoding="utf-8")
    return path


def wait_until(predicate, timeout_s: float = RUN_TIMEOUT_S, what: str = "condition") -> None:
    """Spin the Qt event loop until `predicate()` (module fixtures have no qtbot)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        QTest.qWait(20)


def save_shot(widget, name: str) -> Path | None:
    """Save `widget.grab()` as DIR/name when FLOWSTUDIO_SCREENSHOTS=DIR is set."""
    if not SHOTS:
        return None
    out = Path(SHOTS) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(out)), out
    return out
