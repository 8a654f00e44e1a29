"""Retrieval nodes: top-k passages for a query (`index.retrieve`) and an answer's sources (`knowledge.cite`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import ModelSourceField, Node, NodeParams, Port, Ports, Resources
from flowstudio.core.ports import Text
from flowstudio.core.values import Artifact

from .kinds import KnowledgeIndex, Passages


class RetrieveParams(NodeParams):
    mode: Literal["dense", "bm25", "hybrid"] = Field("hybrid", description="dense: cosine similarity of "
                                                     "embeddings; bm25: keywords; hybrid: both, fused by "
                                                     "reciprocal rank")
    k: int = Field(5, ge=1, le=1000, description="Passages returned")
    candidates: int = Field(50, ge=1, le=10_000, description="hybrid: how deep each retriever goes before fusion")
    rrf_k: int = Field(60, ge=1, le=10_000, description="hybrid: the k of reciprocal-rank fusion, 1/(k + rank)")
    rerank: bool = Field(False, description="Re-order the candidates with a local cross-encoder")
    reranker: str = ModelSourceField("", "rerank: a local cross-encoder directory or a cached hub id "
                                     "(e.g. cross-encoder/ms-marco-MiniLM-L-6-v2)")
    rerank_depth: int = Field(20, ge=1, le=1000, description="rerank: how many candidates the cross-encoder reads")


_rerankers: dict[tuple[str, str], Any] = {}


def reranker_for(params: RetrieveParams, flow_dir: Path | None) -> Any:
    if not params.rerank:
        return None
    from .search import load_reranker

    key = (params.reranker, str(flow_dir))
    if key not in _rerankers:
        _rerankers.clear()
        _rerankers[key] = load_reranker(params.reranker, flow_dir)
    return _rerankers[key]


def index_dir(value: Any) -> Path:
    from flowstudio.nodes.hf.loading import artifact_path

    return artifact_path(value, "knowledge base", "index")


class Retrieve(Node):
    type = "index.retrieve"
    title = "Retrieve"
    category = "Knowledge"
    icon = "mdi6.text-search"
    description = ("The top-k passages for a query from a knowledge base: dense, BM25 or hybrid (reciprocal-rank "
                   "fusion), optionally re-ordered by a local cross-encoder. Outputs the passages with rank, score "
                   "and source, and the same as prompt text with [n] markers.")
    resources = Resources(worker=True, memory_gb=1.0)  # the embedding model stays loaded in the worker

    class Inputs(Ports):
        index = Port(KnowledgeIndex, "A knowledge base from index.build")
        query = Port(Text, "The question")

    class Outputs(Ports):
        passages = Port(Passages, "rank, score, id, source, text, character span, dense_rank, bm25_rank")
        context = Port(Text, "The passages as prompt text: [1] (source) text ...")
        sources = Port(Text, "The passages' sources, one a line, best first")

    class Params(RetrieveParams):
        max_chars: int = Field(0, ge=0, description="Cut each passage in `context` to this many characters (0: "
                               "whole)")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from .search import format_context, search
        from .store import open_index, write_jsonl

        query = inputs.query if isinstance(inputs.query, str) else json.dumps(inputs.query, ensure_ascii=False)
        if not query.strip():
            raise NodeRunError("the query is empty", field="query", hint="connect a text with the question")
        kb = open_index(index_dir(inputs.index))
        passages = search(kb, [query], params.mode, params.k, params.candidates, params.rrf_k,
                          reranker_for(params, ctx.flow_dir), params.rerank_depth)[0]
        out = Path(ctx.work_dir) / "passages.jsonl"
        write_jsonl(out, passages)
        for p in passages:
            ctx.log(f"[{p['rank']}] {p['score']:.4f} {p['id']}")
        sources = list(dict.fromkeys(p["source"] for p in passages))
        return {"passages": Artifact("table", str(out.resolve()), {"rows": len(passages),
                                                                   "columns": list(passages[0]) if passages else []}),
                "context": format_context(passages, params.max_chars), "sources": "\n".join(sources)}


class Cite(Node):
    type = "knowledge.cite"
    title = "Cite sources"
    category = "Knowledge"
    icon = "mdi6.format-quote-close"
    description = ("Adds the sources an answer used to it: the passages it cites with [n] markers; when it cites "
                   "none, the passage it shares the most content words with (attribution by overlap; `none` "
                   "adds nothing then). Output: the answer with a `Sources:` line.")
    resources = Resources(isolated=True)

    class Inputs(Ports):
        answer = Port(Text, "The generated answer")
        passages = Port(Passages, "The passages the prompt held (index.retrieve), in the same order")

    class Outputs(Ports):
        text = Port(Text, "The answer followed by `Sources: [n] source, ...`")
        sources = Port(Text, "The cited sources, one a line")

    class Params(NodeParams):
        fallback: Literal["overlap", "none"] = Field("overlap", description="When the answer has no [n] marker: "
                                                     "name the passage it overlaps most, or nothing")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from .store import read_jsonl

        answer = inputs.answer if isinstance(inputs.answer, str) else json.dumps(inputs.answer, ensure_ascii=False)
        passages = read_jsonl(passages_path(inputs.passages))
        cited, how = cited_passages(answer, passages, params.fallback)
        ctx.log(f"cited by {how}: {[n for n, _ in cited]}")
        line = "; ".join(f"[{n}] {p['source']}" for n, p in cited)
        text = answer.rstrip() + (f"\n\nSources: {line}" if line else "\n\nSources: none of the passages")
        return {"text": text, "sources": "\n".join(dict.fromkeys(p["source"] for _, p in cited))}


def passages_path(value: Any) -> Path:
    from flowstudio.nodes.hf.loading import artifact_path

    return artifact_path(value, "passages table", "passages")


def cited_passages(answer: str, passages: list[Mapping[str, Any]], fallback: str = "overlap"
                   ) -> tuple[list[tuple[int, Mapping[str, Any]]], str]:
    """(marker number, passage) for each passage the answer cites, in order, and how they were found."""
    import re

    numbers = [int(m) for m in re.findall(r"\[(\d{1,4})\]", answer)]
    cited = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(passages)]
    if cited:
        return [(n, passages[n - 1]) for n in cited], "markers"
    if fallback == "none" or not passages:
        return [], "none"
    from .store import bm25_tokens

    words = set(bm25_tokens([answer])[0])
    if not words:
        return [], "overlap"
    shares = [len(words & set(toks)) for toks in bm25_tokens([p["text"] for p in passages])]
    best = max(range(len(passages)), key=lambda i: (shares[i], -i))
    return ([(best + 1, passages[best])] if shares[best] else []), "overlap"
