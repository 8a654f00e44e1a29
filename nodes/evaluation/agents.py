"""`eval.agent`: run the tool agent over a question set and measure it — exact numeric accuracy, how often
it calls a tool, how many of its calls are malformed, how many steps it takes — with every transcript."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from flowstudio.nodes.data.tool_use import DEFAULT_SYSTEM
from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources, TextField
from flowstudio.core.ports import Dataset, Metrics, Model, Table, Tool

from .metrics import _write_table

_NUMBER = re.compile(r"(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,]*\d)|[-−]?\d+(?:\.\d+)?(?:/\d+)?")


def numbers_in(text: str) -> list[Fraction]:
    """The numbers written in `text`, in order, exactly: 3,968 → 3968; 2.50 → 5/2; 1/3 → 1/3; −4 → -4."""
    out = []
    for match in _NUMBER.finditer(text):
        token = match.group(0).replace(",", "").replace("−", "-")
        try:
            out.append(Fraction(token))
        except (ValueError, ZeroDivisionError):
            continue
    return out


def parse_expected(value: Any) -> Fraction | None:
    """The expected answer as a number ("84", "0.5", "1/3 ≈ 0.333…" from the calculator, 84, 84.0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Fraction(str(value))
    found = numbers_in(str(value).split("≈")[0])
    return found[0] if found else None


def numeric_match(answer: str, expected: Fraction | None) -> bool:
    """Exact numeric match: the last number in the answer equals the expected number."""
    found = numbers_in(answer)
    return expected is not None and bool(found) and found[-1] == expected


@dataclass
class Scored:
    correct: bool
    called: bool  # at least one well-formed tool call ran
    attempts: int  # tool-call attempts: calls read (valid or not) + unreadable ones
    malformed: int
    steps: int
    stop_reason: str


def score(result: Any, expected: Fraction | None) -> Scored:
    """One agent run (`agent_loop.AgentResult`) against its expected answer."""
    unreadable = result.malformed - (result.tool_calls - result.tools_ran)
    return Scored(numeric_match(result.answer, expected), result.tools_ran > 0, result.tool_calls + unreadable,
                  result.malformed, result.steps, result.stop_reason)


def summarize(scored: list[Scored]) -> dict[str, float]:
    n = len(scored)
    correct = sum(s.correct for s in scored)
    attempts = sum(s.attempts for s in scored)
    malformed = sum(s.malformed for s in scored)
    called = sum(s.called for s in scored)
    reasons = [s.stop_reason for s in scored]
    return {"accuracy": correct / n, "tool_call_rate": called / n,
            "malformed_call_rate": malformed / attempts if attempts else 0.0,
            "mean_steps": sum(s.steps for s in scored) / n, "rows": float(n), "correct": float(correct),
            "wrong": float(n - correct), "called": float(called), "call_attempts": float(attempts),
            "malformed_calls": float(malformed), "answered": float(reasons.count("answer")),
            "step_limit": float(reasons.count("step_limit")), "context_full": float(reasons.count("context_full"))}


def questions_of(ds: Any, fmt: str) -> list[tuple[str, Any]]:
    """(question, expected answer) per row: `question` and `answer` columns (data.tool_use, QA data), or
    the first user message of a chat with an `answer` column."""
    cols = ds.column_names
    if "answer" not in cols or ("question" not in cols and "messages" not in cols):
        raise NodeRunError(f"the question set needs `question` and `answer` columns, got {list(cols)}", field="dataset",
                           hint="connect data.tool_use's eval output, or QA data (question/answer)")
    out = []
    for row in ds:
        question = row.get("question")
        if question is None:
            question = next((m["content"] for m in row["messages"] if m["role"] == "user"), "")
        out.append((str(question), row["answer"]))
    return out


class AgentEval(Node):
    type = "eval.agent"
    title = "Agent accuracy"
    category = "Evaluation"
    icon = "mdi6.robot-happy-outline"
    resources = Resources(gpus=1, worker=True, memory_gb=2.0)
    description = ("Runs agent.tools' loop with the wired tools over a question set (e.g. data.tool_use's held-out "
                   "split), all questions together in batches, and reports accuracy (exact numeric match of "
                   "the last number in the answer), tool_call_rate (share of questions where a tool ran), "
                   "malformed_call_rate (unreadable calls, unknown tools and invalid arguments per call "
                   "attempt) and mean_steps, with a table of every transcript.")

    class Inputs(Ports):
        model = Port(Model, "The chat model (model.load or a training node's output, LoRA adapters included)")
        dataset = Port(Dataset, "Questions with expected numeric answers (question + answer columns)")
        tools = Port(Tool, "Tools the agent may call (connect several)", multiple=True)

    class Outputs(Ports):
        metrics = Port(Metrics, "accuracy, tool_call_rate, malformed_call_rate, mean_steps, counts")
        table = Port(Table, "One row per question: question, expected, answer, correct, called, steps, transcript")

    class Params(NodeParams):
        system: str = TextField(DEFAULT_SYSTEM, "The agent's system prompt (the tools' description is added to it)")
        max_steps: int = Field(4, ge=1, le=100, description="Most model replies per question")
        max_new_tokens: int = Field(64, ge=1, le=4096, description="Most tokens per reply")
        batch_size: int = Field(16, ge=1, le=1024, description="Conversations generated together")
        max_rows: int = Field(0, ge=0, description="Evaluate only the first N questions (0: all)")
        tool_format: Literal["auto", "native", "json"] = Field(
            "auto", description="auto: the chat template's tool calling when it has one, else JSON in the prompt")
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Weights precision")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.chains import agent_loop
        from flowstudio.nodes.chains.agent import ToolAgent
        from flowstudio.nodes.chains.generation import Sampling
        from flowstudio.nodes.data.storage import load_dataset_artifact
        from flowstudio.nodes.tools import kinds

        ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
        if params.max_rows:
            ds = ds.select(range(min(params.max_rows, len(ds))))
        items = questions_of(ds, fmt)
        if not items:
            raise NodeRunError("the question set is empty", field="dataset")
        expected = [parse_expected(a) for _, a in items]
        bad = [i for i, e in enumerate(expected) if e is None]
        if bad:
            raise NodeRunError(f"row {bad[0]}: the answer {items[bad[0]][1]!r} is not a number", field="dataset",
                               hint="eval.agent scores numeric answers; use data.tool_use's eval split")
        try:
            tools = [kinds.check_spec(t) for t in inputs.tools or []]
        except kinds.ToolError as err:
            raise NodeRunError(f"a connected tool is not usable: {err}", field="tools",
                               hint="connect the tool output of a tool node") from None
        agent_params = ToolAgent.Params(system=params.system, max_steps=params.max_steps,
                                        max_new_tokens=params.max_new_tokens, tool_format=params.tool_format,
                                        dtype=params.dtype)
        model = ToolAgent().chat_model(ctx, inputs.model, agent_params, Sampling(max_new_tokens=params.max_new_tokens))
        prompts = [([{"role": "system", "content": params.system}] if params.system.strip() else [])
                   + [{"role": "user", "content": q}] for q, _ in items]
        ctx.log(f"{len(prompts)} questions, tools: {', '.join(t['name'] for t in tools) or '(none)'}, "
                f"batches of {params.batch_size}")
        results = agent_loop.run_agents(model, prompts, tools, max_steps=params.max_steps,
                                        batch_size=params.batch_size, cancelled=ctx.cancelled,
                                        progress=lambda done, n: ctx.progress(done, n, "questions answered"))
        scored = [score(r, e) for r, e in zip(results, expected, strict=True)]
        metrics = summarize(scored)
        for name, value in metrics.items():
            ctx.metric(name, value)
        ctx.log(f"accuracy {metrics['accuracy']:.1%}, tool calls on {metrics['tool_call_rate']:.1%} of questions, "
                f"malformed {metrics['malformed_call_rate']:.1%} of call attempts, {metrics['mean_steps']:.2f} "
                "steps on average")
        table = [{"question": q, "expected": str(a), "answer": r.answer, "correct": s.correct, "called": s.called,
                  "steps": r.steps, "malformed": r.malformed, "stop_reason": r.stop_reason,
                  "transcript": json.dumps(r.transcript[1:] if params.system.strip() else r.transcript,
                                           ensure_ascii=False)}
                 for (q, a), r, s in zip(items, results, scored, strict=True)]
        return {"metrics": metrics, "table": _write_table(ctx, table, "agent_eval")}
