"""Reward-function specs (light JSON from the reward.* nodes) turned into Python reward functions for GRPO.

A spec is data, never code: {"kind": "regex" | "exact_match" | "length", "name": str, "weight": float, ...}.
The functions follow TRL's reward-function convention: `f(prompts, completions, **columns) -> list[float]`,
where completions are strings or chat message lists and dataset columns arrive as keyword lists.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from typing import Any

from flowstudio.nodes.chains import safe_regex
from flowstudio.nodes.evaluation.matching import contains_words

from flowstudio.core.errors import NodeRunError

RewardFn = Callable[..., list[float]]
KINDS = ("regex", "exact_match", "length")


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the contents of the messages of a chat completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def normalize(text: str, *, case: bool, punctuation: bool) -> str:
    text = " ".join(text.split())
    if not case:
        text = text.lower()
    if not punctuation:
        text = text.strip(string.punctuation + " ")
    return text


def compile_pattern(pattern: str, ignore_case: bool = False, field: str = "pattern") -> Any:
    """A pattern matched with a time limit (`chains.safe_regex`): a backtracking one cannot hang GRPO."""
    if not pattern:
        raise NodeRunError("the regex pattern is empty", field=field, hint="write a pattern, e.g. `\\d+`")
    try:
        return safe_regex.compile_pattern(pattern, ignore_case=ignore_case)
    except safe_regex.error as err:
        raise NodeRunError(f"invalid regex {pattern!r}: {err}", field=field,
                           hint="check brackets and escapes (Python `re` syntax)") from None


def regex_reward(spec: dict[str, Any]) -> RewardFn:
    pattern = compile_pattern(spec["pattern"], bool(spec.get("ignore_case", False)))
    mode = spec.get("mode", "search")
    hit, miss = float(spec.get("match_score", 1.0)), float(spec.get("miss_score", 0.0))

    def reward(completions: Sequence[Any], **_: Any) -> list[float]:
        out = []
        for c in completions:
            text = completion_text(c)
            try:
                matched = (safe_regex.fullmatch(pattern, text.strip()) if mode == "fullmatch"
                           else safe_regex.search(pattern, text))
            except safe_regex.RegexTimeout as err:
                raise NodeRunError(str(err), field="rewards",
                                   hint="simplify the reward.regex pattern (avoid nested repeats)") from None
            out.append(hit if matched else miss)
        return out

    return reward


def exact_match_reward(spec: dict[str, Any]) -> RewardFn:
    column = spec.get("column") or ""
    literal = spec.get("target") or ""
    if not column and not literal:
        raise NodeRunError("exact match needs a dataset column or a target text", field="column",
                           hint="set column (e.g. `answer`) or target")
    mode = spec.get("mode", "contains")
    case, punct = bool(spec.get("case_sensitive", False)), bool(spec.get("keep_punctuation", False))

    def reward(completions: Sequence[Any], **columns: Any) -> list[float]:
        if column:
            if column not in columns:
                raise NodeRunError(f"exact match reads the column {column!r}, which the prompt dataset lacks",
                                   field="column", hint="columns available: " + ", ".join(
                                       k for k in columns if k not in ("trainer_state", "log_extra", "log_metric")))
            targets = [str(t) for t in columns[column]]
        else:
            targets = [literal] * len(completions)
        out = []
        for c, target in zip(completions, targets, strict=True):
            got = normalize(completion_text(c), case=case, punctuation=punct)
            want = normalize(target, case=case, punctuation=punct)
            # "contains" is whole-word containment, so "12" is not found in "120"
            ok = got == want if mode == "equals" else contains_words(got, want)
            out.append(1.0 if ok else 0.0)
        return out

    return reward


def length_reward(spec: dict[str, Any]) -> RewardFn:
    target = int(spec.get("target", 100))
    unit = spec.get("unit", "words")
    if target <= 0:
        raise NodeRunError("the target length must be positive", field="target")

    def reward(completions: Sequence[Any], completion_ids: Sequence[Sequence[int]] | None = None,
               **_: Any) -> list[float]:
        out = []
        for i, c in enumerate(completions):
            text = completion_text(c)
            if unit == "tokens" and completion_ids is not None:
                n = len(completion_ids[i])
            elif unit == "chars":
                n = len(text)
            else:
                n = len(text.split())
            out.append(1.0 - min(1.0, abs(n - target) / target))
        return out

    return reward


def reward_function(spec: Any) -> tuple[RewardFn, float]:
    """(function, weight) for one spec; the function's __name__ is the spec's name (TRL logs by it)."""
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise NodeRunError(f"not a reward-function spec: {str(spec)[:80]!r}", field="rewards",
                           hint="connect reward.regex, reward.exact_match or reward.length nodes")
    maker = {"regex": regex_reward, "exact_match": exact_match_reward, "length": length_reward}[spec["kind"]]
    fn = maker(spec)
    fn.__name__ = str(spec.get("name") or spec["kind"])
    return fn, float(spec.get("weight", 1.0))
