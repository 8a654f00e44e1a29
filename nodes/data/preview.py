"""The Dataset panel's preview of a data.load node: first rows, format, column mapping, token lengths.

Token lengths use the connected model's or tokenizer's `tokenizer.json` through the `tokenizers` library
(Rust; it imports no torch) and its chat template rendered with Jinja's sandbox, the way
`apply_chat_template` renders it. Without a usable tokenizer they are estimated (characters / 4) and
labelled so. Only the head of the data is read (`head.py`), so the preview is cheap on any file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.limits import clip
from flowstudio.core.paths import (
    BUILTIN_PREFIX,
    is_builtin_reference,
    is_hub_id,
    models_dir,
    resolve_user_path,
)
from flowstudio.core.safe_io import read_regular_file

from .formats import render_texts
from .head import apply_load, read_head

PREVIEW_ROWS = 20  # rows shown
STATS_ROWS = 200  # rows measured
CELL_CHARS = 200
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English with a BPE vocabulary

_GENERATION_TAGS = re.compile(r"\{%-?\s*(end)?generation\s*-?%\}")


def lengths_summary(lengths: list[int]) -> dict[str, float]:
    """rows, mean, p50, p95, max: nearest-rank percentiles, as data.tokenize computes them."""
    ordered = sorted(lengths)
    if not ordered:
        return {"rows": 0.0}

    def pct(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))])

    return {"rows": float(len(ordered)), "mean": sum(ordered) / len(ordered), "p50": pct(0.5), "p95": pct(0.95),
            "max": float(ordered[-1])}


def tokenizer_dir(source: str, flow_dir: Path | None) -> tuple[Path | None, str]:
    """Where the tokenizer of a model.load / tokenizer.load `source` is on disk, without loading or
    building anything; (None, why) when it is not there yet."""
    source = source.strip()
    if is_builtin_reference(source):
        from flowstudio.nodes.hf.builtin_models import SMOLLM2_VERSION, TINY_LLAMA_VERSION

        name = source[len(BUILTIN_PREFIX):]
        versions = {"tiny-llama": TINY_LLAMA_VERSION, "smollm2-135m-instruct": SMOLLM2_VERSION}
        if name not in versions:
            return None, f"unknown built-in {source}"
        path = models_dir() / f"{name}-v{versions[name]}"
        return (path, "") if (path / "tokenizer.json").is_file() else (None, f"{source} is built on its first run")
    path = resolve_user_path(source, flow_dir)
    if path.is_dir():
        return (path, "") if (path / "tokenizer.json").is_file() else (None, f"{path.name} has no tokenizer.json")
    if path.suffix.lower() == ".gguf":
        return None, "a GGUF model's tokenizer is converted on its first run"
    if is_hub_id(source):
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None, "huggingface_hub is not installed"
        found = try_to_load_from_cache(source, "tokenizer.json")
        if isinstance(found, str):
            return Path(found).parent, ""
        return None, f"{source} is not in the local Hugging Face cache"
    return None, f"no tokenizer at {source}"


class _Chat:
    """What `render_texts` needs of a tokenizer: a chat template, rendered with Jinja's sandbox."""

    def __init__(self, template: str | None, specials: dict[str, str]) -> None:
        self.chat_template = template
        self._template = None
        if template:
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            def raise_exception(message: str) -> None:
                raise ValueError(message)

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            env.globals["raise_exception"] = raise_exception
            self._template = env.from_string(_GENERATION_TAGS.sub("", template))
        self.specials = specials

    def apply_chat_template(self, messages: list[dict[str, Any]], tokenize: bool = False,
                            add_generation_prompt: bool = False) -> str:
        if self._template is None:
            return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages)
        return self._template.render(messages=messages, add_generation_prompt=add_generation_prompt, **self.specials)


def _small_file(path: Path, limit: int = 16 << 20) -> str | None:
    """A model's text file (config, template), or None when it is missing, not a regular file or too big."""
    try:
        return read_regular_file(path, limit).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _load_tokenizer(path: Path) -> tuple[Any, _Chat]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    config: Any = _small_file(path / "tokenizer_config.json")
    try:
        config = json.loads(config) if config else {}
    except (ValueError, RecursionError):
        config = {}
    config = config if isinstance(config, dict) else {}
    template = config.get("chat_template")
    if not isinstance(template, str):
        template = _small_file(path / "chat_template.jinja")
    specials = {k: v for k in ("bos_token", "eos_token", "pad_token") if isinstance(v := config.get(k), str)}
    return tok, _Chat(template if isinstance(template, str) else None, specials)


def token_lengths(rows: list[dict[str, Any]], fmt: str, tokenizer_source: str | None,
                  flow_dir: Path | None) -> dict[str, Any]:
    """Token-length statistics of `rows` with the tokenizer of `tokenizer_source`, else an estimate."""
    path, why = tokenizer_dir(tokenizer_source, flow_dir) if tokenizer_source else (None, "no tokenizer connected")
    if path is not None:
        try:
            tok, chat = _load_tokenizer(path)
            lengths = [len(tok.encode(text, add_special_tokens=True).ids)
                       for row in rows for text in render_texts(row, fmt, chat)]
            label = f"tokens ({tokenizer_source}), first {len(rows)} rows"
            if fmt in ("messages", "preference", "prompt_completion", "qa") and chat.chat_template is None:
                label += "; no chat template: turns joined as 'role: content'"
            return {"stats": lengths_summary(lengths), "label": label, "tokenizer": str(path), "estimated": False}
        except Exception as exc:  # noqa: BLE001 - a broken tokenizer file: estimate, and say why
            why = f"the tokenizer could not be used ({type(exc).__name__}: {clip(str(exc), 120)})"
    chat = _Chat(None, {})
    lengths = [math.ceil(len(text) / CHARS_PER_TOKEN) for row in rows for text in render_texts(row, fmt, chat)]
    return {"stats": lengths_summary(lengths), "estimated": True, "tokenizer": None,
            "label": f"estimate: characters / {CHARS_PER_TOKEN}, first {len(rows)} rows ({why})"}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return clip(text, CELL_CHARS)


def preview_data(path: Path, fmt: str, column_mapping: str, split: str, flow_dir: Path | None,
                 tokenizer_source: str | None = None) -> dict[str, Any]:
    """A JSON-able preview; `error` (with `hint` and `field`) says what data.load would refuse."""
    out: dict[str, Any] = {"path": str(path), "error": None}
    try:
        head = read_head(path, split, max_rows=STATS_ROWS)
        if head is None:
            return {**out, "error": f"{path.name} is too large to preview as one JSON document",
                    "hint": "use JSON Lines (.jsonl) for large data", "field": "source"}
        out.update(kind=head.kind, columns=head.columns, total_rows=head.total_rows, complete=head.complete,
                   rows_read=len(head.rows), notes=list(head.notes))
        applied = apply_load(head, fmt, column_mapping)
    except NodeRunError as err:
        if "columns" in out:
            out["rows"] = [{k: _cell(v) for k, v in r.items()} for r in head.rows[:PREVIEW_ROWS]]
        return {**out, "error": str(err), "hint": err.hint, "field": err.field}
    except (OSError, ValueError, ImportError) as err:
        return {**out, "error": f"{path.name} cannot be read: {err}", "hint": "", "field": "source"}
    out.update(format=applied.format, detected=fmt == "auto", renamed=applied.renamed, mapped_columns=applied.columns,
               rows=[{k: _cell(v) for k, v in r.items()} for r in applied.rows[:PREVIEW_ROWS]])
    out["tokens"] = token_lengths(applied.rows, applied.format, tokenizer_source, flow_dir)
    return out
