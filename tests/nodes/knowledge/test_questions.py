"""eval.questions writes a labelled set that eval.retrieval reads (plumbing, on the tiny Llama)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowstudio.nodes.knowledge.evaluation import EvalRetrieval, GenerateQuestions, clean_question
from flowstudio.nodes.knowledge.store import read_jsonl

from flowstudio.core.flow import Flow
from flowstudio.core.validation import validate_flow


def test_generated_questions_label_their_chunk_and_feed_eval(build_kb: Callable[..., dict[str, Any]], tiny_corpus: Path,
                                                             run_node: Callable[..., dict[str, Any]], tiny_llama) -> None:  # noqa: ANN001
    kb = build_kb(tiny_corpus)
    out = run_node(GenerateQuestions, {"model": tiny_llama, "chunks": kb["chunks"]}, questions=3, min_tokens=0,
                   max_new_tokens=8, template="Passage: {{ passage }}\nQuestion:", use_chat_template=False)
    rows = read_jsonl(Path(out["table"].path))
    chunks = {c["text"]: c for c in read_jsonl(Path(kb["chunks"].path))}
    assert 1 <= len(rows) <= 3
    for row in rows:
        assert row["question"] and chunks[row["span"]]["source"] == row["source"]
    again = run_node(GenerateQuestions, {"model": tiny_llama, "chunks": kb["chunks"]}, questions=3, min_tokens=0,
                     max_new_tokens=8, template="Passage: {{ passage }}\nQuestion:", use_chat_template=False,
                     node_id="again")
    assert read_jsonl(Path(again["table"].path)) == rows  # seeded draw, greedy writing
    metrics = run_node(EvalRetrieval, {"index": kb["index"], "questions": out["table"]}, k=3)["metrics"]
    assert metrics["questions"] == len(rows)


def test_clean_question_and_a_template_without_the_passage() -> None:
    assert clean_question('\n  Question: "Why is the sky blue?"\nmore') == "Why is the sky blue?"
    flow = Flow.model_validate({"schema_version": 1, "name": "t", "nodes": [
        {"id": "q", "type": "eval.questions", "params": {"template": "no placeholder"}, "position": [0, 0]}]})
    problems = [(p.node_id, p.field) for p in validate_flow(flow) if p.field == "template"]
    assert problems == [("q", "template")]
    assert json.dumps(problems)
