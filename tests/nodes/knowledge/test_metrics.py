"""hit@k, MRR, nDCG@k and recall@k against hand computations; relevance from source + span."""

from __future__ import annotations

import math

import pytest
from flowstudio.nodes.knowledge.metrics import evaluate, relevant_chunks
from flowstudio.nodes.knowledge.search import rrf

from flowstudio.core.errors import NodeRunError

QRELS = {"q1": {"a", "c"}, "q2": {"z"}, "q3": {"b"}}
RUN = {"q1": ["b", "a", "d", "c"], "q2": ["x", "y", "w", "v"], "q3": ["b"]}


def test_measures_match_a_hand_computation() -> None:
    means, per = evaluate(QRELS, RUN, k=3)
    # q1: first relevant at rank 2; relevant a (rank 2) and c (rank 4, outside k=3)
    assert per["q1"]["hit@3"] == 1.0 and per["q1"]["mrr"] == 0.5
    assert per["q1"]["recall@3"] == 0.5
    dcg = 1 / math.log2(3)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert per["q1"]["ndcg@3"] == pytest.approx(dcg / idcg)
    # q2: nothing relevant retrieved; q3: relevant at rank 1
    assert per["q2"] == {"hit@3": 0.0, "mrr": 0.0, "ndcg@3": 0.0, "recall@3": 0.0}
    assert per["q3"] == {"hit@3": 1.0, "mrr": 1.0, "ndcg@3": 1.0, "recall@3": 1.0}
    assert means["hit@3"] == pytest.approx(2 / 3)
    assert means["mrr"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert means["recall@3"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert means["ndcg@3"] == pytest.approx((dcg / idcg + 0 + 1) / 3)


def test_a_question_with_nothing_retrieved_counts_as_zero() -> None:
    means, per = evaluate({"q1": {"a"}, "q2": {"b"}}, {"q1": ["a"], "q2": []}, k=5)
    assert per["q2"]["mrr"] == 0.0
    assert means["mrr"] == 0.5 and means["hit@5"] == 0.5  # trec_eval alone would report 1.0


def test_the_given_order_wins_over_trec_eval_tie_breaking() -> None:
    means, _ = evaluate({"q": {"a"}}, {"q": ["z", "a"]}, k=1)
    assert means["mrr"] == 0.5 and means["hit@1"] == 0.0


def test_rrf_matches_the_formula() -> None:
    fused = rrf([[(1, 0.9), (2, 0.8)], [(2, 5.0), (3, 4.0)]], k=60)
    assert fused[0] == (2, pytest.approx(1 / 62 + 1 / 61))
    assert dict(fused)[1] == pytest.approx(1 / 61) and dict(fused)[3] == pytest.approx(1 / 62)


CHUNKS = [
    {"id": "a#0", "source": "a.md", "text": "one two three", "start_char": 0, "end_char": 13},
    {"id": "a#1", "source": "a.md", "text": "three four five six", "start_char": 8, "end_char": 27},
    {"id": "a#2", "source": "a.md", "text": "seven eight", "start_char": 29, "end_char": 40},
    {"id": "b#0", "source": "b.md", "text": "nine ten", "start_char": 0, "end_char": 8},
]


def test_relevance_by_span_ignores_whitespace_and_survives_chunk_ids() -> None:
    labels = [{"id": "s", "source": "a.md", "span": "four\n five"}, {"id": "doc", "source": "b.md"},
              {"id": "both", "source": "a.md", "span": "two three four"}, {"id": "exact", "chunk_id": "a#2"}]
    rel = relevant_chunks(labels, CHUNKS)
    assert rel == {"s": {"a#1"}, "doc": {"b#0"}, "both": {"a#0", "a#1"}, "exact": {"a#2"}}


def test_a_span_that_is_not_in_its_source_names_the_question() -> None:
    with pytest.raises(NodeRunError, match="question q7: its span is not in a.md"):
        relevant_chunks([{"id": "q7", "source": "a.md", "span": "eleven"}], CHUNKS)
    with pytest.raises(NodeRunError, match="source 'c.md' is not in the index"):
        relevant_chunks([{"id": "q8", "source": "c.md", "span": "x"}], CHUNKS)
