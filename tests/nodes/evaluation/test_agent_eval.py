"""eval.agent: exact numeric matching against hand-computed cases, counts that add up, the real loop over a
scripted model, and batched generation (shared-prefix KV cache) that gives what one-by-one generation gives."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from flowstudio.nodes.chains.agent_loop import AgentResult
from flowstudio.nodes.evaluation.agents import (
    AgentEval,
    Scored,
    numbers_in,
    numeric_match,
    parse_expected,
    score,
    summarize,
)
from flowstudio.nodes.tools import kinds

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import PortValues
from tests.nodes.chains.scripted_model import ScriptedModel

CALC = kinds.make_spec("calculator", "calculator", "exact arithmetic", kinds.CALCULATOR_PARAMETERS)


@pytest.mark.parametrize(("answer", "expected", "ok"), [
    ("The answer is 68.", "68", True),
    ("The answer is 3,968.", "3968", True),
    ("12 * 7 = 84", "84", True),           # the last number counts
    ("84 is not 12 * 7", "84", False),
    ("It is 84.0", "84", True),            # numerically equal
    ("0.5", "0.5", True),
    ("It is 1/2.", "0.5", True),
    ("The answer is 68 apples", "69", False),
    ("The answer is 680.", "68", False),
    ("The answer is -4.", "-4", True),
    ("I do not know.", "68", False),
    ("", "68", False),
    ("1/3 ≈ 0.3333333333333333", "1/3 ≈ 0.3333333333333333", False),  # the approximation is last
    ("That is 1/3", "1/3 ≈ 0.3333333333333333", True),
])
def test_numeric_match_on_hand_computed_cases(answer: str, expected: str, ok: bool) -> None:
    assert numeric_match(answer, parse_expected(expected)) is ok


def test_numbers_and_expected_values() -> None:
    assert numbers_in("v1.2 costs 1,000,000 or 12,34") == [Fraction(6, 5), 1_000_000, 12, 34]
    assert parse_expected(84) == 84 and parse_expected(2.5) == Fraction(5, 2) and parse_expected("x") is None
    assert parse_expected(True) is None


def test_summary_counts_add_up() -> None:
    rows = [Scored(True, True, 1, 0, 2, "answer"), Scored(False, True, 3, 2, 4, "answer"),
            Scored(True, False, 0, 0, 1, "answer"), Scored(False, False, 4, 4, 4, "step_limit"),
            Scored(False, False, 0, 0, 1, "context_full")]
    m = summarize(rows)
    assert m["rows"] == 5 and m["correct"] + m["wrong"] == m["rows"] and m["correct"] == 2
    assert m["answered"] + m["step_limit"] + m["context_full"] == m["rows"]
    assert m["accuracy"] == pytest.approx(2 / 5) and m["tool_call_rate"] == pytest.approx(2 / 5)
    assert m["malformed_call_rate"] == pytest.approx(6 / 8) and m["mean_steps"] == pytest.approx(12 / 5)
    assert summarize([Scored(False, False, 0, 0, 1, "answer")])["malformed_call_rate"] == 0.0


def test_score_counts_unreadable_calls_as_attempts() -> None:
    # 2 calls read (1 to an unknown tool), 1 ran; 2 malformed: the unknown tool and 1 unreadable reply
    result = AgentResult("The answer is 7.", [], 4, tool_calls=2, stop_reason="answer", malformed=2, tools_ran=1)
    s = score(result, Fraction(7))
    assert (s.correct, s.called, s.attempts, s.malformed, s.steps) == (True, True, 3, 2, 4)


GOOD = '<tool_call>{{"name": "calculator", "arguments": {{"expression": "{}"}}}}</tool_call>'
QUESTIONS = [("What is 23 plus 45?", "68"), ("What is 6 times 7?", "42"), ("What is 9 minus 2?", "7"),
             ("What is 100 divided by 4?", "25")]
# The scripted model answers in the loop's order: round 1 for every open question, then round 2, ...
SCRIPT = [
    GOOD.format("23 + 45"),                                  # q1 calls
    "The answer is 42.",                                     # q2 answers without a tool, correctly
    '<tool_call>{"name": "calculator", "arguments": {</tool_call>',  # q3: unreadable
    '<tool_call>{"name": "calc", "arguments": {}}</tool_call>',      # q4: unknown tool
    "The answer is 68.",                                     # q1 answers with the tool's result
    GOOD.format("9 - 2"),                                    # q3 recovers
    '<tool_call>{"name": "calc", "arguments": {}}</tool_call>',      # q4 again
    "The answer is 8.",                                      # q3 answers wrongly
    '<tool_call>{"name": "calculator", "arguments": {"expression": 25}}</tool_call>',  # q4: wrong type
]


def _questions(run_node, tmp_path: Path):
    import datasets
    from flowstudio.nodes.data.storage import save_dataset

    ds = datasets.Dataset.from_list([{"question": q, "answer": a} for q, a in QUESTIONS])
    return save_dataset(ds, tmp_path / "questions", "qa")


def test_eval_node_over_a_scripted_agent(run_node, make_ctx, tmp_path: Path) -> None:
    model = ScriptedModel().run(make_ctx("m"), PortValues({}), ScriptedModel.Params(replies=SCRIPT))["model"]
    events: list[dict] = []
    out = AgentEval().run(make_ctx("eval", events=events),
                          PortValues({"model": model, "dataset": _questions(run_node, tmp_path), "tools": [CALC]}),
                          AgentEval.Params(max_steps=3, batch_size=3))
    m = out["metrics"]
    # by hand: q1 right with a call (2 steps), q2 right without (1), q3 wrong after a recovered call (3),
    # q4 three malformed calls and the step limit (3)
    assert (m["rows"], m["correct"], m["wrong"], m["accuracy"]) == (4, 2, 2, 0.5)
    assert (m["called"], m["tool_call_rate"]) == (2, 0.5)
    assert (m["call_attempts"], m["malformed_calls"]) == (6, 4) and m["malformed_call_rate"] == pytest.approx(4 / 6)
    assert m["mean_steps"] == pytest.approx((2 + 1 + 3 + 3) / 4)
    assert (m["answered"], m["step_limit"], m["context_full"]) == (3, 1, 0)
    rows = [json.loads(line) for line in Path(out["table"].path).read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, True, False, False]
    assert [r["stop_reason"] for r in rows] == ["answer", "answer", "answer", "step_limit"]
    assert sum(r["correct"] for r in rows) == m["correct"] and sum(r["called"] for r in rows) == m["called"]
    transcript = json.loads(rows[0]["transcript"])
    assert transcript[0] == {"role": "user", "content": QUESTIONS[0][0]}
    assert "calculator: 68" in transcript[2]["content"]
    assert {e["name"] for e in events if e["event"] == "metric"} >= {"accuracy", "tool_call_rate"}


def test_eval_node_refuses_non_numeric_answers(run_node, make_ctx, tmp_path: Path) -> None:
    import datasets
    from flowstudio.nodes.data.storage import save_dataset

    model = ScriptedModel().run(make_ctx("m"), PortValues({}), ScriptedModel.Params(replies=["x"]))["model"]
    ds = save_dataset(datasets.Dataset.from_list([{"question": "Capital of France?", "answer": "Paris"}]),
                      tmp_path / "qa", "qa")
    with pytest.raises(NodeRunError) as err:
        AgentEval().run(make_ctx("eval"), PortValues({"model": model, "dataset": ds, "tools": [CALC]}),
                        AgentEval.Params())
    assert err.value.field == "dataset" and "not a number" in str(err.value)


def test_batched_generation_with_a_shared_prefix_matches_one_by_one(tmp_path: Path) -> None:
    """generate_many (prefix KV cache, masked padding) gives what generate gives for each prompt alone, on a
    random Llama whose greedy output depends on the whole prompt."""
    import torch
    from flowstudio.nodes.chains.agent_loop import generate_many
    from flowstudio.nodes.chains.generation import LoadedModel, Sampling, generate
    from flowstudio.nodes.hf.bpe import train_bpe_tokenizer
    from flowstudio.nodes.hf.builtin_models import tiny_corpus_lines
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = train_bpe_tokenizer(tiny_corpus_lines(), vocab_size=300)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, initializer_range=0.5)
    torch.manual_seed(1)
    model = LlamaForCausalLM(config).eval()
    loaded = LoadedModel(model, tok, "", "cpu")
    system = "You can use a calculator. Reply with a tool call."
    prompts = [tok.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": q}],
                                       tokenize=False, add_generation_prompt=True)
               for q in ("What is 2 + 2?", "Multiply 12 by 7, then add 5.", "Hi")]
    sampling = Sampling(max_new_tokens=12)
    batched = generate_many(loaded, prompts, sampling)
    alone = [generate(loaded, p, sampling).text for p in prompts]
    assert batched == alone
    assert len(set(alone)) > 1  # the outputs differ by prompt, so a mix-up would show
    long = tok.apply_chat_template([{"role": "user", "content": "word " * 300}], tokenize=False)
    assert generate_many(loaded, [prompts[0], long], sampling) == [alone[0], None]  # no room: None
