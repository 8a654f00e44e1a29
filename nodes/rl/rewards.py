"""Reward-function nodes for GRPO: rules that score completions, described as data (no code from the flow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports
from flowstudio.core.ports import RewardFunction
from flowstudio.core.problems import Problem


class _RewardNode(Node):
    category = "Rewards"
    icon = "mdi6.star-check-outline"

    class Outputs(Ports):
        reward = Port(RewardFunction, "The reward rule (connect to train.grpo's rewards)")

    def spec(self, params: Any) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        from .reward_functions import reward_function

        spec = self.spec(params)
        reward_function(spec)  # fail here, on this node, when the spec is unusable
        return {"reward": spec}


class RegexReward(_RewardNode):
    type = "reward.regex"
    title = "Regex reward"
    description = ("Scores a completion by whether a regular expression matches it (e.g. a required format "
                   "like `<answer>.*</answer>`).")

    class Params(NodeParams):
        pattern: str = Field(r"\d+", description="Python regular expression")
        mode: Literal["search", "fullmatch"] = Field("search", description="search: anywhere in the completion; "
                                                     "fullmatch: the whole (stripped) completion")
        ignore_case: bool = Field(False, description="Case-insensitive matching")
        match_score: float = Field(1.0, description="Reward when it matches")
        miss_score: float = Field(0.0, description="Reward when it does not")
        weight: float = Field(1.0, description="Weight when several rewards are summed")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        from .reward_functions import compile_pattern

        assert isinstance(params, cls.Params)
        try:
            compile_pattern(params.pattern, params.ignore_case)
        except NodeRunError as err:
            return [Problem("bad_param", str(err), field="pattern", hint=err.hint)]
        return []

    def spec(self, params: Params) -> dict[str, Any]:
        return {"kind": "regex", "name": "regex", "pattern": params.pattern, "mode": params.mode,
                "ignore_case": params.ignore_case, "match_score": params.match_score,
                "miss_score": params.miss_score, "weight": params.weight}


class ExactMatchReward(_RewardNode):
    type = "reward.exact_match"
    title = "Exact-match reward"
    description = ("1 when the completion gives the expected answer — read from a dataset column (e.g. `answer` "
                   "of a QA set) or a fixed target — else 0. Whitespace, case and outer punctuation are ignored "
                   "unless asked.")

    class Params(NodeParams):
        column: str = Field("answer", description="Dataset column holding the expected answer (empty: use target)")
        target: str = Field("", description="A fixed expected text, when no column is used")
        mode: Literal["contains", "equals"] = Field("contains", description="contains: the answer appears as a "
                                                    "whole word; equals: the completion is the answer")
        case_sensitive: bool = Field(False, description="Compare case")
        keep_punctuation: bool = Field(False, description="Compare leading/trailing punctuation")
        weight: float = Field(1.0, description="Weight when several rewards are summed")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, cls.Params)
        if not params.column.strip() and not params.target.strip():
            return [Problem("bad_param", "set a column or a target", field="column",
                            hint="e.g. column = answer for a QA dataset")]
        return []

    def spec(self, params: Params) -> dict[str, Any]:
        return {"kind": "exact_match", "name": "exact_match", "column": params.column.strip(),
                "target": params.target, "mode": params.mode, "case_sensitive": params.case_sensitive,
                "keep_punctuation": params.keep_punctuation, "weight": params.weight}


class LengthReward(_RewardNode):
    type = "reward.length"
    title = "Length reward"
    description = "1 at the target length, falling linearly to 0 at twice (or zero times) the target."

    class Params(NodeParams):
        target: int = Field(20, ge=1, description="Target length")
        unit: Literal["words", "chars", "tokens"] = Field("words", description="What is counted")
        weight: float = Field(1.0, description="Weight when several rewards are summed")

    def spec(self, params: Params) -> dict[str, Any]:
        return {"kind": "length", "name": f"length_{params.unit}", "target": params.target, "unit": params.unit,
                "weight": params.weight}
