"""`data.tool_use`: seeded tool-use training data for agents — arithmetic word problems with their calculator
transcripts, rendered the way `agent.tools` talks to the model, and a held-out split that shares neither
numbers nor phrasings with the training split.

Each row is a chat (`messages`): the agent's system prompt (with the tools and calling convention when the
model has no native tool template, exactly as `agent_loop.start_conversation` builds it), the question, the
assistant's calculator call with JSON arguments, the tool's result (computed by the real calculator), and the
final answer. Extra columns (`question`, `answer`, `expression`, `kind`, `template`) serve `eval.agent` and
exact-match rewards.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources, TextField
from flowstudio.core.ports import Dataset, Tokenizer, Tool

from .tool_use_frames import HELD_OUT_FRAMES, KINDS, TRAIN_FRAMES

DEFAULT_SYSTEM = "You are a helpful assistant. Use the tools when they help; do arithmetic with the calculator."
ANSWER = "The answer is {result}."
NAMES = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemi", "Liam")
ITEMS = ("apples", "books", "pencils", "stamps", "marbles", "cookies", "cards", "shells", "coins", "stickers")


@dataclass(frozen=True)
class Problem:
    question: str
    expression: str
    answer: Fraction  # computed here, independently of the calculator tool
    kind: str
    template: str  # "kind/trainN" or "kind/heldN": the frame it was made from
    numbers: tuple[int, ...]


def number_pools(seed: int, max_number: int, eval_share: float) -> tuple[list[int], list[int]]:
    """The numbers 2..max_number split at random (seeded) into disjoint training and held-out pools;
    the small numbers (≤ 20, the second factors and divisors) are split separately so both pools have some."""
    rng = random.Random(f"pools:{seed}")
    train: list[int] = []
    held: list[int] = []
    for low, high in ((2, min(20, max_number)), (21, max_number)):
        numbers = list(range(low, high + 1))
        rng.shuffle(numbers)
        cut = max(1, round(len(numbers) * eval_share)) if numbers else 0
        held += numbers[:cut]
        train += numbers[cut:]
    return sorted(train), sorted(held)


def _values(kind: str, expression: str, rng: random.Random, pool: list[int]) -> tuple[dict[str, int], Fraction]:
    small = [n for n in pool if n <= 20] or pool[:5]
    for _ in range(1000):
        if kind == "divide":
            b, q = rng.choice(small), rng.choice(small + pool[:10])
            a = b * q
            if a not in pool:
                continue
            return {"a": a, "b": b}, Fraction(a, b)
        a, b, c = rng.choice(pool), rng.choice(small if kind in ("multiply", "two_step") else pool), rng.choice(pool)
        if kind == "two_step" and "(" in expression:
            c = rng.choice(small)
        if kind == "subtract" and a <= b:
            continue
        if kind == "two_step" and " - " in expression and a * b <= c:
            continue
        values = {"a": a, "b": b, "c": c}
        return values, _exact(expression.format(**values))
    raise NodeRunError(f"could not draw numbers for {kind!r} problems from a pool of {len(pool)} numbers",
                       field="max_number", hint="raise max_number")


def _exact(expression: str) -> Fraction:
    """The value of one of our own expressions (numbers, + - * /, parentheses), with Fractions."""
    import ast

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant):
            return Fraction(node.value)
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            ops = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}
            return ops[type(node.op)] if type(node.op) in ops else left / right
        raise ValueError(expression)

    return walk(ast.parse(expression, mode="eval").body)


def generate_problems(n: int, kinds: list[str], seed: int, pool: list[int], held_out: bool,
                      salt: str) -> list[Problem]:
    """`n` problems cycling through `kinds`, phrased with the training or the held-out templates."""
    rng = random.Random(f"{salt}:{seed}")
    out: list[Problem] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > n * 50:
            raise NodeRunError(f"could only make {len(out)} distinct problems of {n}", field="train_rows",
                               hint="ask for fewer rows, more kinds, or raise max_number")
        kind = kinds[len(out) % len(kinds)]
        frames = (HELD_OUT_FRAMES if held_out else TRAIN_FRAMES)[kind]
        index = rng.randrange(len(frames))
        text, expression = frames[index]
        values, answer = _values(kind, expression, rng, pool)
        words = {"name": rng.choice(NAMES), "item": rng.choice(ITEMS)}
        question = text.format(**values, **words)
        question = question[0].upper() + question[1:]
        if question in seen:
            continue
        seen.add(question)
        used = tuple(v for k, v in values.items() if "{" + k + "}" in text)
        template = f"{kind}/{'held' if held_out else 'train'}{index}"
        out.append(Problem(question, expression.format(**values), answer, kind, template, used))
    return out


def format_answer(value: Fraction) -> str:
    from flowstudio.nodes.tools.calculator import format_number

    return format_number(value)


def transcript(problem: Problem, system: str, tool: dict[str, Any], native: bool) -> list[dict[str, Any]]:
    """The conversation `agent.tools` has when the model does the right thing: call, result, answer."""
    from flowstudio.nodes.chains.agent_loop import start_conversation, tool_responses
    from flowstudio.nodes.tools import kinds

    arg = next(iter((tool.get("parameters") or {}).get("properties", {})), "expression")
    arguments = {arg: problem.expression}
    result = kinds.call_tool(tool, arguments)
    prompt = ([{"role": "system", "content": system}] if system.strip() else []) + [
        {"role": "user", "content": problem.question}]
    messages = start_conversation(prompt, [tool], native)
    if native:
        messages += [{"role": "assistant", "content": "",
                      "tool_calls": [{"id": "call_1", "type": "function",
                                      "function": {"name": tool["name"], "arguments": arguments}}]},
                     {"role": "tool", "tool_call_id": "call_1", "name": tool["name"], "content": result}]
    else:
        call = json.dumps({"name": tool["name"], "arguments": arguments}, ensure_ascii=False)
        messages += [{"role": "assistant", "content": f"<tool_call>{call}</tool_call>"},
                     {"role": "user", "content": tool_responses([(tool["name"], result)])}]
    messages.append({"role": "assistant", "content": ANSWER.format(result=result)})
    return messages


def default_calculator() -> dict[str, Any]:
    from flowstudio.nodes.tools import kinds

    return kinds.make_spec("calculator", "calculator", "Evaluate an arithmetic expression exactly (+ - * / ** %, "
                           "parentheses, sqrt, log, sin, cos, factorial, pi, e). Use it for any arithmetic.",
                           kinds.CALCULATOR_PARAMETERS)


class ToolUseData(Node):
    type = "data.tool_use"
    title = "Tool-use data"
    category = "Data"
    icon = "mdi6.calculator"
    resources = Resources(isolated=True)
    description = ("Seeded arithmetic word problems (sums, differences, products, quotients, two-step problems, "
                   "unit conversions) with the calculator transcripts an agent should produce, in the chat "
                   "format agent.tools uses with this model: question → tool call (JSON arguments) → tool "
                   "result → final answer. The held-out split shares no numbers and no phrasings with training.")

    class Inputs(Ports):
        tool = Port(Tool, "The calculator the agent will use (its name and description go into the prompt)",
                    optional=True)
        tokenizer = Port(Tokenizer, "The model's tokenizer: decides native tool calls vs the JSON convention "
                         "(tool_format auto)", optional=True)

    class Outputs(Ports):
        train = Port(Dataset, "Training transcripts (messages, plus question/answer/expression columns)")
        eval = Port(Dataset, "Held-out problems: new numbers and new phrasings")

    class Params(NodeParams):
        train_rows: int = Field(400, ge=1, le=100_000, description="Training problems")
        eval_rows: int = Field(100, ge=1, le=100_000, description="Held-out problems")
        kinds: list[Literal["add", "subtract", "multiply", "divide", "two_step", "units"]] = Field(
            default_factory=lambda: list(KINDS), description="Which kinds of problems")
        max_number: int = Field(999, ge=60, le=1_000_000, description="Numbers in questions are 2..max_number")
        eval_share: float = Field(0.2, gt=0, lt=1, description="Share of the numbers reserved for held-out "
                                  "problems")
        seed: int = Field(0, description="The same seed gives the same problems")
        system: str = TextField(DEFAULT_SYSTEM, "The agent's system prompt (use the same one in eval.agent / "
                                "agent.tools)")
        tool_format: Literal["auto", "native", "json"] = Field(
            "auto", description="auto: native tool calls when the tokenizer's chat template takes tools, else "
                                "the JSON convention (as agent.tools decides)")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        import datasets
        from flowstudio.nodes.tools import kinds as tool_kinds

        from .storage import save_dataset

        tool = inputs.get("tool") or default_calculator()
        try:
            tool = tool_kinds.check_spec(tool)
        except tool_kinds.ToolError as err:
            raise NodeRunError(f"the tool is not usable: {err}", field="tool",
                               hint="connect a tool.calculator node's tool output") from None
        if tool["kind"] != "calculator":
            raise NodeRunError(f"tool-use data is made for the calculator, got a {tool['kind']!r} tool",
                               field="tool", hint="connect a tool.calculator node")
        if not params.kinds:
            raise NodeRunError("no kinds of problems chosen", field="kinds", hint="choose at least one, e.g. add")
        native = self._native(inputs, params)
        train_pool, held_pool = number_pools(params.seed, params.max_number, params.eval_share)
        kinds = list(dict.fromkeys(params.kinds))
        splits = {"train": generate_problems(params.train_rows, kinds, params.seed, train_pool, False, "train"),
                  "eval": generate_problems(params.eval_rows, kinds, params.seed, held_pool, True, "eval")}
        out: dict[str, Any] = {}
        for name, problems in splits.items():
            rows = [{"messages": transcript(p, params.system, tool, native), "question": p.question,
                     "answer": format_answer(p.answer), "expression": p.expression, "kind": p.kind,
                     "template": p.template} for p in problems]
            ds = datasets.Dataset.from_list(rows)
            out[name] = save_dataset(ds, Path(ctx.work_dir) / name, "messages", conversational=True,
                                     tool_format="native" if native else "json")
            ctx.metric(f"{name}_rows", len(rows))
        ctx.log(f"{params.train_rows} training and {params.eval_rows} held-out problems ({', '.join(kinds)}); "
                f"tool calls {'native' if native else 'as <tool_call> JSON'}")
        return out

    def _native(self, inputs: Any, params: Params) -> bool:
        if params.tool_format != "auto":
            return params.tool_format == "native"
        tok = inputs.get("tokenizer")
        if tok is None:
            return False
        from flowstudio.nodes.chains.generation import supports_native_tools
        from flowstudio.nodes.hf.loading import artifact_path, load_tokenizer

        return supports_native_tools(load_tokenizer(artifact_path(tok, "tokenizer", "tokenizer")))
