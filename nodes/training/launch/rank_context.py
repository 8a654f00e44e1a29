"""The RunContext a node sees in one rank of an `accelerate launch`.

It looks like the engine's context (work_dir, checkpoint_dir, progress/log/metric/stream, cancelled), so the
node's own `run` trains unchanged, plus what a rank needs: `rank`, `world_size`, `is_main_process`,
`main_process_first()` and `in_launcher` (so `run` does not launch again).

- Events: rank 0 appends them as JSON lines to the launch's event file, which the node's worker replays on
  the engine's context; the other ranks' events are dropped (they would repeat rank 0's).
- Stop: the worker creates the stop file. `cancelled()` is a collective: rank 0 looks at the file and every
  rank gets its answer through an all-reduce, so all ranks stop at the same step boundary (a rank that
  stopped alone would leave the others waiting in the next gradient all-reduce). The trainers call it once
  per step on every rank (`common.make_callback`) and once before training.
"""

from __future__ import annotations

import json
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any


class RankContext:
    in_launcher = True

    def __init__(self, spec: dict[str, Any], state: Any) -> None:
        self._state = state
        self.node_id = str(spec["node_id"])
        self.work_dir = Path(spec["work_dir"])
        self.checkpoint_dir = Path(spec["checkpoint_dir"])
        self.flow_dir = Path(spec["flow_dir"])
        self.device = str(spec.get("device", "cpu"))
        self.seed = spec.get("seed")
        self.rank = int(state.process_index)
        self.world_size = int(state.num_processes)
        self.is_main_process = bool(state.is_main_process)
        self.scratch_dir = Path(spec["launch_dir"]) / f"rank-{self.rank}"
        self.metrics: dict[str, float] = {}
        self._stop_path = Path(spec["launch_dir"]) / "stop"
        self._stopped = False
        self._lock = threading.Lock()
        self._events = (Path(spec["launch_dir"]) / "events.jsonl").open("a", encoding="utf-8") \
            if self.is_main_process else None

    # -- events (rank 0 only)

    def _send(self, event: dict[str, Any]) -> None:
        if self._events is None:
            return
        with self._lock:
            self._events.write(json.dumps(event, allow_nan=True) + "\n")
            self._events.flush()

    def progress(self, step: int, total: int | None = None, message: str = "") -> None:
        self._send({"event": "progress", "step": step, "total": total, "message": message})

    def log(self, line: str) -> None:
        self._send({"event": "log", "line": line})

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        self.metrics[name] = float(value)
        self._send({"event": "metric", "name": name, "value": float(value), "step": step})

    def stream(self, text: str) -> None:
        self._send({"event": "stream", "text": text})

    # -- stop, and ordering between ranks

    def cancelled(self) -> bool:
        """Whether the user stopped the run: the same answer on every rank (a collective call)."""
        local = self._stopped or (self.is_main_process and self._stop_path.exists())
        if self.world_size > 1:
            import torch
            import torch.distributed as dist

            flag = torch.tensor([1 if local else 0], device=self._state.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            local = bool(flag.item())
        self._stopped = local
        return local

    def main_process_first(self) -> AbstractContextManager[Any]:
        """Rank 0 runs the block first (e.g. writing lineage.json), the others after it finished."""
        return self._state.main_process_first()

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
