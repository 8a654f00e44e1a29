"""Running one node: the same code in the engine process (light nodes) and in a worker process.

A task is a plain, picklable dict (node class by module + qualified name, JSON params and inputs,
directories); the result is a plain dict. Errors never escape: they become a result with the
error's type, message, hint, field and traceback (the traceback also goes to the node's log).
"""

from __future__ import annotations

import importlib
import json
import shutil
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError, RunCancelled
from flowstudio.core.node import Node, PortValues
from flowstudio.core.values import from_jsonable, to_jsonable
from flowstudio.engine.context import LocalContext


def load_class(module: str, qualname: str) -> type[Node]:
    """Import a node class by name (in a worker: spawned processes import it afresh)."""
    if module == "__main__" or "<locals>" in qualname:
        raise NodeRunError(
            f"node class {qualname} is defined in the script that started the engine or inside a function, "
            "so a worker process cannot import it",
            hint="move the node class to module level in an importable .py file, or run with "
                 "RunOptions(workers=False)")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _check_json(name: str, value: Any) -> None:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise NodeRunError(f"output '{name}' is neither JSON nor an Artifact ({exc})",
                           hint="return text, numbers, lists, dicts or flowstudio.core.values.Artifact") from None


def _remove_scratch(ctx: LocalContext) -> None:
    """The node's scratch dir (in its run dir; the engine has checked that no symlink leads it out)."""
    scratch = ctx.scratch_dir
    if scratch is None:
        return
    if scratch.is_symlink():  # never follow a link planted in a received run dir
        scratch.unlink()
    elif scratch.exists():
        shutil.rmtree(scratch, ignore_errors=True)


def execute_node(task: dict[str, Any], sink: Callable[[dict[str, Any]], None], cancel_event: threading.Event,
                 cls: type[Node] | None = None) -> dict[str, Any]:
    """Run the node described by `task`; return {"ok": True, "outputs", "metrics"} or the error."""
    log_path = Path(task["log_path"])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8", buffering=1) as log:
        lock = threading.Lock()

        def node_sink(event: dict[str, Any]) -> None:
            if event.get("event") == "log":
                with lock:
                    log.write(str(event.get("line", "")).rstrip("\n") + "\n")
            sink(event)

        ctx = None
        try:
            if cls is None:
                cls = load_class(task["module"], task["qualname"])
            params = cls.Params.model_validate(task["params"])
            inputs = PortValues(from_jsonable(task["inputs"]))
            ctx = LocalContext(node_id=task["node_id"], work_dir=Path(task["work_dir"]),
                               checkpoint_dir=Path(task["checkpoint_dir"]), flow_dir=Path(task["flow_dir"]),
                               device=task.get("device", "cpu"), seed=task.get("seed"), sink=node_sink,
                               cancel_event=cancel_event)
            _remove_scratch(ctx)  # left by a killed attempt
            try:
                outputs = cls().run(ctx, inputs, params)
            finally:
                _remove_scratch(ctx)
            if outputs is None:
                outputs = {}
            if not isinstance(outputs, dict):
                raise NodeRunError(f"run() returned {type(outputs).__name__}, not a dict of outputs by port name",
                                   hint="return {'port_name': value, ...}")
            missing = [name for name in task.get("required_outputs", []) if name not in outputs]
            if missing:
                raise NodeRunError(f"run() returned no value for output(s) {', '.join(missing)}",
                                   hint="every connected output needs a value")
            result = {}
            for name, value in outputs.items():
                result[name] = to_jsonable(value)
                _check_json(name, result[name])
            return {"ok": True, "outputs": result, "metrics": dict(ctx.metrics)}
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a result
            if isinstance(exc, KeyboardInterrupt | SystemExit) and not cancel_event.is_set():
                cancelled = False
            else:
                cancelled = isinstance(exc, RunCancelled) or (isinstance(exc, KeyboardInterrupt)
                                                               and cancel_event.is_set())
            tb = traceback.format_exc()
            with lock:
                if cancelled:
                    log.write(f"[flowstudio] stopped: {exc}\n")
                else:
                    log.write(tb)
            return {
                "ok": False,
                "cancelled": cancelled,
                "error_type": type(exc).__name__,
                "node_error": isinstance(exc, NodeRunError),
                "message": str(exc) or type(exc).__name__,
                "hint": getattr(exc, "hint", "") if isinstance(exc, NodeRunError) else "",
                "field": getattr(exc, "field", None) if isinstance(exc, NodeRunError) else None,
                "traceback": tb,
                "metrics": dict(ctx.metrics) if ctx is not None else {},
            }
