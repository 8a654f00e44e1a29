"""The shipped knowledge data and templates: honest labels, ≥ 50 questions over ≥ 200 chunks, and (slow) the
Compare retrievers and Chat with your documents templates on the real models."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from flowstudio.core.flow import Flow
from flowstudio.core.paths import assets_dir, templates_dir
from flowstudio.core.validation import validate_flow

CORPUS = assets_dir() / "knowledge" / "corpus"
QUESTIONS = assets_dir() / "knowledge" / "questions.jsonl"


def labels() -> list[dict[str, str]]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_the_labelled_set_is_big_enough_and_honest() -> None:
    rows = labels()
    assert len(rows) >= 50 and len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        text = (CORPUS / row["source"]).read_text(encoding="utf-8")
        pattern = r"\s+".join(re.escape(w) for w in row["span"].split())
        assert len(re.findall(pattern, text)) == 1, f"{row['id']}: the span must occur once in {row['source']}"
        # paraphrased, not copied: no run of five words of the question appears in its source
        q, doc = words(row["question"]), " " + " ".join(words(text)) + " "
        copied = [" ".join(q[i:i + 5]) for i in range(len(q) - 4) if " " + " ".join(q[i:i + 5]) + " " in doc]
        assert not copied, f"{row['id']} copies its source: {copied}"


@pytest.mark.parametrize("name", ["compare_retrievers.flow.json", "chat_with_docs.flow.json"])
def test_templates_validate(name: str) -> None:
    path = templates_dir() / name
    flow = Flow.model_validate_json(path.read_text(encoding="utf-8"))
    assert validate_flow(flow, flow_dir=path.parent) == []


def test_the_templates_chunking_gives_over_200_chunks(run_node, minilm) -> None:  # noqa: ANN001
    from flowstudio.nodes.knowledge.documents import LoadDocuments, SplitDocuments

    flow = json.loads((templates_dir() / "compare_retrievers.flow.json").read_text())
    split = next(n for n in flow["nodes"] if n["type"] == "docs.split")["params"]
    docs = run_node(LoadDocuments, path="builtin:flowstudio-docs")
    out = run_node(SplitDocuments, {"documents": docs["documents"], "tokenizer": minilm["tokenizer"]}, **split)
    assert out["chunks"].meta["chunks"] >= 200


def run_flow(name: str, *args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "flowstudio", "run", str(templates_dir() / name), "--json", *args],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_compare_retrievers_reports_each_retriever_and_hybrid_is_best() -> None:
    summary = run_flow("compare_retrievers.flow.json")
    got = {name: summary["outputs"][f"{name}_metrics"] for name in ("dense", "bm25", "hybrid")}
    for metrics in got.values():
        assert metrics["questions"] == len(labels())
        assert 0.3 < metrics["hit@5"] <= 1.0 and 0.2 < metrics["mrr"] <= 1.0
    print({name: (round(m["hit@5"], 3), round(m["mrr"], 3)) for name, m in got.items()})
    assert got["hybrid"]["hit@5"] >= max(got["dense"]["hit@5"], got["bm25"]["hit@5"])
    assert got["hybrid"]["mrr"] >= max(got["dense"]["mrr"], got["bm25"]["mrr"])


@pytest.mark.slow
def test_chat_with_docs_answers_with_the_right_source_on_smollm2() -> None:
    summary = run_flow("chat_with_docs.flow.json",
                       "--input", "question=How do I make the local server require an API key?")
    answer = summary["outputs"]["answer"]
    body, _, sources = answer.rpartition("\n\nSources: ")
    assert body.strip(), answer
    assert "serve.md" in sources, answer


def test_chat_with_docs_is_servable() -> None:
    from flowstudio.serve.flows import FlowBackend

    backend = FlowBackend("docs", templates_dir() / "chat_with_docs.flow.json")
    assert (backend.input_id, backend.output_id, backend.history_id) == ("question", "answer", None)
