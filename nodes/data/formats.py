"""Dataset formats: detect which one a table of columns is, rename columns to canonical names, validate rows.

Canonical formats (the `format` in a Dataset artifact's meta) and their columns:
- "preference":         chosen, rejected, and optionally prompt (strings, or lists of chat messages)
- "messages":           messages (a list of {"role", "content"})
- "prompt_completion":  prompt, completion (strings, or lists of chat messages)
- "qa":                 question, answer
- "text":               text
Other columns are kept. A column mapping ("instruction=prompt, output=completion") renames first; a few
common aliases (instruction, response, output, conversations, query) are recognised when no mapping is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowstudio.core.errors import NodeRunError

FORMATS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # format: (required columns, optional columns); checked in this order
    "preference": (("chosen", "rejected"), ("prompt",)),
    "messages": (("messages",), ()),
    "prompt_completion": (("prompt", "completion"), ()),
    "qa": (("question", "answer"), ()),
    "text": (("text",), ()),
}
ALIASES = {"instruction": "prompt", "response": "completion", "output": "completion", "conversations": "messages",
           "query": "question", "content": "text"}
EXPECTED = "; ".join(f"{name}: {' + '.join(req)}" + (f" (+ {', '.join(opt)})" if opt else "")
                     for name, (req, opt) in FORMATS.items())


def parse_mapping(text: str) -> dict[str, str]:
    """"a=b, c=d" (or one pair a line) to {"a": "b", "c": "d"}."""
    mapping: dict[str, str] = {}
    for part in text.replace("\n", ",").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise NodeRunError(f"column mapping entry {part.strip()!r} is not `source=target`", field="column_mapping",
                               hint="write e.g. `instruction=prompt, output=completion`")
        src, dst = (s.strip() for s in part.split("=", 1))
        if not src or not dst:
            raise NodeRunError(f"column mapping entry {part.strip()!r} is incomplete", field="column_mapping")
        mapping[src] = dst
    return mapping


def renames(columns: Sequence[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """Which columns to rename: the user's mapping, else aliases for canonical names that are missing."""
    for src in mapping:
        if src not in columns:
            raise NodeRunError(f"column mapping names {src!r}, which the data does not have",
                               field="column_mapping", hint="columns found: " + ", ".join(columns))
    if mapping:
        return dict(mapping)
    out = {}
    for alias, canonical in ALIASES.items():
        if alias in columns and canonical not in columns and canonical not in out.values():
            out[alias] = canonical
    return out


def detect_format(columns: Sequence[str]) -> str | None:
    cols = set(columns)
    for name, (required, _optional) in FORMATS.items():
        if cols.issuperset(required):
            return name
    return None


def require_format(columns: Sequence[str], wanted: str | None = None, field: str = "format") -> str:
    """The detected format, or a NodeRunError naming the columns found and the formats expected."""
    found = detect_format(columns)
    if found is None:
        raise NodeRunError(f"the columns {list(columns)} fit no known dataset format", field=field,
                           hint=f"expected one of — {EXPECTED}; rename columns with the column mapping "
                                "(e.g. `instruction=prompt, output=completion`)")
    if wanted and wanted != "auto" and found != wanted:
        required = " + ".join(FORMATS[wanted][0])
        raise NodeRunError(f"the data looks like {found!r} (columns {list(columns)}), not {wanted!r}", field=field,
                           hint=f"{wanted} needs the columns {required}; use the column mapping or format=auto")
    return found


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in value)


def validate_rows(fmt: str, rows: Sequence[Mapping[str, Any]], field: str = "path") -> None:
    """Check the first rows of the data have the right value types; name the row and column on failure."""
    required, optional = FORMATS[fmt]
    for i, row in enumerate(rows):
        for col in (*required, *[c for c in optional if c in row]):
            value = row.get(col)
            if fmt == "messages":
                ok = _is_messages(value) and len(value) > 0
                expected = "a non-empty list of {role, content} messages"
            elif fmt in ("preference", "prompt_completion"):
                ok = isinstance(value, str) or _is_messages(value)
                expected = "a string or a list of {role, content} messages"
            else:
                ok = isinstance(value, str | int | float) and not isinstance(value, bool)
                expected = "a string"
            if not ok:
                raise NodeRunError(f"row {i}, column {col!r}: expected {expected}, got {str(value)[:80]!r}",
                                   field=field, hint=f"fix the data or map another column to {col!r}")


