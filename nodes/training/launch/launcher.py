"""launcher=accelerate: run a training node's own `run` under `accelerate launch` in N processes.

The node (already in a worker process, on the devices the engine gave it) writes a launch spec (its class,
params, inputs as JSON — artifacts are directories, so every rank opens them by path —, work_dir and
checkpoint_dir), then starts

    python -m accelerate.commands.launch --config_file CFG --num_processes N ... \\
        -m flowstudio.nodes.training.launch.entry SPEC

and, until it exits, replays rank 0's events on the engine's context and turns a Stop into the stop file
(every rank stops at the same step boundary and saves a checkpoint in checkpoint_dir; the next run resumes
from it exactly as the single launcher does). Rank 0 saves the outputs in work_dir, same layout as the
single launcher. The whole process tree is killed when the node ends, however it ends.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError, RunCancelled
from flowstudio.core.values import from_jsonable, to_jsonable

from .configs import chosen_config, config_problem
from .supervise import ChildGroup, EventTail, child_env, free_port

POLL_SECONDS = 0.2
ENTRY_MODULE = "flowstudio.nodes.training.launch.entry"


def wants_launch(ctx: Any, params: Any) -> bool:
    """True when the node should hand itself to `accelerate launch` (and is not already inside one)."""
    return getattr(params, "launcher", "single") == "accelerate" and not getattr(ctx, "in_launcher", False)


def launch_problem(node_type: str, params: Any, device: str) -> tuple[str, str, str] | None:
    """(message, field, hint) when this launch cannot work here."""
    problem = config_problem(params.accelerate_config, params.accelerate_config_file)
    if problem is not None:
        return (f"{node_type}: {problem[0]}", problem[1], problem[2])
    n = int(params.num_processes)
    if device.startswith("cuda"):
        visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
        if visible and n > len(visible):
            return (f"{node_type}: num_processes is {n} but the engine gave this node {len(visible)} GPU(s) "
                    f"({','.join(visible)})", "num_processes",
                    f"set num_processes to at most {len(visible)} (one process per GPU)")
    else:
        cores = os.cpu_count() or 1
        if n > max(2, cores):
            return (f"{node_type}: num_processes is {n} on a CPU with {cores} cores", "num_processes",
                    f"use at most {max(2, cores)} processes on this CPU (each holds a copy of the model)")
    return None


def launch_command(config: Path, num_processes: int, port: int, spec: Path) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
            "--num_processes", str(num_processes), "--num_machines", "1", "--machine_rank", "0",
            "--main_process_ip", "127.0.0.1", "--main_process_port", str(port), "--dynamo_backend", "no",
            "-m", ENTRY_MODULE, str(spec)]


def launch_node(node: Any, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
    """Run `node.run` under accelerate in params.num_processes processes; return rank 0's outputs."""
    device = str(getattr(ctx, "device", "cpu"))
    problem = launch_problem(node.type, params, device)
    if problem is not None:
        raise NodeRunError(problem[0], field=problem[1], hint=problem[2])
    if ctx.cancelled():
        raise RunCancelled("stopped before training started")
    launch_dir = Path(ctx.scratch_dir or Path(ctx.work_dir).parent / "scratch").resolve() / "accelerate"
    shutil.rmtree(launch_dir, ignore_errors=True)
    launch_dir.mkdir(parents=True)
    cls = type(node)
    spec = {"module": cls.__module__, "qualname": cls.__qualname__, "node_id": ctx.node_id,
            "params": params.model_dump(mode="json"), "inputs": to_jsonable(dict(inputs.items())),
            "work_dir": str(Path(ctx.work_dir).resolve()), "checkpoint_dir": str(Path(ctx.checkpoint_dir).resolve()),
            "flow_dir": str(Path(getattr(ctx, "flow_dir", ".")).resolve()), "device": device,
            "seed": getattr(ctx, "seed", None), "launch_dir": str(launch_dir)}
    spec_path = launch_dir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    config = chosen_config(params.accelerate_config, params.accelerate_config_file)
    n = int(params.num_processes)
    cmd = launch_command(config, n, free_port(), spec_path)
    ctx.log(f"launching {n} process(es) with accelerate ({params.accelerate_config}: {config.name})"
            + (" on the CPU (gloo)" if not device.startswith("cuda") else ""))
    child = ChildGroup(cmd, child_env(n, list(sys.path)), launch_dir)
    events = EventTail(launch_dir / "events.jsonl")
    stop_sent = False
    try:
        while child.poll() is None:
            events.forward(ctx)
            if not stop_sent and ctx.cancelled():
                (launch_dir / "stop").write_text("stop\n", encoding="utf-8")
                stop_sent = True
                ctx.log("stop requested: every process stops at the end of its current step and saves a "
                        "checkpoint")
            time.sleep(POLL_SECONDS)
        child.wait_output()
        events.forward(ctx)
        return _outcome(launch_dir, child.process.returncode, list(child.tail), n, stop_sent or ctx.cancelled())
    finally:
        child.kill()


def _outcome(launch_dir: Path, code: int, tail: list[str], n: int, stopped: bool) -> dict[str, Any]:
    """Rank 0's outputs; the first rank's error as a NodeRunError; RunCancelled when it was stopped."""
    errors = []
    for path in launch_dir.glob("error-rank-*.json"):
        try:
            errors.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
    if errors:
        first = min(errors, key=lambda e: e.get("time", 0.0))
        where = f"rank {first['rank']} of {n}"
        if first.get("node_error"):
            raise NodeRunError(f"{first['message']} ({where})", hint=first.get("hint", ""),
                               field=first.get("field"))
        raise NodeRunError(f"{where} failed: {first['error_type']}: {first['message']}",
                           hint="the traceback of every rank is in this node's log")
    result_path = launch_dir / "result.json"
    if result_path.exists():
        result = json.loads(result_path.read_text(encoding="utf-8"))
        if result.get("status") == "cancelled":
            raise RunCancelled(str(result.get("message") or "stopped"))
        if code == 0:
            return from_jsonable(result.get("outputs") or {})
    if stopped:
        raise RunCancelled("stopped while the accelerate processes were running")
    last = "\n".join(tail[-12:])
    raise NodeRunError(f"accelerate launch exited with status {code} before rank 0 finished" +
                       (f"; its last output:\n{last}" if last else ""),
                       hint="see this node's log for every rank's output")
