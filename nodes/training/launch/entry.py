"""What `accelerate launch -m flowstudio.nodes.training.launch.entry SPEC` runs in every rank.

It rebuilds the node's params and inputs from the launch spec (written by `launcher.py`) and calls the
node's own `run` with a `RankContext`: the same training code as the single-process launcher, not a copy.
Rank 0 writes `result.json` (the outputs, or "cancelled"); a rank that fails writes `error-rank-R.json`
(and its traceback to stderr, which ends in the node's log) and exits 1, which makes torch's elastic agent
stop the other ranks.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError, RunCancelled
from flowstudio.core.node import PortValues
from flowstudio.core.values import from_jsonable, to_jsonable

from .supervise import die_with_parent


def _node_class(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, allow_nan=True), encoding="utf-8")
    os.replace(tmp, path)


def _error_record(exc: BaseException, rank: int) -> dict[str, Any]:
    node_error = isinstance(exc, NodeRunError)
    return {"rank": rank, "time": time.time(), "error_type": type(exc).__name__, "node_error": node_error,
            "message": str(exc) or type(exc).__name__, "hint": getattr(exc, "hint", "") if node_error else "",
            "field": getattr(exc, "field", None) if node_error else None, "traceback": traceback.format_exc()}


def run_rank(spec_path: Path) -> int:
    """Run the node in this rank; the exit status (0 for done or stopped, 1 for an error)."""
    die_with_parent()  # the launcher is gone (killed with the worker): so are we
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    launch_dir = Path(spec["launch_dir"])
    rank = int(os.environ.get("RANK", "0"))
    ctx = None
    try:
        from accelerate import PartialState

        state = PartialState(cpu=spec.get("device", "cpu") == "cpu")
        rank = int(state.process_index)
        from .rank_context import RankContext

        ctx = RankContext(spec, state)
        cls = _node_class(spec["module"], spec["qualname"])
        params = cls.Params.model_validate(spec["params"])
        inputs = PortValues(from_jsonable(spec["inputs"]))
        outputs = cls().run(ctx, inputs, params)
        if ctx.is_main_process:
            _write_json(launch_dir / "result.json", {"status": "done", "outputs": to_jsonable(outputs or {})})
        return 0
    except RunCancelled as exc:
        if ctx is not None and ctx.is_main_process:
            _write_json(launch_dir / "result.json", {"status": "cancelled", "message": str(exc)})
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the node, with its rank
        traceback.print_exc()
        _write_json(launch_dir / f"error-rank-{rank}.json", _error_record(exc, rank))
        return 1
    finally:
        if ctx is not None:
            ctx.close()
        sys.stdout.flush()
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: accelerate launch -m flowstudio.nodes.training.launch.entry SPEC.json", file=sys.stderr)
        return 2
    return run_rank(Path(args[0]))


if __name__ == "__main__":
    code = main()
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001, S110 - exiting anyway
        pass
    sys.exit(code)
