"""OpenAI `tools` into a chat prompt and tool calls back out of the reply.

Native: when the chat template renders `tools` (`supports_native_tools`), the function schemas go to
`apply_chat_template(tools=...)`, assistant turns keep `tool_calls` (arguments as dicts) and tool results
stay `tool` messages. Fallback (templates without tools): the tools are listed in the system prompt with
the `<tool_call>{"name", "arguments"}</tool_call>` convention of `agent.tools`, earlier calls are written
back in that form and tool results become user turns in `<tool_response>`. Either way the reply is read
with `agent_loop.parse_reply` (the same parser `agent.tools` uses).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .errors import bad_request

Message = dict[str, Any]

FALLBACK = """You can call these functions:
<tools>
{tools}
</tools>
To call a function, reply with only this, and nothing else:
<tool_call>{{"name": "<function name>", "arguments": {{<arguments as JSON>}}}}</tool_call>
When you can answer without a function, reply with plain text."""


def select_tools(tools: list[dict[str, Any]] | None, tool_choice: Any) -> list[dict[str, Any]]:
    """The function schemas offered to the model ([] when none, or `tool_choice` is "none")."""
    if not tools or tool_choice == "none":
        return []
    schemas = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type", "function") != "function" or not isinstance(fn, dict) or not fn.get("name"):
            raise bad_request(f"tools[{i}] must be {{\"type\": \"function\", \"function\": {{\"name\", ...}}}}",
                              param=f"tools[{i}]")
        schemas.append({"type": "function", "function": fn})
    if isinstance(tool_choice, dict):
        wanted = (tool_choice.get("function") or {}).get("name")
        schemas = [s for s in schemas if s["function"]["name"] == wanted]
        if not schemas:
            raise bad_request(f"tool_choice names {wanted!r}, which is not in tools", param="tool_choice")
    return schemas


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def prepare_messages(messages: list[Message], tools: list[dict[str, Any]], native: bool) -> list[Message]:
    """The conversation as the chat template should see it (see the module docstring)."""
    out: list[Message] = []
    for m in messages:
        m = dict(m)
        if m["role"] == "developer":
            m["role"] = "system"
        calls = m.get("tool_calls") or []
        if native:
            if calls:
                m["tool_calls"] = [{**c, "function": {**c.get("function", {}),
                                                      "arguments": _arguments(c.get("function", {}).get("arguments"))}}
                                   for c in calls]
            out.append(m)
            continue
        if calls:
            written = [json.dumps({"name": c.get("function", {}).get("name"),
                                   "arguments": _arguments(c.get("function", {}).get("arguments"))})
                       for c in calls]
            out.append({"role": "assistant", "content": ((m.get("content") or "") + "".join(
                f"<tool_call>{w}</tool_call>" for w in written)).strip()})
        elif m["role"] in ("tool", "function"):
            text = f"<tool_response>\n{m.get('name') or m.get('tool_call_id') or 'tool'}: {m.get('content') or ''}\n" \
                   "</tool_response>"
            if out and out[-1]["role"] == "user" and str(out[-1]["content"]).startswith("<tool_response>"):
                out[-1] = {"role": "user", "content": out[-1]["content"] + "\n" + text}
            else:
                out.append({"role": "user", "content": text})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    if tools and not native:
        listing = "\n".join(json.dumps(t["function"], ensure_ascii=False) for t in tools)
        instructions = FALLBACK.format(tools=listing)
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{instructions}".strip()}
        else:
            out.insert(0, {"role": "system", "content": instructions})
    return out


def read_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The reply's text without call markup, and its calls in OpenAI's shape (arguments as a JSON string)."""
    from flowstudio.nodes.chains.agent_loop import parse_reply

    parsed = parse_reply(text)
    if parsed.error is not None or not parsed.calls:
        return text, []
    calls = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
              "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
             for c in parsed.calls]
    return parsed.content, calls
