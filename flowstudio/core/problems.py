"""Validation problems: errors as values with an address (node, port or field), a message and a hint."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from .limits import MAX_MESSAGE_CHARS, clip

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    node_id: str | None = None
    field: str | None = None  # a param name or a port name
    hint: str = ""
    severity: Severity = "error"

    def __post_init__(self) -> None:
        """Messages quote user values; a megabyte of them must not reach a dialog or a terminal."""
        for name in ("message", "hint", "node_id", "field"):
            value = getattr(self, name)
            if isinstance(value, str) and len(value) > MAX_MESSAGE_CHARS:
                object.__setattr__(self, name, clip(value, MAX_MESSAGE_CHARS))

    def format(self, source: str | None = None) -> str:
        """One line: `file: node 'sft', field 'lr': message (hint: ...)`."""
        parts = []
        if source:
            parts.append(f"{source}:")
        where = []
        if self.node_id is not None:
            where.append(f"node '{self.node_id}'")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        if where:
            parts.append(", ".join(where) + ":")
        parts.append(self.message)
        text = " ".join(parts)
        if self.hint:
            text += f" (hint: {self.hint})"
        if self.severity == "warning":
            text = "warning: " + text
        return text

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
