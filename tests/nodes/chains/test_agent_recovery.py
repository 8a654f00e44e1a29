"""The agent loop recovers from what small models really write: each malformed-call kind goes back to the model
as an error it can act on, and the next good call and answer go through (a scripted model, the real loop)."""

from __future__ import annotations

import pytest
from flowstudio.nodes.chains.agent import ToolAgent
from flowstudio.nodes.chains.agent_loop import parse_reply, run_agent, run_agents
from flowstudio.nodes.chains.parsing import parse_tool_reply
from flowstudio.nodes.tools import kinds

from flowstudio.core.node import PortValues
from tests.nodes.chains.scripted_model import ScriptedModel, seen

CALC = kinds.make_spec("calculator", "calculator", "exact arithmetic", kinds.CALCULATOR_PARAMETERS)
GOOD = '<tool_call>{"name": "calculator", "arguments": {"expression": "23 + 45"}}</tool_call>'
ANSWER = "The answer is 68."

# (kind, the malformed reply, what the error sent back must say; None: the call is read and runs)
KINDS = [
    ("fenced_call", '```json\n{"name": "calculator", "arguments": {"expression": "23 + 45"}}\n```', None),
    ("fenced_block", '```\n<tool_call>{"name": "calculator", "arguments": {"expression": "23 + 45"}}</tool_call>\n```',
     None),
    ("fence_inside_block", '<tool_call>\n```json\n{"name": "calculator", "arguments": {"expression": "23 + 45"}}\n'
                           '```\n</tool_call>', None),
    ("trailing_text", '<tool_call>{"name": "calculator", "arguments": {"expression": "23 + 45"}} I will now wait '
                      'for the result.', None),
    ("bare_json_with_text", 'Sure! {"name": "calculator", "arguments": {"expression": "23 + 45"}} Let me see.',
     None),
    ("broken_json", '<tool_call>{"name": "calculator", "arguments": {"expression": "23 + 45"}</tool_call>',
     "could not read the tool call"),
    ("unknown_tool", '<tool_call>{"name": "calc", "arguments": {"expression": "23 + 45"}}</tool_call>',
     "unknown tool 'calc'; the tools are: calculator"),
    ("wrong_type", '<tool_call>{"name": "calculator", "arguments": {"expression": 68}}</tool_call>',
     "argument 'expression' must be a string, got int"),
    ("wrong_argument", '<tool_call>{"name": "calculator", "arguments": {"expr": "23 + 45"}}</tool_call>',
     "missing required argument 'expression'"),
    ("arguments_not_an_object", '<tool_call>{"name": "calculator", "arguments": ["23 + 45"]}</tool_call>',
     "arguments must be a JSON object, got list"),
]


class Replies:
    """A chat model that says the given replies in order (the loop under test is the real one)."""

    native_tools = False

    def __init__(self, replies: list[str]) -> None:
        self.replies = iter(replies)

    def respond(self, messages: list[dict], tools: list[dict]) -> str:
        return next(self.replies)


@pytest.mark.parametrize(("kind", "reply", "error"), KINDS, ids=[k[0] for k in KINDS])
def test_each_malformed_kind_is_read_or_sent_back_and_the_agent_recovers(make_ctx, kind, reply, error) -> None:
    script = [reply, ANSWER] if error is None else [reply, GOOD, ANSWER]
    model = ScriptedModel().run(make_ctx("scripted"), PortValues({}), ScriptedModel.Params(replies=script))["model"]
    out = ToolAgent().run(make_ctx("agent"), PortValues({"model": model, "prompt": "What is 23 + 45?",
                                                         "tools": [CALC]}), ToolAgent.Params(max_steps=4))
    assert out["answer"] == ANSWER and out["steps"] == len(script)
    conversations = seen(model.path)
    after_first = conversations[1]["messages"][-1]
    assert after_first["role"] == "user"
    if error is None:  # read as a call: the calculator's result came back
        assert after_first["content"] == "<tool_response>\ncalculator: 68\n</tool_response>"
    else:
        assert "Error: " in after_first["content"] and error in after_first["content"]
        assert "68" not in after_first["content"].split("Error: ", 1)[1].replace("23 + 45", "")
        # the recovery: the good call's result reached the model before it answered
        assert conversations[2]["messages"][-1]["content"] == "<tool_response>\ncalculator: 68\n</tool_response>"


def test_bad_arguments_error_shows_how_a_correct_call_looks() -> None:
    model = Replies([KINDS[7][1], GOOD, ANSWER])
    result = run_agent(model, [{"role": "user", "content": "23 + 45?"}], [CALC], max_steps=5)
    error = result.transcript[3]["content"]
    assert '<tool_call>{"name": "calculator", "arguments": {"expression": "<string>"}}</tool_call>' in error
    assert (result.malformed, result.tools_ran, result.tool_calls, result.steps) == (1, 1, 2, 3)


def test_the_step_limit_ends_a_model_that_never_recovers() -> None:
    model = Replies([KINDS[6][1]] * 3)
    result = run_agent(model, [{"role": "user", "content": "23 + 45?"}], [CALC], max_steps=3)
    assert result.stop_reason == "step_limit" and result.answer == "" and result.steps == 3
    assert result.malformed == 3 and result.tools_ran == 0
    assert sum("Error: unknown tool" in m["content"] for m in result.transcript if m["role"] == "user") == 3


@pytest.mark.parametrize(("reply", "names", "content", "error"), [
    ('Let me think.\n```json\n{"name": "a", "arguments": {"x": 1}}\n```\nDone.', ["a"], "Let me think.\n\nDone.",
     None),
    ('{"name": "a", "arguments": {"x": 1}}\nThe result will follow.', ["a"], "The result will follow.", None),
    ('<tool_call>{"name": "a", "arguments": {}}</tool_call> trailing', ["a"], "trailing", None),
    ('<tool_call>{"name": "a", "arguments": {}} and more text', ["a"], "", None),
    ('{"name": "a", "arguments": {"x": 1}', [], None, "could not read"),
    ("The answer is 68.", [], "The answer is 68.", None),
    ('Write {"x": 1} as JSON.', [], 'Write {"x": 1} as JSON.', None),
    ('I know {"name": broken', [], 'I know {"name": broken', None),  # not a call at the start: an answer
])
def test_parse_tool_reply(reply, names, content, error) -> None:
    parsed = parse_tool_reply(reply)
    assert [c.name for c in parsed.calls] == names
    if error is None:
        assert parsed.error is None and parsed.content == content
    else:
        assert parsed.error is not None and error in parsed.error
    assert parse_reply(reply) == parsed


def test_batched_loop_matches_one_conversation_at_a_time() -> None:
    """run_agents steps conversations together; each ends exactly as run_agent would end it."""
    scripts = {"q1": [GOOD, ANSWER], "q2": ["The answer is 3."], "q3": [KINDS[5][1], GOOD, "68"],
               "q4": [KINDS[6][1]] * 5}

    class ByQuestion:
        native_tools = False

        def respond(self, messages, tools):
            question = next(m["content"] for m in messages if m["role"] == "user")
            turn = sum(m["role"] == "assistant" for m in messages)
            return scripts[question][turn]

    prompts = [[{"role": "user", "content": q}] for q in scripts]
    batched = run_agents(ByQuestion(), prompts, [CALC], max_steps=3, batch_size=3)
    single = [run_agent(ByQuestion(), p, [CALC], max_steps=3) for p in prompts]
    assert batched == single
    assert [r.stop_reason for r in batched] == ["answer", "answer", "answer", "step_limit"]
    assert [r.steps for r in batched] == [2, 1, 3, 3]
