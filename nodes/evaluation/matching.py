"""Answer matching shared by QA accuracy and the exact-match reward: normalisation and whole-word containment."""

from __future__ import annotations

import re
import string

_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, no punctuation, no articles, single spaces (SQuAD-style)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_words(text: str, phrase: str) -> bool:
    """`phrase` occurs in `text` as whole words: "4" is not in "14", "Rome" is not in "Romeo" (but it is
    in "not Rome": containment says nothing about negation; that is what exact match is for)."""
    return bool(phrase) and re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text) is not None


def score_answer(answer: str, prediction: str) -> tuple[bool, bool]:
    """(exact_match, contains) of one QA prediction, as `eval.qa_accuracy` reports them: exact_match
    compares the normalised first line of the prediction with the normalised answer; contains looks for
    the normalised answer as whole words anywhere in the normalised prediction."""
    want = normalize_answer(answer)
    first_line = normalize_answer(prediction.split("\n")[0])
    return first_line == want, contains_words(normalize_answer(prediction), want)
