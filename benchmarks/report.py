"""How a benchmark hands its figures to `benchmarks/run_all.py`.

Every benchmark prints its human-readable table as before and, at the end, calls `emit(...)` once. When
`run_all.py` runs it, the environment variable `FLOWSTUDIO_BENCH_JSON` names a file; `emit` writes the
figures there as JSON, and `run_all.py` builds `docs/benchmarks.md` from them. Run by hand, `emit` does
nothing beyond what the script printed.

A figure is one number. Where it is a ratio against an anchor measured in the same run, name the anchor:

    emit("train_throughput", [
        Figure("SFT tokens/s, node vs plain TRL script", 0.98, "x", anchor="plain TRL SFTTrainer script",
               goal=">= 0.97"),
    ], notes="tiny-llama, 40 steps, 1 thread")
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ENV_VAR = "FLOWSTUDIO_BENCH_JSON"


@dataclass
class Figure:
    label: str  # what was measured, in words
    value: float
    unit: str = ""  # "x" for a ratio, "ms", "tok/s", ...
    anchor: str = ""  # what a ratio is measured against, in the same run ("" when it is not a ratio)
    goal: str = ""  # the target, e.g. "<= 1.10" or "< 50 ms"
    met: bool | None = None  # whether the goal holds; None when there is no goal
    extra: dict[str, Any] = field(default_factory=dict)


def emit(benchmark: str, figures: list[Figure], *, notes: str = "", machine: str = "") -> None:
    """Write the figures where `run_all.py` asked for them (no-op when run by hand)."""
    target = os.environ.get(ENV_VAR)
    if not target:
        return
    payload = {
        "benchmark": benchmark,
        "notes": notes,
        "machine": machine,
        "figures": [asdict(figure) for figure in figures],
    }
    Path(target).write_text(json.dumps(payload, indent=2), encoding="utf-8")
