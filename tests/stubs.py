"""Stub node types for testing the core and the engine without torch. Not shipped.

They do real (tiny) work: numbers are added, "models" are directories with a JSON file, the
trainer writes checkpoints and honours cancel, so the engine can be tested end to end.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from flowstudio.core.flow import EdgeSpec, Flow, NodeSpec
from flowstudio.core.node import Node, NodeParams, PathField, Port, Ports, Resources
from flowstudio.core.ports import Any as AnyValue
from flowstudio.core.ports import Dataset, Model, Number, PreferenceDataset, RewardModel, Text
from flowstudio.core.registry import NodeRegistry
from flowstudio.core.values import Artifact


class Const(Node):
    type = "stub.const"
    title = "Constant"
    category = "Stub"

    class Outputs(Ports):
        value = Port(Number)

    class Params(NodeParams):
        value: float = Field(0.0, description="The number")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        return {"value": params.value}


class Add(Node):
    type = "stub.add"
    title = "Add"
    category = "Stub"

    class Inputs(Ports):
        a = Port(Number)
        b = Port(Number, optional=True)

    class Outputs(Ports):
        value = Port(Number)

    class Params(NodeParams):
        bias: float = Field(0.0, ge=-100, le=100, description="Added to the sum")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        return {"value": inputs.a + (inputs.b or 0.0) + params.bias}


class Sum(Node):
    type = "stub.sum"
    title = "Sum"
    category = "Stub"

    class Inputs(Ports):
        values = Port(Number, multiple=True)

    class Outputs(Ports):
        value = Port(Number)

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"value": float(sum(inputs["values"]))}  # inputs.values is Mapping.values


class Echo(Node):
    type = "stub.echo"
    title = "Echo"
    category = "Stub"
    legacy_ids = ("stub.old_echo",)

    class Inputs(Ports):
        value = Port(AnyValue)

    class Outputs(Ports):
        text = Port(Text)

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"text": str(inputs.value)}


class MakeModel(Node):
    """A 'model' is a directory with weights.json; it needs a (fake) GPU when one exists."""

    type = "stub.model"
    title = "Make model"
    category = "Stub"
    resources = Resources(gpus=1, worker=True)

    class Inputs(Ports):
        data = Port(Dataset, optional=True)

    class Outputs(Ports):
        model = Port(Model)

    class Params(NodeParams):
        size: int = Field(4, ge=1, le=1024, description="Number of weights")
        sleep: float = Field(0.0, ge=0, description="Seconds to sleep (to test concurrency)")
        path: str = PathField("", "An optional file the node reads", kind="file")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        started = time.time()
        time.sleep(params.sleep)
        out = Path(ctx.work_dir) / "model"
        out.mkdir(parents=True, exist_ok=True)
        info = {"weights": [0.0] * params.size, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "pid": os.getpid(), "started": started, "finished": time.time()}
        (out / "weights.json").write_text(json.dumps(info))
        return {"model": Artifact("model", str(out), {"size": params.size})}


class Train(Node):
    """Steps slowly, checkpoints every step, stops on cancel and resumes from the last checkpoint."""

    type = "stub.train"
    title = "Train"
    category = "Stub"
    resources = Resources(gpus=1, worker=True)

    class Inputs(Ports):
        model = Port(Model)

    class Outputs(Ports):
        model = Port(Model)

    class Params(NodeParams):
        steps: int = Field(5, ge=1, le=10_000, description="Training steps")
        step_seconds: float = Field(0.0, ge=0, description="Seconds per step")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        ckpt = Path(ctx.checkpoint_dir) / "state.json"
        state = json.loads(ckpt.read_text()) if ckpt.exists() else {"step": 0, "lineage": []}
        if state["step"]:
            state["lineage"].append(state["step"])  # resumed from here
        def save() -> None:  # atomically, like a real checkpoint
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, ckpt)

        while state["step"] < params.steps:
            if ctx.cancelled():
                save()
                from flowstudio.core.errors import RunCancelled

                raise RunCancelled(f"stopped at step {state['step']}")
            time.sleep(params.step_seconds)
            state["step"] += 1
            save()
            ctx.metric("loss", 1.0 / state["step"], step=state["step"])
            ctx.progress(state["step"], params.steps)
        out = Path(ctx.work_dir) / "model"
        out.mkdir(parents=True, exist_ok=True)
        (out / "trained.json").write_text(json.dumps(state))
        return {"model": Artifact("model", str(out), {"steps": state["step"], "lineage": state["lineage"]})}


class Fail(Node):
    type = "stub.fail"
    title = "Fail"
    category = "Stub"
    resources = Resources(worker=True)

    class Inputs(Ports):
        value = Port(AnyValue, optional=True)

    class Outputs(Ports):
        value = Port(Number)

    class Params(NodeParams):
        mode: str = Field("raise", pattern="^(raise|kill|exit|node_error)$",
                          description="raise, kill (SIGKILL itself), exit, or node_error (a NodeRunError)")
        message: str = "stub failure"
        delay: float = Field(0.0, ge=0, description="Seconds to work before failing")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        ctx.log("about to fail")
        print("printed by the failing node", flush=True)
        time.sleep(params.delay)
        if params.mode == "node_error":
            from flowstudio.core.errors import NodeRunError

            raise NodeRunError(params.message, hint="lower the stub's ambition", field="message")
        if params.mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if params.mode == "exit":
            os._exit(3)
        raise RuntimeError(params.message)


class Score(Node):
    type = "stub.score"
    title = "Score"
    category = "Stub"

    class Inputs(Ports):
        reward_model = Port(RewardModel)
        data = Port(PreferenceDataset)

    class Outputs(Ports):
        score = Port(Number)

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"score": 1.0}


class Random(Node):
    """Not cacheable: always runs."""

    type = "stub.random"
    title = "Random"
    category = "Stub"
    cacheable = False

    class Outputs(Ports):
        value = Port(Number)

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"value": float(int.from_bytes(os.urandom(2), "little"))}


class Code(Node):
    """Runs 'code' from the flow file (here: evaluates nothing), so it needs --allow-code."""

    type = "stub.code"
    title = "Code"
    category = "Stub"
    runs_user_code = True

    class Outputs(Ports):
        value = Port(Number)

    class Params(NodeParams):
        source: str = "1 + 1"

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        return {"value": 2.0}


class Warm(Node):
    """Loads an 'expensive' object once per worker process through flowstudio.core.warm."""

    type = "stub.warm"
    title = "Warm"
    category = "Stub"
    cacheable = False
    resources = Resources(worker=True)

    class Inputs(Ports):
        prompt = Port(Text, optional=True)

    class Outputs(Ports):
        info = Port(AnyValue)

    class Params(NodeParams):
        key: str = "model-a"

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.core import warm

        was_warm = warm.is_warm(params.key)
        loaded = warm.get_or_load(params.key, lambda: {"loaded_at": time.time(), "pid": os.getpid()})
        return {"info": {"warm": was_warm, "pid": os.getpid(), "loaded_at": loaded["loaded_at"],
                         "env": {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
                                                                 "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
                                                                 "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")}}}


class Busy(Node):
    """A heavy CPU node (worker, no GPU) that sleeps and records when it ran."""

    type = "stub.busy"
    title = "Busy"
    category = "Stub"
    resources = Resources(worker=True)

    class Inputs(Ports):
        after = Port(AnyValue, optional=True)

    class Outputs(Ports):
        span = Port(AnyValue)

    class Params(NodeParams):
        sleep: float = Field(0.3, ge=0)
        tag: str = ""

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        started = time.time()
        time.sleep(params.sleep)
        return {"span": {"started": started, "finished": time.time(), "pid": os.getpid(), "tag": params.tag}}


class Stream(Node):
    """'Generates' text word by word in a worker, streaming each piece as it goes."""

    type = "stub.stream"
    title = "Stream"
    category = "Stub"
    resources = Resources(worker=True)

    class Outputs(Ports):
        text = Port(Text)

    class Params(NodeParams):
        text: str = "the quick brown fox"

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        pieces = [w + " " for w in params.text.split()]
        for piece in pieces:
            ctx.stream(piece)
        ctx.log(f"generated {len(pieces)} pieces")
        return {"text": "".join(pieces).strip()}


STUB_TYPES: list[type[Node]] = [Const, Add, Sum, Echo, MakeModel, Train, Fail, Score, Random, Code, Warm, Busy,
                                Stream]


def stub_registry() -> NodeRegistry:
    return NodeRegistry(STUB_TYPES)


def make_flow(nodes: list[tuple[str, str, dict[str, Any]]], edges: list[tuple[str, str]]) -> Flow:
    """A small graph builder: nodes as (id, type, params), edges as ("a.out", "b.in")."""
    return Flow(
        name="test",
        nodes=[NodeSpec(id=i, type=t, params=p, position=(100.0 * k, 0.0)) for k, (i, t, p) in enumerate(nodes)],
        edges=[EdgeSpec(source=s, target=d) for s, d in edges],
    )
