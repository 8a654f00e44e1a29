"""Retrieval evaluation: hit@k, MRR, nDCG@k and recall@k on labelled questions (`eval.retrieval`), and a
labelled set written by a local model when there is none (`eval.questions`)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from flowstudio.nodes.chains.templating import variables
from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, PathField, Port, Ports, Resources, TextField
from flowstudio.core.paths import is_builtin_reference, resolve_user_path
from flowstudio.core.ports import Metrics, Model, Table
from flowstudio.core.problems import Problem
from flowstudio.core.values import Artifact

from .builtins import BUILTIN_QUESTIONS, builtin_path
from .kinds import Chunks, KnowledgeIndex
from .retrieval import RetrieveParams, index_dir, reranker_for


def read_labels(path: Path) -> list[dict[str, Any]]:
    """A labelled set: JSONL rows with question, source, and span or chunk_id (id optional)."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise NodeRunError(f"{path} cannot be read: {err}", field="questions") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise NodeRunError(f"{path}, line {number}: not JSON ({err})", field="questions") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not (
                row.get("source") or row.get("chunk_id")):
            raise NodeRunError(f"{path}, line {number}: a label needs `question` and `source` (with an optional "
                               "`span`) or `chunk_id`", field="questions")
        row.setdefault("id", f"q{number}")
        rows.append(row)
    if not rows:
        raise NodeRunError(f"{path} holds no questions", field="questions")
    return rows


class EvalRetrieval(Node):
    type = "eval.retrieval"
    title = "Retrieval quality"
    category = "Evaluation"
    icon = "mdi6.bullseye-arrow"
    description = ("hit@k, MRR, nDCG@k and recall@k of a retriever on labelled questions (computed with "
                   "ir-measures / trec_eval). A label names the source and a span of text that answers it; the "
                   "chunks covering at least half the span are the relevant ones, so labels survive "
                   "re-chunking. builtin:flowstudio-docs-questions: 60 hand-written questions on "
                   "builtin:flowstudio-docs.")
    resources = Resources(worker=True, memory_gb=1.0)

    class Inputs(Ports):
        index = Port(KnowledgeIndex, "The knowledge base to evaluate")
        questions = Port(Table, "A labelled set (e.g. from eval.questions); replaces questions_path", optional=True)

    class Outputs(Ports):
        metrics = Port(Metrics, "hit@k, mrr, ndcg@k, recall@k, questions")
        table = Port(Table, "One row per question: its relevant chunks, what was retrieved, the first hit's rank")

    class Params(RetrieveParams):
        questions_path: str = PathField("builtin:flowstudio-docs-questions", "A JSONL labelled set (question, "
                                        "source, span) when the questions input is not connected", kind="file")
        depth: int = Field(10, ge=1, le=1000, description="How many passages are retrieved per question (MRR "
                           "is computed over them)")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, EvalRetrieval.Params)
        if params.depth < params.k:
            return [Problem("bad_param", f"depth ({params.depth}) is smaller than k ({params.k})", field="depth",
                            hint="retrieve at least k passages")]
        return []

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import artifact_path

        from .metrics import evaluate, relevant_chunks
        from .search import search
        from .store import open_index, write_jsonl

        if inputs.get("questions") is not None:
            labels = read_labels(artifact_path(inputs.questions, "labelled set", "questions"))
        elif is_builtin_reference(params.questions_path):
            labels = read_labels(builtin_path(params.questions_path, BUILTIN_QUESTIONS, "questions_path"))
        elif params.questions_path.strip():
            labels = read_labels(resolve_user_path(params.questions_path, ctx.flow_dir))
        else:
            raise NodeRunError("no labelled questions", field="questions_path",
                               hint="connect a labelled set (eval.questions) or set questions_path")
        kb = open_index(index_dir(inputs.index))
        qrels = relevant_chunks(labels, kb.chunks)
        hits = search(kb, [str(label["question"]) for label in labels], params.mode, params.depth,
                      params.candidates, params.rrf_k, reranker_for(params, ctx.flow_dir), params.rerank_depth)
        rankings = {str(label["id"]): [p["id"] for p in found] for label, found in zip(labels, hits, strict=True)}
        means, per = evaluate(qrels, rankings, params.k)
        rows = []
        for label, found in zip(labels, hits, strict=True):
            qid = str(label["id"])
            first = next((p["rank"] for p in found if p["id"] in qrels[qid]), None)
            rows.append({"id": qid, "question": label["question"], "source": label.get("source"),
                         "relevant": sorted(qrels[qid]), "first_relevant_rank": first,
                         "retrieved": [p["id"] for p in found[:params.k]], **per[qid]})
        out = Path(ctx.work_dir) / "retrieval_eval.jsonl"
        write_jsonl(out, rows)
        metrics = {**means, "questions": float(len(labels))}
        for name, value in metrics.items():
            ctx.metric(name, value)
        ctx.log(f"{params.mode}: " + ", ".join(f"{n} {v:.3f}" for n, v in means.items()) + f" on {len(labels)} "
                "questions")
        return {"metrics": metrics,
                "table": Artifact("table", str(out.resolve()), {"rows": len(rows), "columns": list(rows[0])})}


