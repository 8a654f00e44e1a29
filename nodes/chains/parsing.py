"""Pulling structured values out of model text: JSON, a regex group, a fenced code block, tool calls."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import safe_regex

_FENCE = re.compile(r"(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+#.\-]*)[^\n]*\n(?P<body>.*?)(?:\n[ \t]*(?P=fence)|\Z)",
                    re.DOTALL)


class ParseError(ValueError):
    """Nothing matched; the message says what was looked for and shows the start of the text."""


def preview(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "...")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block; an unclosed last fence runs to the end of the text."""
    return [(m.group("lang").lower(), m.group("body")) for m in _FENCE.finditer(text)]


def extract_code(text: str, language: str = "", index: int = 0) -> str:
    blocks = code_blocks(text)
    if language:
        wanted = language.lower()
        aliases = {"python": {"python", "py", "python3"}, "json": {"json", "jsonc"}, "bash": {"bash", "sh", "shell"}}
        names = aliases.get(wanted, {wanted})
        blocks = [b for b in blocks if b[0] in names]
    if not blocks:
        what = f"```{language} code block" if language else "fenced code block (```)"
        raise ParseError(f"no {what} in the text: {preview(text)}")
    if index >= len(blocks) or index < -len(blocks):
        raise ParseError(f"the text has {len(blocks)} matching code block(s); block {index} does not exist")
    return blocks[index][1]


def extract_json(text: str, want: str = "any") -> Any:
    """The first JSON value (object or array; `want` "object"/"array" narrows it) in the text.

    Fenced ```json blocks are tried first, then every `{` / `[` from left to right with a real JSON
    decoder (so braces inside strings are handled); the whole text is tried when it is bare JSON.
    """
    openers = {"any": "{[", "object": "{", "array": "["}[want]
    decoder = json.JSONDecoder()
    candidates = [body for lang, body in code_blocks(text) if lang in ("json", "jsonc", "")]
    for body in candidates:
        try:
            value = json.loads(body)
        except ValueError:
            continue
        if _kind_ok(value, want):
            return value
    stripped = text.strip()
    try:
        value = json.loads(stripped)
        if _kind_ok(value, want):
            return value
    except ValueError:
        pass
    for i, ch in enumerate(text):
        if ch in openers:
            try:
                value, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            if _kind_ok(value, want):
                return value
    what = {"any": "JSON object or array", "object": "JSON object", "array": "JSON array"}[want]
    raise ParseError(f"no {what} in the text: {preview(text)}")


def _kind_ok(value: Any, want: str) -> bool:
    if want == "object":
        return isinstance(value, dict)
    if want == "array":
        return isinstance(value, list)
    return isinstance(value, dict | list)


def select_path(value: Any, path: str) -> Any:
    """`answer`, `items.0.name`: follow keys and list indexes through parsed JSON."""
    current = value
    for part in [p for p in path.split(".") if p]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and re.fullmatch(r"-?\d+", part) and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            keys = list(current) if isinstance(current, dict) else f"{len(current)} items" \
                if isinstance(current, list) else type(current).__name__
            raise ParseError(f"the JSON has no {part!r} on the path {path!r} (there: {keys})")
    return current


def compile_regex(pattern: str, ignore_case: bool, multiline: bool, dotall: bool) -> Any:
    """A pattern from the flow file, matched with a time limit (`safe_regex`); raises `safe_regex.error`."""
    return safe_regex.compile_pattern(pattern, ignore_case=ignore_case, multiline=multiline, dotall=dotall)


def extract_regex(text: str, regex: Any, group: str = "", all_matches: bool = False) -> Any:
    """Group `group` (a number or a name; by default the first group, or the whole match without groups).
    A pattern that backtracks past the time limit raises ParseError too."""

    def pick(match: Any) -> str:
        if group == "":
            return match.group(1) if regex.groups else match.group(0)
        key: int | str = int(group) if group.isdigit() else group
        return match.group(key) or ""

    if group and not group.isdigit() and group not in regex.groupindex:
        raise ParseError(f"the pattern has no group named {group!r}")
    if group.isdigit() and int(group) > regex.groups:
        raise ParseError(f"the pattern has {regex.groups} group(s); group {group} does not exist")
    try:
        if all_matches:
            found = [pick(m) for m in safe_regex.finditer(regex, text)]
            if not found:
                raise ParseError(f"the pattern {regex.pattern!r} does not match the text: {preview(text)}")
            return found
        match = safe_regex.search(regex, text)
    except safe_regex.RegexTimeout as err:
        raise ParseError(str(err)) from None
    if match is None:
        raise ParseError(f"the pattern {regex.pattern!r} does not match the text: {preview(text)}")
    return pick(match)


