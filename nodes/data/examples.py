"""Turn FlowStudio's canonical dataset formats into what each TRL trainer expects, with clear errors."""

from __future__ import annotations

import re
from typing import Any

from flowstudio.core.errors import NodeRunError

from .formats import require_chat_template

_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_generation_markers(tokenizer: Any) -> bool:
    return bool(_GENERATION.search(getattr(tokenizer, "chat_template", None) or ""))


def _conversational(ds: Any, column: str) -> bool:
    if len(ds) == 0:
        raise NodeRunError("the dataset is empty", field="dataset")
    value = ds[0][column]
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict)


def sft_dataset(ds: Any, fmt: str, tokenizer: Any, completion_only: bool, field: str = "dataset") -> tuple[Any, dict]:
    """(dataset for SFTTrainer, extra SFTConfig kwargs) for any supported format."""
    if fmt == "text":
        return ds.select_columns(["text"]), {"dataset_text_field": "text"}
    if fmt == "messages":
        require_chat_template(tokenizer)
        if completion_only and not has_generation_markers(tokenizer):
            raise NodeRunError("training only on assistant turns needs `{% generation %}` markers in the chat "
                               "template, and this tokenizer's template has none", field="completion_only",
                               hint="turn completion_only off (train on every token), set a chat template with "
                                    "generation markers on model.load, or use prompt/completion data")
        return ds.select_columns(["messages"]), {"assistant_only_loss": completion_only}
    if fmt == "qa":
        if getattr(tokenizer, "chat_template", None):
            ds = ds.map(lambda r: {"prompt": [{"role": "user", "content": str(r["question"])}],
                                   "completion": [{"role": "assistant", "content": str(r["answer"])}]},
                        remove_columns=ds.column_names)
        else:
            ds = ds.map(lambda r: {"prompt": f"Question: {r['question']}\nAnswer:", "completion": f" {r['answer']}"},
                        remove_columns=ds.column_names)
        fmt = "prompt_completion"
    elif fmt == "preference":
        cols = ["prompt", "chosen"] if "prompt" in ds.column_names else ["chosen"]
        if "prompt" not in ds.column_names:
            return _messages_from_chosen(ds, tokenizer, completion_only)
        ds = ds.select_columns(cols).rename_column("chosen", "completion")
        fmt = "prompt_completion"
    if fmt == "prompt_completion":
        if _conversational(ds, "prompt"):
            require_chat_template(tokenizer)
        return ds.select_columns(["prompt", "completion"]), {"completion_only_loss": completion_only}
    raise NodeRunError(f"SFT cannot train on {fmt!r} data", field=field,
                       hint="use messages, prompt/completion, text, QA or preference data")


def _messages_from_chosen(ds: Any, tokenizer: Any, completion_only: bool) -> tuple[Any, dict]:
    if _conversational(ds, "chosen"):
        ds = ds.map(lambda r: {"messages": r["chosen"]}, remove_columns=ds.column_names)
        return sft_dataset(ds, "messages", tokenizer, completion_only)
    ds = ds.map(lambda r: {"text": r["chosen"]}, remove_columns=ds.column_names)
    return ds, {"dataset_text_field": "text"}


def preference_dataset(ds: Any, fmt: str, tokenizer: Any, field: str = "dataset") -> Any:
    """Chosen/rejected (+ prompt) columns only; checks the chat template for conversational pairs."""
    if fmt != "preference":
        raise NodeRunError(f"this node needs preference data (chosen/rejected pairs), got {fmt!r} "
                           f"with columns {list(ds.column_names)}", field=field,
                           hint="load a dataset with `chosen` and `rejected` columns (and optionally `prompt`), "
                                "e.g. builtin:preference, or map columns with data.load's column_mapping")
    cols = [c for c in ("prompt", "chosen", "rejected") if c in ds.column_names]
    ds = ds.select_columns(cols)
    if _conversational(ds, "chosen"):
        require_chat_template(tokenizer)
    return ds


def pair_texts(row: dict[str, Any], tokenizer: Any) -> tuple[str, str]:
    """The (chosen, rejected) full texts a reward model scores, rendered like TRL's RewardTrainer does."""
    prompt = row.get("prompt")
    out = []
    for col in ("chosen", "rejected"):
        value = row[col]
        if isinstance(value, list):
            msgs = (list(prompt) if isinstance(prompt, list) else []) + list(value)
            out.append(tokenizer.apply_chat_template(msgs, tokenize=False))
        else:
            text = (prompt or "") + value
            eos = tokenizer.eos_token or ""
            out.append(text if text.endswith(eos) else text + eos)
    return out[0], out[1]


def scored_text(tokenizer: Any, prompt: Any, response: str) -> str:
    """prompt + a generated response as a reward model scores it: rendered like its training pairs
    (`pair_texts`). Chat prompts go through the chat template with the response, stripped, as the
    assistant turn (message contents carry no surrounding whitespace, and templates print them as given);
    plain prompts are prompt + response + EOS with the response exactly as generated (a plain pair's
    completion keeps its leading space: "Assistant:" + " Sure")."""
    if isinstance(prompt, list):
        row = {"prompt": prompt, "chosen": [{"role": "assistant", "content": response.strip()}],
               "rejected": [{"role": "assistant", "content": ""}]}
    else:
        row = {"prompt": prompt, "chosen": response, "rejected": ""}
    return pair_texts(row, tokenizer)[0]


def prompt_and_completions(row: dict[str, Any], tokenizer: Any) -> tuple[str, str, str]:
    """(prompt text, chosen text, rejected text) split where the completion starts (for log-prob margins)."""
    prompt = row.get("prompt") or ""
    if isinstance(row["chosen"], list):
        msgs = list(prompt) if isinstance(prompt, list) else []
        head = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) if msgs else ""
        texts = [tokenizer.apply_chat_template(msgs + list(row[c]), tokenize=False) for c in ("chosen", "rejected")]
        return head, texts[0][len(head):], texts[1][len(head):]
    return str(prompt), str(row["chosen"]), str(row["rejected"])
