"""Prompt templates with named variables: `{{ name }}` placeholders, everything else literal.

Double braces keep JSON examples in prompts (`{"answer": ...}`) literal, which single-brace
`str.format` templates cannot. `{{{{` writes a literal `{{`.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\{\{|\{\{\s*([^{}]*?)\s*\}\}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def placeholders(template: str) -> list[str]:
    """Every placeholder's inner text in order of first appearance (names and malformed ones alike)."""
    seen: list[str] = []
    for match in _PLACEHOLDER.finditer(template or ""):
        name = match.group(1)
        if name is not None and name not in seen:
            seen.append(name)
    return seen


def variables(*templates: str) -> list[str]:
    """The valid variable names used in the templates, in order of first appearance."""
    names: list[str] = []
    for template in templates:
        for name in placeholders(template):
            if _IDENT.match(name) and name not in names:
                names.append(name)
    return names


def bad_placeholders(*templates: str) -> list[str]:
    return [name for t in templates for name in placeholders(t) if not _IDENT.match(name)]


def to_text(value: Any) -> str:
    """A variable's value as prompt text: strings as is, numbers plainly, everything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, dict) and value.get("__artifact__"):
        return str(value.get("path", ""))
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return "\n".join(f"{m.get('role', '')}: {m['content']}" for m in value)
    return json.dumps(value, ensure_ascii=False)


def render(template: str, values: dict[str, Any]) -> str:
    """Fill the placeholders; a name without a value raises KeyError (the node turns it into a clear error)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "{{{{":
            return "{{"
        name = match.group(1)
        if name not in values:
            raise KeyError(name)
        return to_text(values[name])

    return _PLACEHOLDER.sub(substitute, template or "")
