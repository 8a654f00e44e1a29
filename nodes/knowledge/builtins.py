"""Knowledge data FlowStudio ships: a frozen copy of its own docs and questions labelled on them."""

from __future__ import annotations

from pathlib import Path

from flowstudio.core.errors import NodeRunError
from flowstudio.core.paths import BUILTIN_PREFIX, assets_dir

BUILTIN_CORPORA = {"flowstudio-docs": "knowledge/corpus"}
BUILTIN_QUESTIONS = {"flowstudio-docs-questions": "knowledge/questions.jsonl"}


def builtin_path(value: str, table: dict[str, str], field: str) -> Path:
    name = value.strip()[len(BUILTIN_PREFIX):]
    if name not in table:
        raise NodeRunError(f"unknown built-in {value.strip()!r}", field=field,
                           hint="built-ins: " + ", ".join(BUILTIN_PREFIX + n for n in table))
    return assets_dir() / table[name]
