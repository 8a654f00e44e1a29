"""A node that runs under launcher=accelerate without training anything, so the launcher's own machinery (ranks,
events, stop, resume, crashes, cleanup) is tested in seconds. Ranks import it by module name (the launcher passes
the test process's import path on)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError, RunCancelled
from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources
from flowstudio.core.ports import Metrics
from flowstudio.core.registry import NodeRegistry


class RankProbe(Node):
    type = "test.rank_probe"
    title = "Rank probe"
    resources = Resources(worker=True)

    class Outputs(Ports):
        metrics = Port(Metrics)

    class Params(NodeParams):
        launcher: Literal["single", "accelerate"] = "accelerate"
        num_processes: int = Field(2, ge=1)
        accelerate_config: Literal["ddp", "fsdp2", "zero2", "zero3", "file"] = "ddp"
        accelerate_config_file: str = ""
        steps: int = 0
        step_seconds: float = 0.2
        fail_rank: int = -1
        hang: bool = False

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.training.launch.launcher import launch_node, wants_launch

        if wants_launch(ctx, params):
            return launch_node(self, ctx, inputs, params)
        (Path(ctx.checkpoint_dir) / f"pid-{ctx.rank}").write_text(str(os.getpid()))
        if ctx.rank == params.fail_rank:
            raise NodeRunError(f"the probe failed on purpose in rank {ctx.rank}", field="fail_rank",
                               hint="set fail_rank to -1")
        if params.hang:
            time.sleep(600)
        state = Path(ctx.checkpoint_dir) / "state.json"
        start = json.loads(state.read_text())["step"] if state.exists() else 0
        ctx.log(f"rank {ctx.rank} of {ctx.world_size} starts at step {start}")
        for step in range(start, params.steps):
            if ctx.cancelled():  # a collective: every rank gets the same answer at the same step
                with ctx.main_process_first():
                    if ctx.is_main_process:
                        state.write_text(json.dumps({"step": step}))
                (Path(ctx.checkpoint_dir) / f"stopped-{ctx.rank}").write_text(str(step))
                raise RunCancelled(f"stopped at step {step}")
            ctx.progress(step + 1, params.steps)
            time.sleep(params.step_seconds)
        ctx.metric("world_size", ctx.world_size)
        ctx.metric("start_step", start)
        return {"metrics": {"world_size": float(ctx.world_size), "start_step": float(start),
                            "rank": float(ctx.rank)}}


def probe_registry() -> NodeRegistry:
    return NodeRegistry([RankProbe])
