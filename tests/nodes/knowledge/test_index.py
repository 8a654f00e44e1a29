"""index.build, index.retrieve, eval.retrieval and knowledge.cite on a tiny corpus with the real MiniLM."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flowstudio.nodes.knowledge.evaluation import EvalRetrieval
from flowstudio.nodes.knowledge.retrieval import Cite, Retrieve, cited_passages
from flowstudio.nodes.knowledge.search import retrieve_passages
from flowstudio.nodes.knowledge.store import open_index, read_jsonl

from flowstudio.core.errors import NodeRunError
from flowstudio.core.values import Artifact

Run = Callable[..., dict[str, Any]]


@pytest.fixture()
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh vector store (and cache) for this test only, so embedding counts start at zero."""
    monkeypatch.setenv("FLOWSTUDIO_HOME", str(tmp_path / "home"))
    from flowstudio.nodes.knowledge.embedder import builtin_embedder_dir

    # the model dir lives under models_dir(): unpack (cheap) into the fresh home
    builtin_embedder_dir("minilm")


def test_dense_bm25_and_hybrid_find_the_right_document(build_kb: Callable[..., dict[str, Any]], tiny_corpus: Path,
                                                       run_node: Run) -> None:
    kb = build_kb(tiny_corpus)
    index = kb["index"]
    # dense: no word in common with "Kittens open their eyes after about a week"
    dense = retrieve_passages(index.path, "When can young felines first see?", k=2, mode="dense")
    assert dense[0]["source"] == "cats.md" and dense[0]["rank"] == 1 and dense[0]["dense_rank"] == 1
    keyword = retrieve_passages(index.path, "oxidizer vacuum", k=3, mode="bm25")
    assert keyword[0]["source"] == "rockets.md" and all(p["score"] > 0 for p in keyword)
    out = run_node(Retrieve, {"index": index, "query": "What makes the sea rise and fall?"}, k=2)
    rows = read_jsonl(Path(out["passages"].path))
    assert rows[0]["source"] == "ocean.txt" and {"dense_rank", "bm25_rank"} <= set(rows[0])
    assert out["context"].startswith("[1] (ocean.txt)\n") and "[2] (" in out["context"]
    assert out["sources"].splitlines()[0] == "ocean.txt"
    chunk = open_index(index.path).chunks[0]
    text = (tiny_corpus / chunk["source"]).read_text()
    assert text[chunk["start_char"]:chunk["end_char"]] == chunk["text"]


def test_editing_one_document_reembeds_only_its_changed_chunks(own_store: None, build_kb: Callable[..., dict[str, Any]],
                                                               tiny_corpus: Path) -> None:
    first = build_kb(tiny_corpus, node_id="first")
    before = {c["hash"]: c for c in read_jsonl(Path(first["index"].path) / "chunks.jsonl")}
    assert first["metrics"]["chunks_embedded"] == len(before) == first["metrics"]["chunks"]
    doc = tiny_corpus / "ocean.txt"
    doc.write_text(doc.read_text().replace("Coral reefs grow", "Kelp forests grow"))
    second = build_kb(tiny_corpus, node_id="second")
    after = read_jsonl(Path(second["index"].path) / "chunks.jsonl")
    new = [c for c in after if c["hash"] not in before]
    assert new and {c["source"] for c in new} == {"ocean.txt"}
    assert second["metrics"]["chunks_embedded"] == len(new)
    assert second["metrics"]["chunks_reused"] == len(after) - len(new)
    third = build_kb(tiny_corpus, node_id="third")
    assert third["metrics"]["chunks_embedded"] == 0


