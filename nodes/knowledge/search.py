"""Retrieval over a knowledge base: dense (cosine), keyword (BM25), hybrid (reciprocal-rank fusion), and
an optional cross-encoder reranker.

`retrieve_passages(index_dir, query)` is the one call an app needs (the playground, a server): it opens
the index once per process, embeds the query with the index's own model, and returns passages with
rank, score and source. It imports torch (to embed the query): call it in a worker process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from flowstudio.core.errors import NodeRunError

from .store import KnowledgeBase, bm25_tokens, open_index

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[str, ...] = ("dense", "bm25", "hybrid")
RRF_K = 60


def dense_rankings(kb: KnowledgeBase, queries: Sequence[str], depth: int) -> list[list[tuple[int, float]]]:
    from .embedder import encode, load_embedder

    emb = kb.embedder
    if not emb.get("path") or not Path(emb["path"]).exists():
        raise NodeRunError(f"the embedding model of {kb.path} is gone ({emb.get('path')})", field="index",
                           hint="rebuild the index (embed.load → index.build)")
    model = load_embedder(emb["path"])
    vecs = encode(model, [emb.get("query_prefix", "") + q for q in queries])
    depth = min(depth, len(kb.chunks))
    scores, ids = kb.dense.search(vecs, depth)
    return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0]
            for row_ids, row_scores in zip(ids, scores, strict=True)]


def bm25_rankings(kb: KnowledgeBase, queries: Sequence[str], depth: int) -> list[list[tuple[int, float]]]:
    depth = min(depth, len(kb.chunks))
    out = []
    for tokens in bm25_tokens(list(queries)):
        if not tokens:  # only stop words: BM25 has nothing to match
            out.append([])
            continue
        docs, scores = kb.bm25.retrieve([tokens], k=depth, show_progress=False, n_threads=1)
        out.append([(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0])
    return out


def rrf(rankings: Sequence[Sequence[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: score(d) = sum over rankings of 1 / (k + rank of d), ranks from 1."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (doc, _) in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def search(kb: KnowledgeBase, queries: Sequence[str], mode: str = "hybrid", k: int = 5, candidates: int = 50,
           rrf_k: int = RRF_K, reranker: Any = None, rerank_depth: int = 20) -> list[list[dict[str, Any]]]:
    """Top-k passages for each query. `candidates`: how deep each retriever goes before fusion."""
    if mode not in MODES:
        raise NodeRunError(f"unknown retrieval mode {mode!r}", field="mode", hint="dense, bm25 or hybrid")
    depth = max(k, candidates if mode == "hybrid" else k, rerank_depth if reranker is not None else k)
    dense = dense_rankings(kb, queries, depth) if mode in ("dense", "hybrid") else None
    keyword = bm25_rankings(kb, queries, depth) if mode in ("bm25", "hybrid") else None
    results = []
    for qi, query in enumerate(queries):
        ranks: dict[str, dict[int, int]] = {}
        if dense is not None:
            ranks["dense"] = {d: r for r, (d, _) in enumerate(dense[qi], start=1)}
        if keyword is not None:
            ranks["bm25"] = {d: r for r, (d, _) in enumerate(keyword[qi], start=1)}
        if mode == "hybrid":
            ranked = rrf([dense[qi], keyword[qi]], rrf_k)  # type: ignore[index]
        else:
            ranked = list((dense if mode == "dense" else keyword)[qi])  # type: ignore[index]
        if reranker is not None:
            ranked = rerank(reranker, query, kb, ranked[:max(k, rerank_depth)])
        results.append([passage(kb, doc, score, rank, ranks) for rank, (doc, score) in
                        enumerate(ranked[:k], start=1)])
    return results


def rerank(model: Any, query: str, kb: KnowledgeBase, ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if not ranked:
        return ranked
    scores = model.predict([(query, kb.chunks[d]["text"]) for d, _ in ranked], show_progress_bar=False)
    order = sorted(zip([d for d, _ in ranked], (float(s) for s in scores), strict=True),
                   key=lambda item: -item[1])
    return order


def passage(kb: KnowledgeBase, doc: int, score: float, rank: int, ranks: dict[str, dict[int, int]]) -> dict[str, Any]:
    chunk = kb.chunks[doc]
    row = {"rank": rank, "score": round(score, 6), "id": chunk["id"], "source": chunk["source"],
           "text": chunk["text"], "start_char": chunk["start_char"], "end_char": chunk["end_char"]}
    if "page" in chunk:
        row["page"] = chunk["page"]
    for name, by_doc in ranks.items():
        row[f"{name}_rank"] = by_doc.get(doc)
    return row


def retrieve_passages(index_dir: Path | str, query: str, k: int = 5, mode: str = "hybrid",
                      candidates: int = 50) -> list[dict[str, Any]]:
    """The top-k passages for one query from an index directory (an index.build artifact's path):
    dicts with rank, score, id, source, text, start_char, end_char (and dense_rank / bm25_rank)."""
    return search(open_index(index_dir), [query], mode, k, candidates)[0]


def format_context(passages: Sequence[dict[str, Any]], max_chars: int = 0) -> str:
    """Passages as prompt text with [n] markers and their sources: `[1] (serve.md)\\ntext`."""
    parts = []
    for i, p in enumerate(passages, start=1):
        text = p["text"] if not max_chars or len(p["text"]) <= max_chars else p["text"][:max_chars] + " …"
        where = p["source"] + (f", page {p['page'] + 1}" if p.get("page") is not None else "")
        parts.append(f"[{i}] ({where})\n{text}")
    return "\n\n".join(parts)


def load_reranker(source: str, flow_dir: Path | None) -> Any:
    """A local cross-encoder (a directory, or a hub id already in the local HF cache); never downloaded."""
    from flowstudio.nodes.hf.loading import resolve_model_source

    if not source.strip():
        raise NodeRunError("rerank is on but no reranker is given", field="reranker",
                           hint="set reranker to a local cross-encoder directory (e.g. one saved from "
                                "cross-encoder/ms-marco-MiniLM-L-6-v2), or turn rerank off")
    try:
        path = resolve_model_source(source, flow_dir)
    except NodeRunError as err:
        raise NodeRunError(f"no local cross-encoder {source!r}: {err}", field="reranker",
                           hint="download one on a connected machine into the HF cache or a directory, or turn "
                                "rerank off") from None
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(str(path), device="cpu", local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise NodeRunError(f"{path} is not a usable cross-encoder: {err}", field="reranker",
                           hint="choose a sequence-classification model directory (a cross-encoder)") from None