# ------------------------------------------------------------------------------------------ tool calls
#
# What small models really write when asked for `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`:
# the block inside a code fence, a fence inside the block, an unclosed tag, trailing text after the JSON,
# a bare JSON call with a sentence before or after it, OpenAI's {"function": {...}} shape, "parameters"
# for "arguments", arguments as a JSON string. All of these are read; what cannot be read is an error
# the agent loop hands back to the model.

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
_CALL_START = re.compile(r'[\[{]\s*\{?\s*"(?:name|tool|function|type)"\s*:')
_CALL_KEY = re.compile(r'"(?:name|tool|function)"\s*:')


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


def _as_call(obj: Any, index: int) -> ToolCall:
    """One call from the shapes models write: {"name", "arguments"|"parameters"|"args"}, OpenAI's
    {"function": {...}}, or {"tool", "arguments"}. Raises ValueError when it is none of them."""
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


def _first_json(text: str) -> tuple[Any, int, int]:
    """The JSON value that starts at the first `{` or `[` of `text`, with its (start, end); text after it
    is ignored. Raises ValueError (the decoder's message) when it is not valid JSON."""
    start = next((i for i, ch in enumerate(text) if ch in "{["), None)
    if start is None:
        raise ValueError("there is no JSON object in it")
    value, end = json.JSONDecoder().raw_decode(text, start)
    return value, start, end


def _unfence(text: str) -> str:
    blocks = code_blocks(text)
    return blocks[0][1] if blocks else text


def _calls(value: Any, first_id: int) -> list[ToolCall]:
    items = value if isinstance(value, list) else [value]
    return [_as_call(item, first_id + i) for i, item in enumerate(items)]


def _unreadable(text: str, err: Exception) -> str:
    return f"could not read the tool call {text[:200]!r}: {err}"


def parse_tool_reply(text: str, first_id: int = 1) -> ParsedReply:
    """Tool calls in a model's reply: `<tool_call>` blocks (Hermes/Qwen/SmolLM style, fenced or not,
    closed or not), or a JSON call (Llama 3 style) alone, fenced, or with text around it. A reply without
    any of these is a final answer (`calls` empty, `error` None)."""
    blocks = _TOOL_CALL.findall(text)
    if blocks:
        calls: list[ToolCall] = []
        for block in blocks:
            body = _unfence(block).strip()
            try:
                value, _, _ = _first_json(body)
                calls += _calls(value, first_id + len(calls))
            except ValueError as err:
                return ParsedReply(text, error=_unreadable(body, err))
        content = _TOOL_CALL.sub("", text)
        return ParsedReply(re.sub(r"```\w*\s*```", "", content).strip(), calls)
    for lang, body in code_blocks(text):  # a JSON call in a fence, with or without text around it
        if lang in ("", "json", "jsonc", "tool_call") and _CALL_KEY.search(body) and body.strip()[:1] in "{[":
            try:
                value, _, _ = _first_json(body)
                return ParsedReply(_FENCE.sub("", text).strip(), _calls(value, first_id))
            except ValueError as err:
                return ParsedReply(text, error=_unreadable(body.strip(), err))
    match = _CALL_START.search(text)
    if match is not None and _CALL_KEY.search(text, match.start()):
        try:
            value, start, end = _first_json(text[match.start():])
        except ValueError as err:
            if match.start() == len(text) - len(text.lstrip()):  # the reply starts with it: a broken call
                return ParsedReply(text, error=_unreadable(text.strip(), err))
            return ParsedReply(text)
        try:
            calls = _calls(value, first_id)
        except ValueError as err:
            return ParsedReply(text, error=_unreadable(text.strip(), err))
        rest = (text[:match.start()] + text[match.start() + end:]).strip()
        return ParsedReply(rest, calls)
    return ParsedReply(text)
