"""A tool-using agent over a local chat model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources, TextField
from flowstudio.core.ports import Any as AnyValue
from flowstudio.core.ports import Messages, Model, Number, Text, Tool


class ToolAgent(Node):
    type = "agent.tools"
    title = "Tool agent"
    category = "Chains"
    icon = "mdi6.robot-outline"
    description = ("A local chat model that may call the tools wired into it, sees their results and answers. "
                   "Tools are offered through the model's own tool-calling chat template when it has one, "
                   "otherwise with a JSON convention described in the system prompt.")
    resources = Resources(gpus=1, worker=True, memory_gb=2.0)

    class Inputs(Ports):
        model = Port(Model, "A chat model from model.load or a training node")
        prompt = Port(AnyValue, "The task: text (a user message) or chat messages")
        tools = Port(Tool, "Tools the model may call (connect several)", multiple=True)

    class Outputs(Ports):
        answer = Port(Text, "The final answer (empty when the step limit came first)")
        transcript = Port(Messages, "The whole conversation, tool calls and results included")
        steps = Port(Number, "How many replies the model made")

    class Params(NodeParams):
        system: str = TextField("You are a helpful assistant. Use the tools when they help; do arithmetic with the "
                                "calculator.", "The system prompt (the tools' description is added to it)")
        max_steps: int = Field(6, ge=1, le=100, description="Most model replies before stopping")
        fail_at_step_limit: bool = Field(False, description="Fail the node when no answer came within max_steps "
                                                            "(otherwise answer is empty)")
        tool_format: Literal["auto", "native", "json"] = Field(
            "auto", description="auto: the chat template's tool calling when it has one, else JSON in the prompt")
        max_new_tokens: int = Field(512, ge=1, le=32_768, description="Most tokens per reply")
        temperature: float = Field(0.0, ge=0, le=5, description="0 = greedy (deterministic)")
        top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling (sampling only)")
        seed: int | None = Field(None, ge=0, description="Seed for sampling; without one, sampled runs are not cached")
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Weights precision")

    @classmethod
    def is_cacheable(cls, params: NodeParams) -> bool:
        assert isinstance(params, ToolAgent.Params)
        return params.temperature == 0 or params.seed is not None

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.tools import kinds

        from . import agent_loop as agent
        from .generation import Sampling, as_messages

        tools = []
        for value in inputs.tools or []:
            try:
                tools.append(kinds.check_spec(value))
            except kinds.ToolError as err:
                raise NodeRunError(f"a connected tool is not usable: {err}", field="tools",
                                   hint="connect the tool output of a tool node") from None
        names = [t["name"] for t in tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise NodeRunError(f"two tools share the name {duplicates[0]!r}", field="tools",
                               hint="give each tool node its own name param")
        messages = as_messages(inputs.prompt) or [{"role": "user", "content": str(inputs.prompt)}]
        if params.system.strip() and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": params.system}, *messages]
        sampling = Sampling(max_new_tokens=params.max_new_tokens, temperature=params.temperature,
                            top_p=params.top_p, seed=params.seed)
        model = self.chat_model(ctx, inputs.model, params, sampling)
        ctx.log(f"tools: {', '.join(names) or '(none)'}; format: "
                f"{'native chat template' if model.native_tools else 'JSON in the system prompt'}")

        def on_step(step: int, message: dict[str, Any]) -> None:
            ctx.progress(step, params.max_steps, f"step {step}")
            role = message["role"]
            text = message.get("content") or ""
            if message.get("tool_calls"):
                text = (text + " " if text else "") + " ".join(
                    f"→ {c['function']['name']}({c['function']['arguments']})" for c in message["tool_calls"])
            ctx.log(f"[{step}] {role}: {text}")

        result = agent.run_agent(model, messages, tools, max_steps=params.max_steps, on_step=on_step,
                                 cancelled=ctx.cancelled)
        ctx.metric("steps", result.steps)
        ctx.metric("tool_calls", result.tool_calls)
        if result.stop_reason == "step_limit":
            message = f"no final answer within max_steps={params.max_steps}"
            if params.fail_at_step_limit:
                raise NodeRunError(message, field="max_steps", hint="raise max_steps, or simplify the task "
                                                                    "(the transcript is in the node log)")
            ctx.log("warning: " + message)
        return {"answer": result.answer, "transcript": result.transcript, "steps": result.steps}

    def chat_model(self, ctx: Any, model: Any, params: Params, sampling: Any) -> Any:
        from . import agent_loop as agent
        from .chain import load_for

        meta = dict(getattr(model, "meta", {}) or {})
        plugin = agent.plugin_chat_model(meta, model, tool_format=params.tool_format)
        if plugin is not None:
            return plugin
        loaded = load_for(ctx, model, params.dtype if params.dtype != "auto" else None)
        return agent.HFChatModel(loaded, sampling, params.tool_format, on_text=ctx.stream, cancelled=ctx.cancelled)
