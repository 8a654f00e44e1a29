"""data.tool_use: seeded calculator transcripts, and a held-out split with no shared numbers, phrasings or
questions; the transcripts are what the agent loop itself reads and writes."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from flowstudio.nodes.chains.agent_loop import parse_reply, start_conversation
from flowstudio.nodes.data.storage import load_dataset_artifact
from flowstudio.nodes.data.tool_use import (
    DEFAULT_SYSTEM,
    ITEMS,
    NAMES,
    ToolUseData,
    default_calculator,
    number_pools,
)
from flowstudio.nodes.data.tool_use_frames import HELD_OUT_FRAMES, TRAIN_FRAMES
from flowstudio.nodes.tools import kinds

from flowstudio.core.errors import NodeRunError


def _rows(run_node, node_id: str = "data", **params) -> tuple[list[dict], list[dict]]:
    out = run_node(ToolUseData, {"tool": default_calculator()}, node_id=node_id, **params)
    return ([dict(r) for r in load_dataset_artifact(out["train"])[0]],
            [dict(r) for r in load_dataset_artifact(out["eval"])[0]])


def _numbers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\d+", text)}


def _by_hand(expression: str) -> Fraction:
    """An independent value: our expressions are `a op b`, `a op b op c` or `(a + b) * c`."""
    tokens = expression.replace("(", " ( ").replace(")", " ) ").split()
    if tokens[0] == "(":  # (a + b) * c
        return (Fraction(tokens[1]) + Fraction(tokens[3])) * Fraction(tokens[6])
    a, op, b = Fraction(tokens[0]), tokens[1], Fraction(tokens[2])
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]
    if len(tokens) == 5:
        c = Fraction(tokens[4])
        value = value + c if tokens[3] == "+" else value - c
    return value


def test_seeded_and_split_without_overlap(run_node) -> None:
    train, held = _rows(run_node, train_rows=300, eval_rows=100, seed=3)
    again, again_held = _rows(run_node, "again", train_rows=300, eval_rows=100, seed=3)
    other, _ = _rows(run_node, "other", train_rows=300, eval_rows=100, seed=4)
    assert train == again and held == again_held
    assert [r["question"] for r in other] != [r["question"] for r in train]
    assert len(train) == 300 and len(held) == 100
    # no question, no phrasing (template) and no number of a held-out question occurs in training
    assert not {r["question"] for r in train} & {r["question"] for r in held}
    assert not {r["template"] for r in train} & {r["template"] for r in held}
    train_numbers = set().union(*(_numbers(r["question"]) for r in train))
    held_numbers = set().union(*(_numbers(r["question"]) for r in held))
    assert held_numbers and not train_numbers & held_numbers
    # the frames themselves, read back from the questions: no held-out frame is ever a training question's
    assert not {_frame(r["question"]) for r in train} & {_frame(r["question"]) for r in held}
    # every kind and every held-out frame is used; training draws on many frames per kind
    assert {r["kind"] for r in held} == set(HELD_OUT_FRAMES)
    assert {r["template"] for r in held} == {f"{k}/held{i}" for k, t in HELD_OUT_FRAMES.items()
                                             for i in range(len(t))}
    assert len({r["template"] for r in train}) > 100
    assert len({r["question"] for r in train}) == 300


def _frame(question: str) -> str:
    """A question with its numbers, names and items put back as placeholders."""
    text = re.sub(r"\d+", "N", question)
    for word in (*NAMES, *ITEMS):
        text = re.sub(rf"\b{word}\b", "W", text)
    return text.lower()


def _words(frame: str) -> list[str]:
    return re.findall(r"\{\w+\}|[\w']+", frame.lower())


def _longest_shared_run(x: list[str], y: list[str]) -> int:
    best = 0
    for i in range(len(x)):
        for j in range(len(y)):
            k = 0
            while i + k < len(x) and j + k < len(y) and x[i + k] == y[j + k]:
                k += 1
            best = max(best, k)
    return best


def test_held_out_frames_are_new_sentences() -> None:
    """No held-out frame is a training frame, and none shares more than a noun phrase (at most six words in a
    row, e.g. "the sum of {a} and {b}") with any training frame: the cue words are shared, the sentences not."""
    train = [_words(f) for frames in TRAIN_FRAMES.values() for f, _ in frames]
    assert set(TRAIN_FRAMES) == set(HELD_OUT_FRAMES)
    for kind, frames in HELD_OUT_FRAMES.items():
        assert len(TRAIN_FRAMES[kind]) >= 15 and len(frames) == 2
        for frame, _ in frames:
            words = _words(frame)
            assert words not in train
            assert max(_longest_shared_run(words, t) for t in train) <= 6, frame


def test_pools_are_disjoint_and_cover_the_range() -> None:
    train, held = number_pools(0, 999, 0.2)
    assert not set(train) & set(held) and set(train) | set(held) == set(range(2, 1000))
    assert 0.15 < len(held) / 998 < 0.25 and any(n <= 20 for n in held) and any(n <= 20 for n in train)


def test_answers_are_right_and_transcripts_are_what_the_agent_loop_produces(run_node) -> None:
    train, held = _rows(run_node, train_rows=120, eval_rows=60, seed=1)
    calc = default_calculator()
    system = start_conversation([{"role": "system", "content": DEFAULT_SYSTEM}], [calc], native=False)[0]
    for row in train + held:
        expected = _by_hand(row["expression"])
        assert expected.denominator == 1 and expected > 0
        assert Fraction(row["answer"]) == expected
        assert _numbers(row["question"]) >= _numbers(row["expression"]) - {100, 1000, 60, 24, 7}
        msgs = row["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
        assert msgs[0] == system and msgs[1]["content"] == row["question"]
        parsed = parse_reply(msgs[2]["content"])  # the loop reads the call back
        assert parsed.error is None and [c.name for c in parsed.calls] == ["calculator"]
        assert parsed.calls[0].arguments == {"expression": row["expression"]}
        result = kinds.call_tool(calc, parsed.calls[0].arguments)
        assert msgs[3]["content"] == f"<tool_response>\ncalculator: {result}\n</tool_response>"
        assert msgs[4]["content"] == f"The answer is {row['answer']}."
        assert not parse_reply(msgs[4]["content"]).calls


def test_kinds_and_native_format_and_bad_tools(run_node, tiny_llama_dir) -> None:
    train, _ = _rows(run_node, train_rows=20, eval_rows=5, kinds=["divide"], tool_format="native")
    assert {r["kind"] for r in train} == {"divide"}
    msgs = train[0]["messages"]
    assert msgs[2]["tool_calls"][0]["function"]["name"] == "calculator"
    assert msgs[3]["role"] == "tool" and msgs[3]["content"] == train[0]["answer"]
    assert "<tools>" not in msgs[0]["content"]
    with pytest.raises(NodeRunError) as err:
        run_node(ToolUseData, {"tool": kinds.make_spec("python", "python", "", kinds.PYTHON_PARAMETERS)})
    assert err.value.field == "tool"
    with pytest.raises(NodeRunError) as err:
        run_node(ToolUseData, {}, node_id="none", kinds=[])
    assert err.value.field == "kinds"


def test_sft_trains_on_the_transcripts(run_node, tiny_llama_dir, tmp_path) -> None:
    """The train split is data train.sft accepts: a few steps on the tiny Llama (its context widened to fit
    the ~700 tokens a transcript is in its 512-token vocabulary), loss on the assistant turns."""
    import json
    import shutil

    from flowstudio.nodes.hf.loading import model_artifact
    from flowstudio.nodes.training.trainers import SupervisedFineTune

    wide = tmp_path / "tiny-llama-2k"
    shutil.copytree(tiny_llama_dir, wide)
    config = json.loads((wide / "config.json").read_text())
    (wide / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 2048}))
    out = run_node(ToolUseData, {"tool": default_calculator()}, node_id="d", train_rows=8, eval_rows=2)
    result = run_node(SupervisedFineTune, {"model": model_artifact(wide, source="test"), "dataset": out["train"]},
                      node_id="sft", max_steps=2, batch_size=2, max_length=1024, logging_steps=1)
    assert result["metrics"]["steps"] == 2.0 and result["metrics"]["train_loss"] > 0
