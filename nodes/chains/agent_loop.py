"""The tool-using agent loop, independent of where the model runs.

A `ChatModel` answers a conversation with raw text. The loop offers the tools (natively through the
chat template when the model has tool support, otherwise described in the system prompt with a JSON
calling convention), parses tool calls out of each reply, runs them, feeds results back, and stops at
a reply without calls (the answer) or at the step limit. Malformed calls, unknown tools, bad arguments
and failing tools all come back to the model as error messages; none of them ends the run.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowstudio.nodes.tools import kinds

Message = dict[str, Any]

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
_FENCED = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)


class ChatModel(Protocol):
    native_tools: bool  # whether `respond` passes `tools` to the chat template itself

    def respond(self, messages: list[Message], tools: list[dict[str, Any]]) -> str: ...


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: Any


@dataclass
class ParsedReply:
    content: str  # the reply without its tool-call markup
    calls: list[ToolCall] = field(default_factory=list)
    error: str | None = None  # the reply tried to call a tool but the call could not be read


@dataclass
class AgentResult:
    answer: str
    transcript: list[Message]
    steps: int
    tool_calls: int
    stop_reason: str  # "answer" or "step_limit"


FALLBACK_INSTRUCTIONS = """You can use these tools:
<tools>
{tools}
</tools>
To call a tool, reply with only this, and nothing else:
<tool_call>{{"name": "<tool name>", "arguments": {{<arguments as JSON>}}}}</tool_call>
The result comes back in the next message. When you have the answer, reply with it as plain text, without <tool_call>."""


# ------------------------------------------------------------------------------------------- parsing


def _as_call(obj: Any, index: int) -> ToolCall:
    """One call from the shapes models write: {"name", "arguments"|"parameters"|"args"}, OpenAI's
    {"function": {...}}, or our fallback's {"tool", "arguments"}. Raises ValueError when it is none of them."""
    if not isinstance(obj, dict):
        raise ValueError(f"a tool call must be a JSON object, got {type(obj).__name__}")
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name", obj.get("tool"))
    if not isinstance(name, str) or not name:
        raise ValueError('the tool call has no "name"')
    args = obj.get("arguments", obj.get("parameters", obj.get("args", {})))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError as err:
            raise ValueError(f'the "arguments" of {name} are not valid JSON: {err}') from None
    return ToolCall(f"call_{index}", name, args)


def _calls_from_json(text: str, start: int) -> list[ToolCall]:
    value = json.loads(text)
    items = value if isinstance(value, list) else [value]
    return [_as_call(item, start + i) for i, item in enumerate(items)]


def parse_reply(text: str, first_id: int = 1) -> ParsedReply:
    """Tool calls in a reply: `<tool_call>` blocks (Hermes/Qwen/SmolLM style) or a reply that is only a
    JSON call (Llama 3 style, optionally fenced). Anything else is a final answer."""
    blocks = _TOOL_CALL.findall(text)
    if blocks:
        calls: list[ToolCall] = []
        for block in blocks:
            try:
                calls += _calls_from_json(block, first_id + len(calls))
            except ValueError as err:
                return ParsedReply(text, error=f"could not read the tool call {block[:200]!r}: {err}")
        return ParsedReply(_TOOL_CALL.sub("", text).strip(), calls)
    stripped = text.strip()
    fenced = _FENCED.match(stripped)
    body = fenced.group(1).strip() if fenced else stripped
    if body[:1] in "{[" and re.search(r'"(name|tool|function)"\s*:', body):
        try:
            return ParsedReply("", _calls_from_json(body, first_id))
        except ValueError as err:
            return ParsedReply(text, error=f"could not read the tool call {body[:200]!r}: {err}")
    return ParsedReply(text)


# ---------------------------------------------------------------------------------------------- loop


def _error_text(message: str) -> str:
    return f"Error: {message}"


