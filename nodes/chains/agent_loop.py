"""The tool-using agent loop, independent of where the model runs.

A `ChatModel` answers a conversation with raw text. The loop offers the tools (natively through the
chat template when the model has tool support, otherwise described in the system prompt with a JSON
calling convention), parses tool calls out of each reply, runs them, feeds results back, and stops at
a reply without calls (the answer) or at the step limit. Malformed calls, unknown tools, bad arguments
and failing tools all come back to the model as error messages; none of them ends the run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flowstudio.nodes.tools import kinds

from .parsing import ParsedReply, ToolCall, parse_tool_reply

Message = dict[str, Any]

__all__ = ["FALLBACK_INSTRUCTIONS", "AgentResult", "AgentSession", "ChatModel", "HFChatModel", "ParsedReply",
           "ToolCall", "parse_reply", "run_agent", "run_agents", "start_conversation"]


class ChatModel(Protocol):
    native_tools: bool  # whether `respond` passes `tools` to the chat template itself

    def respond(self, messages: list[Message], tools: list[dict[str, Any]]) -> str: ...


@dataclass
class AgentResult:
    answer: str
    transcript: list[Message]
    steps: int
    tool_calls: int  # calls read from the replies (to known tools or not)
    stop_reason: str  # "answer", "step_limit" or "context_full"
    malformed: int = 0  # unreadable calls, unknown tools, invalid arguments: each was sent back as an error
    tools_ran: int = 0  # well-formed calls: a known tool with valid arguments, so the tool ran
    tool_errors: int = 0  # well-formed calls the tool itself refused (e.g. division by zero)


FALLBACK_INSTRUCTIONS = """You can use these tools:
<tools>
{tools}
</tools>
To call a tool, reply with only the call, like this:
<tool_call>{example}</tool_call>
The result comes back in the next message. When you have the answer, reply with it as plain text."""


def describe_tools(tools: Sequence[kinds.ToolSpec]) -> str:
    """The tools, one line each, for models without native tool calling: name(arguments): description.
    Short on purpose: on a small model every prompt token is paid for in every step and training row."""
    lines = []
    for spec in tools:
        schema = spec.get("parameters") or {}
        required = set(schema.get("required", []))
        props = schema.get("properties", {})
        args = ", ".join(f"{name}: {(p or {}).get('type', 'any')}" + ("" if name in required else " (optional)")
                         for name, p in props.items())
        lines.append(f"{spec['name']}({args}): {spec.get('description', '')}".strip())
    return "\n".join(lines)


def instructions(tools: Sequence[kinds.ToolSpec]) -> str:
    """The JSON calling convention, with the tools and an example call of the first one."""
    return FALLBACK_INSTRUCTIONS.format(tools=describe_tools(tools), example=call_example(tools[0], native=True))


def parse_reply(text: str, first_id: int = 1) -> ParsedReply:
    """Tool calls in a reply (see `parsing.parse_tool_reply`); anything else is a final answer."""
    return parse_tool_reply(text, first_id)


# ---------------------------------------------------------------------------------------------- loop


def _error_text(message: str) -> str:
    return f"Error: {message}"


def start_conversation(prompt: Sequence[Message], tools: list[kinds.ToolSpec], native: bool) -> list[Message]:
    """The messages the model sees first: without native tool support the tools and the calling convention
    are added to the system prompt. Training data for the agent (`data.tool_use`) starts the same way."""
    messages = [dict(m) for m in prompt]
    if not native and tools:
        messages = _with_instructions(messages, instructions(tools))
    return messages


def call_example(spec: kinds.ToolSpec, native: bool) -> str:
    """How a correct call of this tool looks, for error messages: placeholders typed by its schema."""
    import json

    props = (spec.get("parameters") or {}).get("properties", {})
    args = {name: f"<{(p or {}).get('type', 'value')}>" for name, p in props.items()}
    call = json.dumps({"name": spec["name"], "arguments": args}, ensure_ascii=False)
    return call if native else f"<tool_call>{call}</tool_call>"


class AgentSession:
    """One conversation of the loop, fed one model reply at a time, so that many conversations can be
    stepped together (`run_agents` generates their replies in batches)."""

    def __init__(self, prompt: Sequence[Message], tools: list[kinds.ToolSpec], native: bool, max_steps: int,
                 on_step: Callable[[int, Message], None] | None = None) -> None:
        self.by_name = {t["name"]: t for t in tools}
        self.schemas = [kinds.function_schema(t) for t in tools]
        self.native = native
        self.max_steps = max_steps
        self.on_step = on_step
        self.messages = start_conversation(prompt, tools, native)
        self.step, self.next_id = 0, 1
        self.n_calls = self.malformed = self.ran = self.tool_errors = 0
        self.result: AgentResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    def tools_for_model(self) -> list[dict[str, Any]]:
        return self.schemas if self.native else []

    def _add(self, message: Message) -> None:
        self.messages.append(message)
        if self.on_step is not None:
            self.on_step(self.step, message)

    def _finish(self, answer: str, reason: str) -> None:
        self.result = AgentResult(answer, self.messages, self.step, self.n_calls, reason, self.malformed,
                                  self.ran, self.tool_errors)

    def stop(self, reason: str) -> None:
        """End the conversation without an answer (e.g. "context_full": the next prompt would not fit)."""
        self._finish("", reason)

    def feed(self, reply: str) -> None:
        """Take the model's next reply: an answer ends the conversation; calls are run and their results
        (or errors the model can act on) are added; the step limit ends it without an answer."""
        if self.done:
            raise RuntimeError("the conversation has ended")
        self.step += 1
        parsed = parse_reply(reply, self.next_id)
        if parsed.error is not None:
            self.malformed += 1
            self._add({"role": "assistant", "content": reply})
            how = ("call the tool again with valid JSON" if self.native else
                   'call a tool as <tool_call>{"name": ..., "arguments": {...}}</tool_call>')
            self._add({"role": "user", "content": _error_text(f"{parsed.error}. Please {how}, or answer in "
                                                              "plain text.")})
        elif not parsed.calls:
            self._add({"role": "assistant", "content": reply})
            self._finish(reply.strip(), "answer")
            return
        else:
            self.next_id += len(parsed.calls)
            self._add(_assistant_with_calls(self.native, reply, parsed))
            self._add_results([(call, self._run(call)) for call in parsed.calls])
        if self.step >= self.max_steps:
            self._finish("", "step_limit")

    def _run(self, call: ToolCall) -> str:
        self.n_calls += 1
        spec = self.by_name.get(call.name)
        if spec is None:
            self.malformed += 1
            names = ", ".join(self.by_name) or "(none)"
            return _error_text(f"unknown tool {call.name!r}; the tools are: {names}")
        problems = kinds.argument_problems(spec, call.arguments)
        if problems:
            self.malformed += 1
            return _error_text(f"bad arguments for {call.name}: {'; '.join(problems)}. Call it as "
                               f"{call_example(spec, self.native)}")
        self.ran += 1
        try:
            return kinds.call_tool(spec, call.arguments)
        except kinds.ToolError as err:
            self.tool_errors += 1
            return _error_text(str(err))
        except Exception as err:  # a tool kind's own bug must not end the conversation
            self.tool_errors += 1
            return _error_text(f"{call.name} failed: {type(err).__name__}: {err}")

    def _add_results(self, results: list[tuple[ToolCall, str]]) -> None:
        if self.native:
            for call, result in results:
                self._add({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result})
        else:  # one user turn for all results: templates without tool roles expect turns to alternate
            self._add({"role": "user", "content": tool_responses([(c.name, r) for c, r in results])})


def tool_responses(results: Sequence[tuple[str, str]]) -> str:
    """Tool results as the JSON-convention user turn: one `<tool_response>` block per call."""
    return "\n".join(f"<tool_response>\n{name}: {result}\n</tool_response>" for name, result in results)


def _check_cancel(cancelled: Callable[[], bool] | None, step: int) -> None:
    if cancelled is not None and cancelled():
        from flowstudio.core.errors import RunCancelled

        raise RunCancelled(f"stopped at step {step}")


def run_agent(model: ChatModel, prompt: list[Message], tools: list[kinds.ToolSpec], *, max_steps: int,
              on_step: Callable[[int, Message], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> AgentResult:
    """Talk with `model` until it answers without calling a tool, or `max_steps` replies have been made."""
    session = AgentSession(prompt, tools, model.native_tools, max_steps, on_step)
    while session.result is None:
        _check_cancel(cancelled, session.step + 1)
        session.feed(model.respond(session.messages, session.tools_for_model()))
    return session.result


def run_agents(model: ChatModel, prompts: Sequence[list[Message]], tools: list[kinds.ToolSpec], *, max_steps: int,
               batch_size: int = 8, cancelled: Callable[[], bool] | None = None,
               progress: Callable[[int, int], None] | None = None) -> list[AgentResult]:
    """`run_agent` over many prompts, stepped together: each round generates the next reply of every open
    conversation, `batch_size` at a time through the model's `respond_many` when it has one. A
    `respond_many` may answer None for a conversation whose prompt no longer fits the model's context;
    that conversation ends with stop_reason "context_full"."""
    sessions = [AgentSession(p, tools, model.native_tools, max_steps) for p in prompts]
    many = getattr(model, "respond_many", None)
    step = 0
    while open_ := [s for s in sessions if s.result is None]:
        step += 1
        for i in range(0, len(open_), batch_size):
            _check_cancel(cancelled, step)
            chunk = open_[i:i + batch_size]
            schemas = chunk[0].tools_for_model()
            replies: list[str | None] = (many([s.messages for s in chunk], schemas) if many is not None
                                         else [model.respond(s.messages, schemas) for s in chunk])
            for session, reply in zip(chunk, replies, strict=True):
                if reply is None:
                    session.stop("context_full")
                else:
                    session.feed(reply)
        if progress is not None:
            progress(sum(s.result is not None for s in sessions), len(sessions))
    return [s.result for s in sessions if s.result is not None]


def _with_instructions(messages: list[Message], instructions: str) -> list[Message]:
    if messages and messages[0]["role"] == "system":
        first = dict(messages[0])
        first["content"] = f"{first['content']}\n\n{instructions}".strip()
        return [first, *messages[1:]]
    return [{"role": "system", "content": instructions}, *messages]


def _assistant_with_calls(native: bool, reply: str, parsed: ParsedReply) -> Message:
    if not native:
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

    def respond_many(self, conversations: Sequence[list[Message]], tools: list[dict[str, Any]]) -> list[str | None]:
        """Replies to several conversations in one batched `generate` (None: the prompt does not fit)."""
        from .generation import render_prompt

        rendered = [render_prompt(self.loaded.tokenizer, _template_safe(m), tools=tools or None)
                    for m in conversations]
        return generate_many(self.loaded, [text for text, _ in rendered], self.sampling,
                             chat=all(chat for _, chat in rendered), cancelled=self.cancelled)


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    n = min(len(r) for r in rows)
    first = rows[0]
    for i in range(n):
        if any(r[i] != first[i] for r in rows[1:]):
            return i
    return n


def generate_many(loaded: Any, texts: Sequence[str], sampling: Any, *, chat: bool = True,
                  cancelled: Callable[[], bool] | None = None) -> list[str | None]:
    """Continuations of `texts` in one `generate` call, with the prompts' shared beginning computed once.

    The token prefix every prompt shares (an agent's system prompt and tool list) is run once and its KV
    cache repeated over the batch; each row is then [prefix][padding][own tokens], the padding masked out
    and positions counted over real tokens, so every row sees exactly its own prompt (the same as the
    usual left padding, with the prefix not recomputed per row). Greedy rows give what one-by-one
    `generate` gives. A prompt that leaves no room in the model's context gets None.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from .generation import generation_kwargs

    tok, model = loaded.tokenizer, loaded.model
    ids = [tok(t, add_special_tokens=not chat)["input_ids"] for t in texts]
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    fits = [i for i, row in enumerate(ids) if not (isinstance(limit, int) and limit > 0 and len(row) >= limit)]
    out: list[str | None] = [None] * len(texts)
    if not fits:
        return out
    rows = [ids[i] for i in fits]
    max_new = sampling.max_new_tokens
    if isinstance(limit, int) and limit > 0:
        max_new = max(1, min(max_new, limit - max(len(r) for r in rows)))
    shared = min(_common_prefix(rows), min(len(r) for r in rows) - 1) if len(rows) > 1 else 0
    width = max(len(r) - shared for r in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    batch = [r[:shared] + [pad] * (width - len(r) + shared) + r[shared:] for r in rows]
    mask = [[1] * shared + [0] * (width - len(r) + shared) + [1] * (len(r) - shared) for r in rows]
    device = model.device
    input_ids = torch.tensor(batch, device=device)
    attention = torch.tensor(mask, device=device)
    kwargs = {**generation_kwargs(loaded, sampling), "max_new_tokens": max_new}

    class _Stop(StoppingCriteria):
        def __call__(self, seq: Any, scores: Any, **kw: Any) -> Any:
            done = cancelled is not None and cancelled()
            return torch.full((seq.shape[0],), done, dtype=torch.bool, device=seq.device)

    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    with torch.inference_mode():
        if shared:
            cache = model(input_ids=input_ids[:1, :shared], use_cache=True).past_key_values
            cache.batch_repeat_interleave(len(rows))
            kwargs["cache"] = cache
        output = model.generate(input_ids=input_ids, attention_mask=attention,
                                stopping_criteria=StoppingCriteriaList([_Stop()]), **kwargs)
    for j, row in enumerate(output[:, input_ids.shape[1]:]):
        out[fits[j]] = tok.decode(row, skip_special_tokens=True)
    return out


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
