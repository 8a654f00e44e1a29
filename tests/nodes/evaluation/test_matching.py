"""What eval.qa_accuracy's metrics mean, case by case (and the exact-match reward's containment)."""

from __future__ import annotations

import pytest
from flowstudio.nodes.evaluation.matching import contains_words, score_answer
from flowstudio.nodes.rl.reward_functions import exact_match_reward


@pytest.mark.parametrize(("answer", "prediction", "exact", "contains"), [
    ("4", "4", True, True),
    ("4", "The answer is 14", False, False),          # a raw substring test found "4" in "14"
    ("4", "It is 4.\nOr 5.", False, True),
    ("Rome", "Romeo and Juliet", False, False),       # not a word of the prediction
    ("Rome", "not Rome, it is Paris", False, True),   # containment does not understand negation
    ("the Eiffel Tower", "Eiffel tower!", True, True),  # case, punctuation and articles are ignored
    ("12", "120 apples", False, False),
    ("", "anything", False, False),
])
def test_exact_match_and_contains(answer: str, prediction: str, exact: bool, contains: bool) -> None:
    assert score_answer(answer, prediction) == (exact, contains)


def test_contains_words_is_the_same_rule_the_exact_match_reward_uses() -> None:
    reward = exact_match_reward({"column": "answer", "mode": "contains"})
    predictions = ["The answer is 14", "it is 4", "Romeo", "Rome!"]
    answers = ["4", "4", "Rome", "rome"]
    got = reward(predictions, answer=answers)
    assert got == [1.0 if contains_words(p.lower().strip("!"), a.lower()) else 0.0
                   for p, a in zip(predictions, answers, strict=True)] == [0.0, 1.0, 0.0, 1.0]
