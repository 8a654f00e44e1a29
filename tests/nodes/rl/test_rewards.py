"""reward.* nodes and the reward functions GRPO builds from their specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flowstudio.nodes.rl.reward_functions import reward_function
from flowstudio.nodes.rl.rewards import ExactMatchReward, LengthReward, RegexReward

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import PortValues


def spec_of(node: Any, **params: Any) -> dict[str, Any]:
    out = node().run(None, PortValues({}), node.Params(**params))["reward"]
    json.dumps(out)  # a light value: plain JSON
    return out


def test_regex_reward_search_and_fullmatch_on_text_and_chat_completions() -> None:
    fn, weight = reward_function(spec_of(RegexReward, pattern=r"<answer>\d+</answer>", weight=0.5))
    assert weight == 0.5 and fn.__name__ == "regex"
    completions = ["so <answer>42</answer>", "no answer", [{"role": "assistant", "content": "<answer>7</answer>"}]]
    assert fn(prompts=["p"] * 3, completions=completions) == [1.0, 0.0, 1.0]
    full, _ = reward_function(spec_of(RegexReward, pattern=r"\d+", mode="fullmatch", miss_score=-1.0))
    assert full(completions=["  12 ", "12 apples"]) == [1.0, -1.0]
    ci, _ = reward_function(spec_of(RegexReward, pattern="paris", ignore_case=True))
    assert ci(completions=["PARIS!"]) == [1.0]


def test_bad_regex_is_a_problem_on_the_pattern_field() -> None:
    problems = RegexReward.check(RegexReward.Params(pattern="(unclosed"), None)
    assert len(problems) == 1 and problems[0].field == "pattern" and "invalid regex" in problems[0].message
    with pytest.raises(NodeRunError) as err:
        RegexReward().run(None, PortValues({}), RegexReward.Params(pattern="[a-"))
    assert err.value.field == "pattern"


def test_exact_match_reads_the_answer_column_whole_words_and_normalises() -> None:
    fn, _ = reward_function(spec_of(ExactMatchReward, column="answer"))
    completions = ["The answer is 5.", "It is 15", "Paris", [{"role": "assistant", "content": "paris."}]]
    answers = ["5", "5", "paris", "Paris"]
    assert fn(prompts=["q"] * 4, completions=completions, answer=answers, trainer_state=None) == [1.0, 0.0, 1.0, 1.0]
    eq, _ = reward_function(spec_of(ExactMatchReward, column="", target="Yes", mode="equals"))
    assert eq(completions=[" yes! ", "yes indeed"]) == [1.0, 0.0]
    cs, _ = reward_function(spec_of(ExactMatchReward, column="", target="Yes", case_sensitive=True, mode="equals"))
    assert cs(completions=["yes", "Yes"]) == [0.0, 1.0]


def test_exact_match_names_a_missing_column() -> None:
    fn, _ = reward_function(spec_of(ExactMatchReward, column="label"))
    with pytest.raises(NodeRunError) as err:
        fn(completions=["x"], answer=["x"], trainer_state=None)
    assert err.value.field == "column" and "answer" in err.value.hint
    problems = ExactMatchReward.check(ExactMatchReward.Params(column=" ", target=""), None)
    assert problems and problems[0].field == "column"


def test_length_reward_peaks_at_the_target() -> None:
    fn, _ = reward_function(spec_of(LengthReward, target=4, unit="words"))
    assert fn(completions=["a b c d", "a b", "", "a b c d e f g h i"]) == [1.0, 0.5, 0.0, 0.0]
    chars, _ = reward_function(spec_of(LengthReward, target=10, unit="chars"))
    assert chars(completions=["x" * 5]) == [0.5]
    tokens, _ = reward_function(spec_of(LengthReward, target=3, unit="tokens"))
    assert tokens(completions=["whatever"], completion_ids=[[1, 2, 3]]) == [1.0]


def test_unknown_specs_are_refused() -> None:
    for bad in ({"kind": "python", "code": "import os"}, "regex", None):
        with pytest.raises(NodeRunError) as err:
            reward_function(bad)
        assert err.value.field == "rewards"


def test_reward_nodes_are_registered(tmp_path: Path) -> None:
    from flowstudio.nodes import node_types

    types = {n.type for n in node_types()}
    assert {"reward.regex", "reward.exact_match", "reward.length", "train.ppo", "train.grpo"} <= types


def test_a_backtracking_reward_pattern_is_an_error_not_a_hang() -> None:
    fn, _ = reward_function({"kind": "regex", "name": "r", "pattern": "(a|aa)+$"})
    with pytest.raises(NodeRunError, match="did not finish"):
        fn(["a" * 40 + "b"])
