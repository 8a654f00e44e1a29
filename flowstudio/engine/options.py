"""`RunOptions`: how one run is asked for (overrides, inputs, devices, cache, consent)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class RunOptions:
    sets: Sequence[str] = ()  # "NODE_ID.PARAM=VALUE" (JSON value, else a string)
    inputs: Sequence[str] = ()  # "NODE_ID=TEXT" for io.text nodes
    until: str | None = None  # run only this node and what it needs
    device: str = "auto"  # auto | cpu | cuda | cuda:0,2 (a GPU set; devices.parse_device)
    use_cache: bool = True  # False: run every node (results are still stored)
    run_dir: Path | None = None  # default: a new directory under runs_dir()
    allow_code: bool = False  # consent for nodes that run code from the flow file
    seed: int | None = None
    cpu_concurrency: int | None = None  # heavy CPU nodes at once (default: cores // 4, at least 1)
    light_concurrency: int = 4  # small in-process nodes at once
    workers: bool = True  # False: heavy nodes run in the engine process too (debugging)
    source: str | None = None  # the flow file, for messages and run.json

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir) if self.run_dir else None
        data["sets"], data["inputs"] = list(self.sets), list(self.inputs)
        return data
