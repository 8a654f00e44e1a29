"""The run context of an exported script: it stands in for the engine's RunContext.

It runs one node at a time in the script's process, prints progress, logs and metrics on stderr, keeps
each node's files under the output directory (`<output>/<node>/outputs`, `checkpoints`, `log.txt`,
`result.json`) and prints the final metrics as JSON. Under `accelerate launch` (WORLD_SIZE > 1) the
training nodes run on every process; every other node runs on the main process only and the others read
its result after a barrier. A node is distributed-aware when its params have a `launcher` (FlowStudio's
training nodes): there each process gets a context with `in_launcher`, `rank`, `world_size`,
`is_main_process` and `main_process_first()`, as under the engine's launcher=accelerate.

This module is copied into an exported script's `flowlib/` package; it imports only the standard library
and the node contract, never the engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, PortValues
from flowstudio.core.values import from_jsonable, to_jsonable

MARKER = ".flow-output"


class MissingPathError(SystemExit):
    """A path the flow reads does not exist on this machine."""


class NodeContext:
    """What one node sees while it runs (the attributes and methods of FlowStudio's RunContext)."""

    def __init__(self, runtime: Runtime, node_id: str, device: str) -> None:
        base = runtime.output_dir / node_id
        self.node_id = node_id
        self.work_dir = base / "outputs"
        self.checkpoint_dir = base / "checkpoints"
        self.rank = runtime.rank
        self.world_size = runtime.world_size
        self.is_main_process = runtime.is_main
        self.in_launcher = runtime.world_size > 1  # already launched: a node must not launch itself again
        self.scratch_dir = base / ("scratch" if self.world_size <= 1 else f"scratch-rank-{self.rank}")
        self.flow_dir = runtime.flow_dir
        self.device = device
        self.seed = runtime.seed
        self.metrics: dict[str, float] = {}
        self._runtime = runtime
        self._log_path = base / "log.txt"
        self._last_progress = 0.0

    def _say(self, text: str) -> None:
        if self._runtime.is_main:
            print(f"[{self.node_id}] {text}", file=sys.stderr, flush=True)

    def progress(self, step: int, total: int | None = None, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last_progress < 2.0 and step != total:
            return
        self._last_progress = now
        done = f"{step}/{total}" if total else f"step {step}"
        self._say(f"{done} {message}".rstrip())

    def log(self, line: str) -> None:
        if self._runtime.is_main:
            with self._log_path.open("a", encoding="utf-8") as fh:
                fh.write(str(line).rstrip("\n") + "\n")
        self._say(str(line))

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        self.metrics[name] = float(value)
        at = f" (step {step})" if step is not None else ""
        self._say(f"{name} = {float(value):.6g}{at}")

    def stream(self, text: str) -> None:
        if self._runtime.is_main:
            print(text, end="", file=sys.stderr, flush=True)

    def cancelled(self) -> bool:
        return False

    def main_process_first(self) -> Any:
        """A context manager: the main process runs the block first, then the others (one process: a no-op)."""
        return self._runtime.main_process_first()


class Runtime:
    """Runs the nodes of an exported flow in order and collects their metrics and outputs."""

    def __init__(self, output_dir: str | Path, *, flow_dir: str | Path, seed: int | None = None,
                 device: str = "auto", resume: bool = False) -> None:
        self.output_dir = Path(output_dir).expanduser().absolute()
        self.flow_dir = Path(flow_dir)
        self.seed = seed
        self.device = device
        self.resume = resume
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.is_main = self.rank == 0
        self.nodes: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, Any] = {}
        self._state: Any = None
        if self.is_main:
            self._claim_output_dir()
        self._barrier()

    # -- the output directory

    def _claim_output_dir(self) -> None:
        """Use a new or empty directory, or one this script wrote before (it has the marker file)."""
        out = self.output_dir
        if out.exists() and not out.is_dir():
            raise SystemExit(f"error: the output path {out} is a file; choose a directory with --output-dir")
        if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
            raise SystemExit(f"error: {out} is not empty and was not written by an exported flow; "
                             "choose a new directory with --output-dir")
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("written by an exported FlowStudio flow\n", encoding="utf-8")

    def _fresh(self, ctx: NodeContext) -> None:
        for path in (ctx.work_dir, ctx.scratch_dir) + (() if self.resume else (ctx.checkpoint_dir,)):
            if path.is_symlink():
                path.unlink()
            elif path.exists():
                shutil.rmtree(path)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        ctx._log_path.write_text("", encoding="utf-8")

    # -- checks before anything runs

    @staticmethod
    def require_paths(paths: Mapping[str, str]) -> None:
        """Stop with one clear message when a file or model directory the flow reads is missing here.

        `paths` maps what the path is (e.g. "model.source, option --model-source") to the path."""
        missing = [(what, path) for what, path in paths.items() if path and not Path(path).expanduser().exists()]
        if missing:
            lines = "\n".join(f"  {what}: {path}" for what, path in missing)
            raise MissingPathError(
                "error: these paths do not exist on this machine (they were resolved where the flow was "
                f"exported):\n{lines}\ncopy them here, or point to local copies with the options named above")

    # -- running nodes

    def _device_for(self, cls: type[Node]) -> str:
        if cls.resources.gpus <= 0 or self.device == "cpu":
            return "cpu"
        if self.device == "cuda":
            return "cuda"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _accelerate(self) -> Any:
        if self._state is None:
            import torch
            from accelerate import PartialState

            # without a GPU, processes meet over gloo (accelerate only does that when asked: cpu=True)
            self._state = PartialState(cpu=self.device == "cpu" or not torch.cuda.is_available())
        return self._state

    def _barrier(self) -> None:
        if self.world_size > 1:
            self._accelerate().wait_for_everyone()

    def main_process_first(self) -> Any:
        return self._accelerate().main_process_first() if self.world_size > 1 else contextlib.nullcontext()

    def run(self, cls: type[Node], node_id: str, params: Mapping[str, Any],
            inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run node `node_id` of type `cls` with `params` (by name) and `inputs` (by port); return its
        outputs by port. Unconnected input ports get None (a list port: an empty list), as in FlowStudio."""
        values = dict(inputs or {})
        for port in cls.input_ports(dict(params)):
            values.setdefault(port.name, [] if port.multiple else None)
        checked = cls.Params.model_validate(dict(params))
        if self.world_size > 1 and cls.category == "Training" and "launcher" not in cls.Params.model_fields:
            # its trainer would wait in collectives for processes that never join it
            raise SystemExit(f"error: node '{node_id}' ({cls.type}) trains in one process only; run this script "
                             "with `python flow.py`, not under `accelerate launch`")
        ctx = NodeContext(self, node_id, self._device_for(cls))
        result_path = ctx.work_dir.parent / "result.json"
        everywhere = self.world_size <= 1 or "launcher" in cls.Params.model_fields
        started = time.time()
        if self.is_main:
            self._fresh(ctx)
            ctx._say(f"running ({cls.type})")
        self._barrier()
        if everywhere or self.is_main:
            try:
                with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the final JSON
                    outputs = cls().run(ctx, PortValues(values), checked) or {}
            except NodeRunError as err:
                where = f", field '{err.field}'" if getattr(err, "field", None) else ""
                hint = f" (hint: {err.hint})" if getattr(err, "hint", "") else ""
                raise SystemExit(f"error: node '{node_id}' ({cls.type}){where}: {err}{hint}") from None
            finally:
                shutil.rmtree(ctx.scratch_dir, ignore_errors=True)
            record = {"type": cls.type, "seconds": round(time.time() - started, 3), "metrics": ctx.metrics,
                      "outputs": to_jsonable(outputs)}
            if self.is_main:
                result_path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
        self._barrier()
        if not (everywhere or self.is_main):
            record = json.loads(result_path.read_text(encoding="utf-8"))
            outputs = from_jsonable(record["outputs"])
        self.nodes[node_id] = {"type": cls.type, "seconds": record["seconds"], "metrics": dict(record["metrics"])}
        if cls.type == "io.output":
            self.outputs[node_id] = to_jsonable(outputs.get("value"))
        ctx._say(f"done in {record['seconds']:.1f}s")
        return outputs

    def finish(self) -> dict[str, Any]:
        """Write `<output>/metrics.json` and print the summary (metrics of every node, the flow's outputs)."""
        summary = {"status": "succeeded", "output_dir": str(self.output_dir), "nodes": self.nodes,
                   "outputs": self.outputs}
        if self.is_main:
            text = json.dumps(summary, indent=2, ensure_ascii=False, default=str)
            (self.output_dir / "metrics.json").write_text(text + "\n", encoding="utf-8")
            print(text, flush=True)
        return summary
