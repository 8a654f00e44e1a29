"""Evaluation nodes: perplexity on a dataset, QA accuracy of generated answers, reward-model score of generations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources
from flowstudio.core.ports import Dataset, Metrics, Model, RewardModel, Table
from flowstudio.core.values import Artifact

from .matching import score_answer


class _Eval(Node):
    category = "Evaluation"
    resources = Resources(gpus=1, worker=True, memory_gb=1.0)


def _load_policy(ctx: Any, model: Any) -> tuple[Any, Any, str]:
    from flowstudio.nodes.hf.loading import artifact_path, load_model_artifact, load_tokenizer, torch_device
    from flowstudio.nodes.training.common import quiet_libraries

    quiet_libraries()
    device = "cpu" if (model.meta or {}).get("device_map") == "cpu" else torch_device(ctx)
    path = artifact_path(model, "model", "model")
    trust = bool((model.meta or {}).get("trust_remote_code"))
    m = load_model_artifact(model, device=device)
    m.eval()
    return m, load_tokenizer(path, trust_remote_code=trust), device


def _write_table(ctx: Any, rows: list[dict[str, Any]], name: str) -> Artifact:
    path = Path(ctx.work_dir) / f"{name}.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Artifact("table", str(path.resolve()), {"rows": len(rows), "columns": list(rows[0]) if rows else []})


class Perplexity(_Eval):
    type = "eval.perplexity"
    title = "Perplexity"
    icon = "mdi6.chart-bell-curve"
    description = "Mean negative log-likelihood per token of a model on a dataset, and its perplexity (exp NLL)."

    class Inputs(Ports):
        model = Port(Model, "The model to evaluate")
        dataset = Port(Dataset, "Any dataset: texts, chats (rendered with the chat template), QA, prompt/completion")

    class Outputs(Ports):
        metrics = Port(Metrics, "nll, perplexity, tokens")

    class Params(NodeParams):
        max_length: int = Field(512, ge=8, description="Longer texts are truncated")
        batch_size: int = Field(8, ge=1, description="Texts per forward pass")
        max_rows: int = Field(0, ge=0, description="Evaluate only the first N rows (0: all)")
        tokens: Literal["auto", "all", "answers"] = Field(
            "auto", description="Which tokens count: answers (completions, assistant replies, QA answers) as in "
            "SFT's eval loss, or all; auto = answers except for plain text")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.data.formats import render_prompt_and_full, require_chat_template
        from flowstudio.nodes.data.storage import load_dataset_artifact
        from flowstudio.nodes.hf.scoring import mean_nll

        ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
        if params.max_rows:
            ds = ds.select(range(min(params.max_rows, len(ds))))
        model, tok, device = _load_policy(ctx, inputs.model)
        if (inputs.dataset.meta or {}).get("conversational") or fmt == "messages":
            require_chat_template(tok, "model")
        split = [render_prompt_and_full(row, fmt, tok) for row in ds]
        answers_only = params.tokens == "answers" or (params.tokens == "auto" and fmt != "text")
        nll, tokens = mean_nll(model, tok, [full for _, full in split], device, params.max_length,
                               params.batch_size, progress=lambda i, n: ctx.progress(i, n, "perplexity"),
                               prefixes=[head for head, _ in split] if answers_only else None)
        metrics = {"nll": nll, "perplexity": math.exp(min(nll, 700.0)), "tokens": float(tokens)}
        for name, value in metrics.items():
            ctx.metric(name, value)
        return {"metrics": metrics}


def qa_prompt(tokenizer: Any, question: str) -> Any:
    """The same prompt SFT builds from QA rows: a user turn with a chat template, else `Question: ...`."""
    if getattr(tokenizer, "chat_template", None):
        return [{"role": "user", "content": question}]
    return f"Question: {question}\nAnswer:"


class QaAccuracy(_Eval):
    type = "eval.qa_accuracy"
    title = "QA accuracy"
    icon = "mdi6.check-decagram"
    description = ("Generate an answer to each question (greedy) and score it. Both metrics compare normalised "
                   "text (lowercase, no punctuation, no articles, single spaces): exact_match = the first line "
                   "of the generation equals the answer; contains = the answer occurs in the whole generation "
                   "as whole words (\"4\" is not found in \"14\"; a negated answer still counts).")

    class Inputs(Ports):
        model = Port(Model, "The model to evaluate")
        dataset = Port(Dataset, "Question/answer data")

    class Outputs(Ports):
        metrics = Port(Metrics, "exact_match, contains, rows")
        table = Port(Table, "One row per question: question, answer, prediction, exact_match, contains")

    class Params(NodeParams):
        max_new_tokens: int = Field(32, ge=1, le=4096, description="Longest answer generated")
        batch_size: int = Field(8, ge=1, description="Questions per generate call")
        max_rows: int = Field(100, ge=0, description="Evaluate only the first N questions (0: all)")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.data.storage import load_dataset_artifact
        from flowstudio.nodes.hf.scoring import generate_texts

        ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
        if fmt != "qa":
            raise NodeRunError(f"QA accuracy needs question/answer data, got {fmt!r} with columns "
                               f"{list(ds.column_names)}", field="dataset",
                               hint="load a dataset with `question` and `answer` columns (e.g. builtin:qa), or "
                                    "map yours with data.load's column_mapping")
        if params.max_rows:
            ds = ds.select(range(min(params.max_rows, len(ds))))
        model, tok, device = _load_policy(ctx, inputs.model)
        rows = ds.to_list()
        preds = generate_texts(model, tok, [qa_prompt(tok, str(r["question"])) for r in rows], device,
                               params.max_new_tokens, params.batch_size,
                               progress=lambda i, n: ctx.progress(i, n, "answering"), stream=ctx.stream)
        table = []
        for row, pred in zip(rows, preds, strict=True):
            exact, contains = score_answer(str(row["answer"]), pred)
            table.append({"question": row["question"], "answer": row["answer"], "prediction": pred,
                          "exact_match": exact, "contains": contains})
        n = len(table)
        metrics = {"exact_match": sum(r["exact_match"] for r in table) / n,
                   "contains": sum(r["contains"] for r in table) / n, "rows": float(n)}
        for name, value in metrics.items():
            ctx.metric(name, value)
        return {"metrics": metrics, "table": _write_table(ctx, table, "qa_accuracy")}


def prompts_of(ds: Any, fmt: str) -> list[Any]:
    """The prompts in a dataset of any format (chat prompts stay message lists)."""
    if fmt in ("preference", "prompt_completion") and "prompt" in ds.column_names:
        return list(ds["prompt"])
    if fmt == "qa":
        return [[{"role": "user", "content": str(q)}] for q in ds["question"]]
    if fmt == "messages":
        out = []
        for msgs in ds["messages"]:
            cut = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=len(msgs))
            if cut == 0:
                continue
            out.append(list(msgs[:cut]))
        return out
    if fmt == "text":
        return list(ds["text"])
    raise NodeRunError(f"no prompts in a {fmt!r} dataset with columns {list(ds.column_names)}", field="dataset",
                       hint="use data with a `prompt`, `question`, `messages` or `text` column")


class RewardScore(_Eval):
    type = "eval.reward_score"
    title = "Reward score"
    icon = "mdi6.star-check"
    description = ("Generate a completion for each prompt and score it with a reward model: the mean score says "
                   "how much the reward model likes this policy (compare an SFT and a PPO/DPO model with it).")
    cacheable = True

    class Inputs(Ports):
        model = Port(Model, "The policy that generates")
        reward_model = Port(RewardModel, "The reward model that scores")
        dataset = Port(Dataset, "Prompts (prompt, question, messages or text columns)")

    class Outputs(Ports):
        metrics = Port(Metrics, "mean_reward, std_reward, min_reward, max_reward, rows")
        table = Port(Table, "One row per prompt: prompt, completion, reward")

    class Params(NodeParams):
        max_new_tokens: int = Field(48, ge=1, le=4096, description="Longest completion generated")
        max_rows: int = Field(64, ge=0, description="Score only the first N prompts (0: all)")
        batch_size: int = Field(8, ge=1, description="Prompts per generate call")
        temperature: float = Field(0.0, ge=0, description="0: greedy (deterministic); > 0: sampled with the seed")
        seed: int = Field(0, description="Sampling seed")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.data.examples import scored_text
        from flowstudio.nodes.data.storage import load_dataset_artifact
        from flowstudio.nodes.hf.loading import artifact_path, load_tokenizer
        from flowstudio.nodes.hf.scoring import generate_texts, reward_scores
        from transformers import AutoModelForSequenceClassification

        ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
        prompts = prompts_of(ds, fmt)
        if params.max_rows:
            prompts = prompts[:params.max_rows]
        if not prompts:
            raise NodeRunError("the dataset holds no prompts", field="dataset")
        model, tok, device = _load_policy(ctx, inputs.model)
        if any(isinstance(p, list) for p in prompts) and not getattr(tok, "chat_template", None):
            from flowstudio.nodes.data.formats import require_chat_template

            require_chat_template(tok, "model")
        completions = generate_texts(model, tok, prompts, device, params.max_new_tokens, params.batch_size,
                                     params.temperature, params.seed,
                                     progress=lambda i, n: ctx.progress(i, n, "generating"),
                                     strip=False)  # scored_text decides, as for PPO
        del model
        rm_path = artifact_path(inputs.reward_model, "reward model", "reward_model")
        trust = bool((inputs.reward_model.meta or {}).get("trust_remote_code"))
        rm = AutoModelForSequenceClassification.from_pretrained(rm_path, trust_remote_code=trust).to(device).eval()
        rm_tok = load_tokenizer(rm_path, trust_remote_code=trust)
        texts = [scored_text(rm_tok, p, c) for p, c in zip(prompts, completions, strict=True)]
        scores = reward_scores(rm, rm_tok, texts, device, batch_size=params.batch_size,
                               progress=lambda i, n: ctx.progress(i, n, "scoring"))
        mean = sum(scores) / len(scores)
        metrics = {"mean_reward": mean, "std_reward": math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores)),
                   "min_reward": min(scores), "max_reward": max(scores), "rows": float(len(scores))}
        for name, value in metrics.items():
            ctx.metric(name, value)
        table = [{"prompt": p, "completion": c, "reward": s} for p, c, s in zip(prompts, completions, scores,
                                                                                  strict=True)]
        return {"metrics": metrics, "table": _write_table(ctx, table, "reward_scores")}