def is_conversational(rows: Sequence[Mapping[str, Any]], fmt: str) -> bool:
    if not rows:
        return False
    row = rows[0]
    if fmt == "messages":
        return True
    col = {"preference": "chosen", "prompt_completion": "prompt"}.get(fmt)
    return bool(col and _is_messages(row.get(col)))


def require_chat_template(tokenizer: Any, node_field: str = "tokenizer") -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise NodeRunError("this dataset holds chat messages but the tokenizer has no chat template",
                           field=node_field,
                           hint="set `chat_template` on the model.load / tokenizer.load node, or train a "
                                "tokenizer with one (tokenizer.train), or use prompt/completion text data")


def _chat(tokenizer: Any, messages: list[dict[str, Any]]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False)


def render_texts(row: Mapping[str, Any], fmt: str, tokenizer: Any) -> list[str]:
    """The full text(s) a model sees for one row: one string, or two (chosen, rejected) for preference data."""
    if fmt == "text":
        return [str(row["text"])]
    if fmt == "qa":  # rendered the way train.sft trains on QA rows
        if getattr(tokenizer, "chat_template", None):
            return [_chat(tokenizer, [{"role": "user", "content": str(row["question"])},
                                      {"role": "assistant", "content": str(row["answer"])}])]
        return [f"Question: {row['question']}\nAnswer: {row['answer']}"]
    if fmt == "messages":
        return [_chat(tokenizer, row["messages"])]
    if fmt == "prompt_completion":
        prompt, completion = row["prompt"], row["completion"]
        if _is_messages(prompt):
            return [_chat(tokenizer, list(prompt) + list(completion))]
        return [str(prompt) + str(completion)]
    if fmt == "preference":
        prompt = row.get("prompt") or ""
        out = []
        for col in ("chosen", "rejected"):
            value = row[col]
            if _is_messages(value):
                out.append(_chat(tokenizer, (list(prompt) if _is_messages(prompt) else []) + list(value)))
            else:
                out.append(str(prompt) + " " + str(value) if prompt else str(value))
        return out
    raise NodeRunError(f"unknown dataset format {fmt!r}", field="dataset")


def render_prompt_and_full(row: Mapping[str, Any], fmt: str, tokenizer: Any) -> tuple[str, str]:
    """(prompt prefix, full text) of a row, so a loss can count only the answer: the last assistant turn of a
    chat, the completion, the answer, or the chosen reply. Plain text has an empty prefix."""
    def chat_split(prompt: list[Any], answer: list[Any]) -> tuple[str, str]:
        head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True) if prompt else ""
        return head, _chat(tokenizer, prompt + answer)

    if fmt == "text":
        return "", str(row["text"])
    if fmt == "messages":
        msgs = list(row["messages"])
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
        if last is None:
            return "", _chat(tokenizer, msgs)
        return chat_split(msgs[:last], msgs[last:last + 1])
    if fmt == "qa":
        if getattr(tokenizer, "chat_template", None):
            return chat_split([{"role": "user", "content": str(row["question"])}],
                              [{"role": "assistant", "content": str(row["answer"])}])
        head = f"Question: {row['question']}\nAnswer:"
        return head, f"{head} {row['answer']}"
    if fmt in ("prompt_completion", "preference"):
        prompt = row.get("prompt") or ""
        answer = row["completion"] if fmt == "prompt_completion" else row["chosen"]
        if _is_messages(answer):
            return chat_split(list(prompt) if _is_messages(prompt) else [], list(answer))
        return str(prompt), str(prompt) + str(answer)
    raise NodeRunError(f"unknown dataset format {fmt!r}", field="dataset")