QUESTION_PROMPT = ("Here is a passage from a document.\n\n{{ passage }}\n\nWrite one question that this passage "
                   "answers. Use your own words, not the passage's. Reply with the question only.")


class GenerateQuestions(Node):
    type = "eval.questions"
    title = "Write labelled questions"
    category = "Evaluation"
    icon = "mdi6.comment-question-outline"
    description = ("A labelled set for eval.retrieval written by a local model: for chunks drawn at random (seeded), "
                   "the model writes a question the chunk answers; each row is labelled with the chunk's source "
                   "and text as its span. Check a sample by hand: a small model writes poor questions.")
    resources = Resources(gpus=1, worker=True, memory_gb=2.0)

    class Inputs(Ports):
        model = Port(Model, "The model that writes the questions")
        chunks = Port(Chunks, "Chunks to write questions about (docs.split)")

    class Outputs(Ports):
        table = Port(Table, "Labelled questions: id, question, source, span, chunk_id")

    class Params(NodeParams):
        questions: int = Field(20, ge=1, le=10_000, description="How many questions")
        min_tokens: int = Field(24, ge=0, description="Skip chunks shorter than this")
        seed: int = Field(0, description="Which chunks are drawn")
        max_new_tokens: int = Field(48, ge=4, le=1024, description="Longest question")
        template: str = TextField(QUESTION_PROMPT, "The prompt; {{ passage }} is the chunk's text")
        use_chat_template: bool = Field(True, description="Send the prompt as a user message through the model's "
                                        "chat template (off: as plain text, for base models)")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, GenerateQuestions.Params)
        if "passage" not in variables(params.template):
            return [Problem("bad_template", "the template has no {{ passage }}", field="template",
                            hint="put {{ passage }} where the chunk's text goes")]
        return []

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.chains import generation as gen
        from flowstudio.nodes.chains.chain import load_for
        from flowstudio.nodes.chains.templating import render
        from flowstudio.nodes.hf.loading import artifact_path

        from .store import read_jsonl, write_jsonl

        chunks = [c for c in read_jsonl(artifact_path(inputs.chunks, "chunks", "chunks"))
                  if c.get("tokens", 0) >= params.min_tokens]
        if not chunks:
            raise NodeRunError(f"no chunk has {params.min_tokens} tokens or more", field="min_tokens")
        picked = random.Random(params.seed).sample(chunks, min(params.questions, len(chunks)))
        loaded = load_for(ctx, inputs.model, None)
        sampling = gen.Sampling(max_new_tokens=params.max_new_tokens)
        rows = []
        for i, chunk in enumerate(picked):
            if ctx.cancelled():
                from flowstudio.core.errors import RunCancelled

                raise RunCancelled(f"stopped after {i} questions")
            prompt = render(params.template, {"passage": chunk["text"]})
            text, chat = gen.render_prompt(loaded.tokenizer, prompt, use_chat_template=params.use_chat_template)
            question = clean_question(gen.generate(loaded, text, sampling, chat=chat).text)
            if question:
                rows.append({"id": f"g{i + 1:04d}", "question": question, "source": chunk["source"],
                             "span": chunk["text"], "chunk_id": ""})
            ctx.progress(i + 1, len(picked))
        if not rows:
            raise NodeRunError("the model wrote no usable question", field="model",
                               hint="use an instruction-tuned model (e.g. builtin:smollm2-135m-instruct)")
        out = Path(ctx.work_dir) / "questions.jsonl"
        write_jsonl(out, rows)
        ctx.log(f"{len(rows)} questions from {len(picked)} chunks")
        return {"table": Artifact("table", str(out.resolve()), {"rows": len(rows), "columns": list(rows[0])})}


def clean_question(text: str) -> str:
    """The first non-empty line, without a `Question:` label or quotes."""
    for line in text.strip().splitlines():
        line = line.strip()
        if line.lower().startswith("question:"):
            line = line[len("question:"):]
        line = line.strip().strip('"').strip()
        if line:
            return line[:500]
    return ""
