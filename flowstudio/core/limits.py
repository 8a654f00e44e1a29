"""Limits that keep a broken or hostile flow file from hanging FlowStudio or exhausting its memory,
and the checks for values that would load but fail later (when a run writes them or names a directory).

The numbers are documented in docs/flow-format.md ("Limits").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

MAX_FLOW_FILE_BYTES = 32 * 1024 * 1024
"""A flow file larger than this is refused before it is read (real flows are kilobytes; 20,000 small
nodes with their edges are about 4 MB). Parsing the largest file allowed peaks at about 1 GB in the
worst case (a list of millions of empty objects), a few hundred MB for other content."""

MAX_FLOW_ERRORS = 50
"""Loading stops after this many errors: a file of a million bad nodes costs no more than 50."""

MAX_NODE_ID_LENGTH = 64
"""Node ids name directories in a run (`nodes/<id>/`); 64 characters leave room in any path. The app
generates ids well within it (the type's last part, cut to 56, plus `_N`); every template is under 12."""

MAX_MESSAGE_CHARS = 1000
"""A problem's message or hint quotes user values; longer quotes are shortened to this."""

_CHECKED = frozenset({str, float, dict, list, tuple})  # what json_value_problem looks into


def clip(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters, with an ellipsis and the count when cut."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(f"… ({len(text):,} more characters)"))  # room for the note
    return text[:keep] + f"… ({len(text) - keep:,} more characters)"


def text_problem(text: str) -> str | None:
    """Why `text` cannot be written as UTF-8 (a lone surrogate), or None when it can."""
    if text.isascii():  # a flag check: free
        return None
    try:
        text.encode("utf-8")  # C speed; the copy is temporary
    except UnicodeEncodeError as exc:
        return (f"holds text that is not valid Unicode (a lone surrogate \\u{ord(text[exc.start]):04x} at "
                f"character {exc.start}) and cannot be saved as UTF-8")
    return None


def _loc(parent: str | None, key: object) -> str:
    """Where a child is: `parent.key` or `parent[3]`; the top value is called by its own name."""
    if parent is None:
        return str(key)
    if isinstance(key, int):
        return f"{parent}[{key}]"
    name = clip(str(key), 40)
    return f"{parent}.{name}" if parent else name


def value_problem(value: Any, where: str = "") -> tuple[str, str] | None:
    """The first part of a JSON value that a flow file cannot hold, as (location, reason): a number that
    is not finite, or text that is not valid Unicode. The location starts with `where` ("" for the value
    itself); None when the whole value is fine.

    The walk is iterative and lazy: a list of millions of items costs time, not memory."""
    stack: list[tuple[str | None, Iterator[tuple[object, Any]]]] = [(None, iter([(where, value)]))]
    while stack:
        parent, children = stack[-1]
        step = next(children, None)
        if step is None:
            stack.pop()
            continue
        key, item = step
        kind = type(item)
        if kind is str:
            if problem := text_problem(item):
                return _loc(parent, key), problem
        elif kind is float:
            if not math.isfinite(item):
                return _loc(parent, key), f"is {item}, not a finite number (flow files hold finite numbers only)"
        elif kind is dict:
            loc = _loc(parent, key)
            for name in item:
                if isinstance(name, str) and (problem := text_problem(name)):
                    return loc, f"has a key that {problem}"
            stack.append((loc, ((k, v) for k, v in item.items() if type(v) in _CHECKED)))
        elif kind is list or kind is tuple:
            stack.append((_loc(parent, key), ((i, v) for i, v in enumerate(item) if type(v) in _CHECKED)))
    return None


def json_value_problem(value: Any, where: str = "") -> str | None:
    """`value_problem` as one sentence ("params.lr is inf, not a finite number ..."), or None."""
    found = value_problem(value, where)
    if found is None:
        return None
    loc, reason = found
    return f"{loc or 'the value'} {reason}"
