"""Retrieval quality: which chunks answer each labelled question, and hit@k, MRR, nDCG@k, recall@k.

A label names its source document and, optionally, a span of that document's text (a phrase or
sentence that holds the answer). A chunk is relevant when it is from that source and covers at least
half of the span, so labels survive re-chunking; without a span every chunk of the source is relevant;
`chunk_id` names one chunk exactly. Spans are matched ignoring differences in whitespace.

The measures are trec_eval's, through `ir-measures` (pytrec_eval): Success@k (hit@k), RR (MRR, over
the retrieved list), nDCG@k and R@k (recall@k), each averaged over every question: a question with
nothing retrieved counts as 0 (trec_eval itself would leave it out of the mean).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flowstudio.core.errors import NodeRunError


def _doc_texts(chunks: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each source's text rebuilt from its chunks (the gaps between chunks are whitespace)."""
    sizes: dict[str, int] = {}
    for c in chunks:
        sizes[c["source"]] = max(sizes.get(c["source"], 0), c["end_char"])
    buffers = {s: [" "] * n for s, n in sizes.items()}
    for c in chunks:
        buffers[c["source"]][c["start_char"]:c["end_char"]] = list(c["text"])
    return {s: "".join(b) for s, b in buffers.items()}


def _span_pattern(span: str) -> re.Pattern[str]:
    return re.compile(r"\s+".join(re.escape(w) for w in span.split()))


def relevant_chunks(labels: Sequence[Mapping[str, Any]], chunks: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """question id -> ids of the chunks that answer it. A label that matches no chunk is an error."""
    texts = _doc_texts(chunks)
    by_source: dict[str, list[Mapping[str, Any]]] = {}
    for c in chunks:
        by_source.setdefault(c["source"], []).append(c)
    ids = {c["id"] for c in chunks}
    out: dict[str, set[str]] = {}
    for label in labels:
        qid, source = str(label["id"]), str(label.get("source", ""))
        if label.get("chunk_id"):
            if label["chunk_id"] not in ids:
                raise NodeRunError(f"question {qid}: no chunk {label['chunk_id']!r} in the index", field="questions",
                                   hint="label by source and span to survive re-chunking")
            out[qid] = {str(label["chunk_id"])}
            continue
        if source not in by_source:
            raise NodeRunError(f"question {qid}: its source {source!r} is not in the index", field="questions",
                               hint=f"sources in the index: {', '.join(sorted(by_source)[:20])}")
        span = str(label.get("span") or "")
        if not span.strip():
            out[qid] = {c["id"] for c in by_source[source]}
            continue
        found = _span_pattern(span).search(texts[source])
        if found is None:
            raise NodeRunError(f"question {qid}: its span is not in {source}: {span[:80]!r}", field="questions",
                               hint="a span is copied from the document (whitespace may differ)")
        a, b = found.span()
        need = (b - a) / 2
        out[qid] = {c["id"] for c in by_source[source] if min(b, c["end_char"]) - max(a, c["start_char"]) >= need}
        if not out[qid]:  # a span longer than two chunks: the chunks that cover most of it
            best = max(min(b, c["end_char"]) - max(a, c["start_char"]) for c in by_source[source])
            out[qid] = {c["id"] for c in by_source[source] if min(b, c["end_char"]) - max(a, c["start_char"]) == best}
    return out


def measure_names(k: int) -> dict[str, str]:
    """Our metric name -> the ir-measures measure."""
    return {f"hit@{k}": f"Success@{k}", "mrr": "RR", f"ndcg@{k}": f"nDCG@{k}", f"recall@{k}": f"R@{k}"}


def evaluate(qrels: Mapping[str, set[str]], rankings: Mapping[str, Sequence[str]], k: int
             ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean of each measure over every question in qrels, per-question values). `rankings`: question id ->
    retrieved chunk ids, best first (given to trec_eval with strictly decreasing scores, so its tie-breaking
    never reorders them)."""
    import ir_measures

    names = measure_names(k)
    measures = [ir_measures.parse_measure(m) for m in names.values()]
    qrels_in = {q: {d: 1 for d in docs} for q, docs in qrels.items()}
    run_in = {q: {d: float(len(ids) - i) for i, d in enumerate(ids)} for q, ids in rankings.items() if ids}
    per: dict[str, dict[str, float]] = {q: dict.fromkeys(names, 0.0) for q in qrels}
    back = {str(m): name for name, m in zip(names, measures, strict=True)}
    if run_in:
        for row in ir_measures.iter_calc(measures, qrels_in, run_in):
            if row.query_id in per:
                per[row.query_id][back[str(row.measure)]] = float(row.value)
    n = max(len(per), 1)
    means = {name: sum(v[name] for v in per.values()) / n for name in names}
    return means, per