def run_agent(model: ChatModel, prompt: list[Message], tools: list[kinds.ToolSpec], *, max_steps: int,
              on_step: Callable[[int, Message], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> AgentResult:
    """Talk with `model` until it answers without calling a tool, or `max_steps` replies have been made."""
    by_name = {t["name"]: t for t in tools}
    names = ", ".join(by_name) or "(none)"
    schemas = [kinds.function_schema(t) for t in tools]
    messages = [dict(m) for m in prompt]
    if not model.native_tools and tools:
        messages = _with_instructions(messages, FALLBACK_INSTRUCTIONS.format(tools=kinds.describe_tools(tools)))
    next_id, n_calls = 1, 0

    def add(message: Message) -> None:
        messages.append(message)
        if on_step is not None:
            on_step(step, message)

    for step in range(1, max_steps + 1):
        if cancelled is not None and cancelled():
            from flowstudio.core.errors import RunCancelled

            raise RunCancelled(f"stopped at step {step}")
        reply = model.respond(messages, schemas if model.native_tools else [])
        parsed = parse_reply(reply, next_id)
        if parsed.error is not None:
            add({"role": "assistant", "content": reply})
            how = ("call the tool again with valid JSON" if model.native_tools else
                   'call a tool as <tool_call>{"name": ..., "arguments": {...}}</tool_call>')
            add({"role": "user", "content": _error_text(f"{parsed.error}. Please {how}, or answer in plain text.")})
            continue
        if not parsed.calls:
            add({"role": "assistant", "content": reply})
            return AgentResult(reply.strip(), messages, step, n_calls, "answer")
        next_id += len(parsed.calls)
        add(_assistant_with_calls(model, reply, parsed))
        results: list[tuple[ToolCall, str]] = []
        for call in parsed.calls:
            n_calls += 1
            spec = by_name.get(call.name)
            if spec is None:
                result = _error_text(f"unknown tool {call.name!r}; the tools are: {names}")
            else:
                try:
                    result = kinds.call_tool(spec, call.arguments)
                except kinds.ToolError as err:
                    result = _error_text(str(err))
                except Exception as err:  # a tool kind's own bug must not end the conversation
                    result = _error_text(f"{call.name} failed: {type(err).__name__}: {err}")
            results.append((call, result))
        if model.native_tools:
            for call, result in results:
                add({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result})
        else:  # one user turn for all results: templates without tool roles expect turns to alternate
            add({"role": "user", "content": "\n".join(f"<tool_response>\n{call.name}: {result}\n</tool_response>"
                                                       for call, result in results)})
    return AgentResult("", messages, max_steps, n_calls, "step_limit")


def _with_instructions(messages: list[Message], instructions: str) -> list[Message]:
    if messages and messages[0]["role"] == "system":
        first = dict(messages[0])
        first["content"] = f"{first['content']}\n\n{instructions}".strip()
        return [first, *messages[1:]]
    return [{"role": "system", "content": instructions}, *messages]


def _assistant_with_calls(model: ChatModel, reply: str, parsed: ParsedReply) -> Message:
    if not model.native_tools:
        return {"role": "assistant", "content": reply}
    return {"role": "assistant", "content": parsed.content,
            "tool_calls": [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                           for c in parsed.calls]}


# ------------------------------------------------------------------------------------------- backends


class HFChatModel:
    """A transformers causal LM as a ChatModel (the generation is shared with chain.generate)."""

    def __init__(self, loaded: Any, sampling: Any, tool_format: str = "auto",
                 on_text: Callable[[str], None] | None = None, cancelled: Callable[[], bool] | None = None) -> None:
        from .generation import supports_native_tools

        self.loaded = loaded
        self.sampling = sampling
        self.on_text = on_text
        self.cancelled = cancelled
        native = supports_native_tools(loaded.tokenizer)
        self.native_tools = native if tool_format == "auto" else tool_format == "native"
        self.last: Any = None

    def respond(self, messages: list[Message], tools: list[dict[str, Any]]) -> str:
        from .generation import generate, render_prompt

        prompt, chat = render_prompt(self.loaded.tokenizer, _template_safe(messages), tools=tools or None)
        if self.last is not None and self.on_text is not None:
            self.on_text("\n\n")  # the streamed text of one reply ends before the next begins
        self.last = generate(self.loaded, prompt, self.sampling, chat=chat, on_text=self.on_text,
                             cancelled=self.cancelled)
        return self.last.text


def _template_safe(messages: list[Message]) -> list[Message]:
    """Arguments as dicts (what HF templates expect); tool results as plain strings."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            m["tool_calls"] = [{**c, "function": {**c["function"], "arguments": c["function"]["arguments"]
                                                  if isinstance(c["function"]["arguments"], dict) else {}}}
                               for c in m["tool_calls"]]
        out.append(m)
    return out


def plugin_chat_model(meta: dict[str, Any], artifact: Any, **kwargs: Any) -> ChatModel | None:
    """A ChatModel from an installed plugin: a Model artifact whose meta names `chat_backend` as
    "package.module:factory" (set by the plugin's own node, never by a flow file) is served by
    `factory(artifact, **kwargs)` instead of transformers."""
    target = meta.get("chat_backend")
    if not target:
        return None
    module_name, _, attr = str(target).partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(artifact, **kwargs)