def test_eval_retrieval_on_labels(build_kb: Callable[..., dict[str, Any]], tiny_corpus: Path, run_node: Run,
                                  tmp_path: Path) -> None:
    kb = build_kb(tiny_corpus)
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(json.dumps(r) for r in [
        {"id": "kitten", "question": "When do young cats start seeing?", "source": "cats.md",
         "span": "Kittens open their eyes after about a week."},
        {"id": "tide", "question": "What pulls the seas up and down?", "source": "ocean.txt", "span": "Tides are caused"},
        {"id": "fuel", "question": "Which propellant is light but freezing?", "source": "rockets.md"}]))
    out = run_node(EvalRetrieval, {"index": kb["index"]}, questions_path=str(labels), mode="hybrid", k=3)
    rows = {r["id"]: r for r in read_jsonl(Path(out["table"].path))}
    hits = [1.0 if rows[q]["first_relevant_rank"] and rows[q]["first_relevant_rank"] <= 3 else 0.0 for q in rows]
    mrr = [1 / rows[q]["first_relevant_rank"] if rows[q]["first_relevant_rank"] else 0.0 for q in rows]
    assert out["metrics"]["hit@3"] == pytest.approx(sum(hits) / 3)
    assert out["metrics"]["mrr"] == pytest.approx(sum(mrr) / 3)
    assert out["metrics"]["questions"] == 3.0 and out["metrics"]["hit@3"] >= 2 / 3
    labels.write_text(json.dumps({"id": "bad", "question": "?", "source": "cats.md", "span": "not in the text"}))
    with pytest.raises(NodeRunError, match="question bad: its span is not in cats.md"):
        run_node(EvalRetrieval, {"index": kb["index"]}, questions_path=str(labels))


def test_reranker_orders_by_the_cross_encoders_scores(build_kb: Callable[..., dict[str, Any]], tiny_corpus: Path,
                                                      run_node: Run, tmp_path: Path, minilm_dir: Path) -> None:
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    kb = build_kb(tiny_corpus)
    ce_dir = tmp_path / "tiny-cross-encoder"  # a tiny, randomly initialised cross-encoder: scores are arbitrary
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(ce_dir)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(ce_dir)
    query = "Which ocean is the deepest?"
    out = run_node(Retrieve, {"index": kb["index"], "query": query}, k=4, rerank=True, reranker=str(ce_dir),
                   rerank_depth=6, mode="hybrid")
    rows = read_jsonl(Path(out["passages"].path))
    ce = CrossEncoder(str(ce_dir), device="cpu")
    texts = {c["id"]: c["text"] for c in open_index(kb["index"].path).chunks}
    expected = [float(s) for s in ce.predict([(query, texts[r["id"]]) for r in rows])]
    assert [r["score"] for r in rows] == pytest.approx(expected, abs=1e-5)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_rerank_without_a_local_cross_encoder_is_a_clear_error(build_kb: Callable[..., dict[str, Any]],
                                                               tiny_corpus: Path, run_node: Run) -> None:
    kb = build_kb(tiny_corpus)
    with pytest.raises(NodeRunError, match="rerank is on but no reranker") as err:
        run_node(Retrieve, {"index": kb["index"], "query": "x"}, rerank=True)
    assert err.value.field == "reranker"
    with pytest.raises(NodeRunError, match="no local cross-encoder 'nobody/no-such-reranker'") as err:
        run_node(Retrieve, {"index": kb["index"], "query": "x"}, rerank=True, reranker="nobody/no-such-reranker")
    assert err.value.field == "reranker"


PASSAGES = [{"source": "serve.md", "text": "The server needs an API key with --api-key."},
            {"source": "ui.md", "text": "The theme switches with Ctrl+Shift+T."}]


def test_cite_names_marked_passages_or_the_best_overlap(run_node: Run, tmp_path: Path) -> None:
    assert [n for n, _ in cited_passages("Use Ctrl+Shift+T [2], see [2] and [9].", PASSAGES)[0]] == [2]
    cited, how = cited_passages("Start it with an API key.", PASSAGES)
    assert how == "overlap" and [p["source"] for _, p in cited] == ["serve.md"]
    assert cited_passages("Start it with an API key.", PASSAGES, "none")[0] == []
    table = tmp_path / "passages.jsonl"
    table.write_text("".join(json.dumps(p) + "\n" for p in PASSAGES))
    out = run_node(Cite, {"answer": "Pass --api-key [1].", "passages": Artifact("table", str(table))})
    assert out["text"] == "Pass --api-key [1].\n\nSources: [1] serve.md" and out["sources"] == "serve.md"
