"""agent.tools end to end with a deterministic scripted chat model: real tools, real engine, errors fed back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowstudio.nodes.chains.agent import ToolAgent
from flowstudio.nodes.chains.agent_loop import parse_reply
from flowstudio.nodes.tools import kinds

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import PortValues
from flowstudio.core.registry import NodeRegistry, default_registry
from tests.nodes.chains.scripted_model import ScriptedModel, seen
from tests.stubs import make_flow

SCRIPT = [
    # 1. malformed: the JSON is cut short
    '<tool_call>{"name": "calculator", "arguments": {"expression": "12*(3+4)"</tool_call>',
    # 2. a tool that does not exist
    '<tool_call>{"name": "weather", "arguments": {"city": "Paris"}}</tool_call>',
    # 3. wrong argument name
    '<tool_call>{"name": "calculator", "arguments": {"expr": "1+1"}}</tool_call>',
    # 4. a good call
    'Let me compute. <tool_call>{"name": "calculator", "arguments": {"expression": "12*(3+4)"}}</tool_call>',
    # 5. a Llama-style bare JSON call, arguments as a JSON string (OpenAI style)
    '{"name": "python", "arguments": "{\\"code\\": \\"print(84 / 2)\\"}"}',
    # 6. a failing tool call
    '<tool_call>{"name": "calculator", "arguments": {"expression": "1/0"}}</tool_call>',
    # 7. the answer
    "12 × (3 + 4) = 84, and half of it is 42.",
]


def scripted(make_ctx, replies: list[str], native: bool = False):
    return ScriptedModel().run(make_ctx("scripted"), PortValues({}),
                               ScriptedModel.Params(replies=replies, native_tools=native))["model"]


def tools(make_ctx) -> list[dict]:
    from flowstudio.nodes.tools.tools import Calculator, Python

    calc = Calculator().run(make_ctx("calc"), PortValues({"expression": None}), Calculator.Params())["tool"]
    py = Python().run(make_ctx("py"), PortValues({"code": None, "stdin": None}), Python.Params(timeout_s=5))["tool"]
    return [calc, py]


def contents(messages: list[dict]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages)


@pytest.mark.parametrize("native", [False, True], ids=["json_fallback", "native_template"])
def test_agent_loop_feeds_errors_back_and_answers(make_ctx, native: bool) -> None:
    model = scripted(make_ctx, SCRIPT, native)
    events: list[dict] = []
    out = ToolAgent().run(make_ctx("agent", events=events),
                          PortValues({"model": model, "prompt": "What is 12*(3+4), and half of it?",
                                      "tools": tools(make_ctx)}), ToolAgent.Params(max_steps=8))
    assert out["answer"] == "12 × (3 + 4) = 84, and half of it is 42." and out["steps"] == 7
    conversations = seen(model.path)
    assert len(conversations) == 7
    # what the model saw after each step
    assert "Error: could not read the tool call" in contents(conversations[1]["messages"])
    assert "Error: unknown tool 'weather'; the tools are: calculator, python" in contents(conversations[2]["messages"])
    assert "missing required argument 'expression'" in contents(conversations[3]["messages"])
    assert "unknown argument 'expr'" in contents(conversations[3]["messages"])
    last = conversations[-1]["messages"]
    results = [m["content"] for m in last if m["role"] in ("tool", "user")]
    assert any(r.endswith("84") or "calculator: 84" in r for r in results)
    assert any("42.0" in r for r in results)
    assert any("division by zero" in r for r in results)
    transcript = out["transcript"]
    assert transcript[-1] == {"role": "assistant", "content": SCRIPT[-1]}
    assert transcript[0]["role"] == "system"
    if native:
        assert [t["function"]["name"] for t in conversations[0]["tools"]] == ["calculator", "python"]
        tool_msgs = [m for m in transcript if m["role"] == "tool"]
        assert [m["name"] for m in tool_msgs] == ["weather", "calculator", "calculator", "python", "calculator"]
        calls = [m for m in transcript if m.get("tool_calls")]
        assert calls[2]["content"] == "Let me compute." and calls[2]["tool_calls"][0]["function"] == {
            "name": "calculator", "arguments": {"expression": "12*(3+4)"}}
        assert all(m["tool_call_id"] for m in tool_msgs)
    else:
        assert conversations[0]["tools"] == []
        assert "<tools>" in transcript[0]["content"] and '"name": "calculator"' in transcript[0]["content"]
        assert not any(m["role"] == "tool" for m in transcript)
    metrics = {e["name"]: e["value"] for e in events if e["event"] == "metric"}
    assert metrics == {"steps": 7.0, "tool_calls": 5.0}  # the malformed one is not a call


def test_step_limit_gives_an_empty_answer_or_fails_when_asked(make_ctx) -> None:
    loop = ['<tool_call>{"name": "calculator", "arguments": {"expression": "1+1"}}</tool_call>'] * 5
    model = scripted(make_ctx, loop)
    inputs = PortValues({"model": model, "prompt": "Loop", "tools": tools(make_ctx)})
    out = ToolAgent().run(make_ctx("a1"), inputs, ToolAgent.Params(max_steps=2))
    assert out["answer"] == "" and out["steps"] == 2
    assert [m["role"] for m in out["transcript"]] == ["system", "user", "assistant", "user", "assistant", "user"]
    with pytest.raises(NodeRunError) as err:
        ToolAgent().run(make_ctx("a2"), PortValues({"model": scripted(make_ctx, loop), "prompt": "Loop",
                                                    "tools": tools(make_ctx)}),
                        ToolAgent.Params(max_steps=2, fail_at_step_limit=True))
    assert err.value.field == "max_steps"


def test_duplicate_tool_names_and_bad_tool_values_are_errors(make_ctx) -> None:
    model = scripted(make_ctx, ["hi"])
    calc = tools(make_ctx)[0]
    with pytest.raises(NodeRunError, match="share the name 'calculator'"):
        ToolAgent().run(make_ctx(), PortValues({"model": model, "prompt": "x", "tools": [calc, calc]}),
                        ToolAgent.Params())
    with pytest.raises(NodeRunError, match="unknown tool kind 'shell'"):
        ToolAgent().run(make_ctx(), PortValues({"model": model, "prompt": "x",
                                                "tools": [{**calc, "kind": "shell"}]}), ToolAgent.Params())


@pytest.mark.parametrize(("reply", "names", "error"), [
    ('<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>', ["a"], None),
    ('<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]</tool_call>', ["a", "b"], None),
    ('<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>{"name": "b"}</tool_call>', ["a", "b"], None),
    ('```json\n{"name": "a", "parameters": {"x": 1}}\n```', ["a"], None),
    ('{"type": "function", "function": {"name": "a", "arguments": "{}"}}', ["a"], None),
    ('{"tool": "a", "arguments": {}}', ["a"], None),
    ('<tool_call>{"name": "a", "arguments": {"x": 1}}', ["a"], None),  # unclosed tag at the end: still read
    ('<tool_call>{"name": "a", "arguments": {"x": </tool_call>', [], "could not read"),
    ('<tool_call>{"arguments": {}}</tool_call>', [], 'no "name"'),
    ('{"name": "a", "arguments": "{not json"}', [], "not valid JSON"),
    ("The answer is 42.", [], None),
    ('The JSON is {"a": 1}.', [], None),
])
def test_parse_reply(reply: str, names: list[str], error: str | None) -> None:
    parsed = parse_reply(reply)
    assert [c.name for c in parsed.calls] == names
    assert (parsed.error is None) if error is None else (error in parsed.error)


def test_argument_checks() -> None:
    spec = kinds.make_spec("calculator", "calc", "", kinds.CALCULATOR_PARAMETERS)
    assert kinds.argument_problems(spec, {"expression": "1"}) == []
    assert kinds.argument_problems(spec, {"expression": 1}) == ["argument 'expression' must be a string, got int"]
    assert kinds.argument_problems(spec, []) == ["arguments must be a JSON object, got list"]


def test_native_tool_template_is_used_when_the_tokenizer_has_one(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """A real tokenizer whose chat template renders `tools`: the agent offers them natively."""
    from flowstudio.nodes.chains.agent_loop import HFChatModel
    from flowstudio.nodes.chains.generation import LoadedModel, Sampling, render_prompt, supports_native_tools
    from flowstudio.nodes.hf.loading import load_tokenizer

    template = ("{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
                "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    plain = load_tokenizer(tiny_llama_dir)
    native = load_tokenizer(tiny_llama_dir, chat_template=template)
    assert not supports_native_tools(plain) and supports_native_tools(native)
    schema = [kinds.function_schema(kinds.make_spec("calculator", "calc", "math", kinds.CALCULATOR_PARAMETERS))]
    text, chat = render_prompt(native, [{"role": "user", "content": "2+2?"}], tools=schema)
    assert chat and '"name": "calc"' in text and text.endswith("<|im_start|>assistant\n")
    assert HFChatModel(LoadedModel(None, native, "", "cpu"), Sampling()).native_tools
    assert not HFChatModel(LoadedModel(None, plain, "", "cpu"), Sampling()).native_tools
    assert not HFChatModel(LoadedModel(None, native, "", "cpu"), Sampling(), tool_format="json").native_tools


def test_real_model_runs_the_loop(make_ctx, tiny_llama) -> None:
    """The transformers backend end to end on the tiny Llama (its replies are noise, so it answers at once)."""
    small = kinds.make_spec("calculator", "calc", "math", {"type": "object", "required": ["x"],
                                                           "properties": {"x": {"type": "string"}}})
    out = ToolAgent().run(make_ctx("agent"), PortValues({"model": tiny_llama, "prompt": "2+2?", "tools": [small]}),
                          ToolAgent.Params(max_new_tokens=8, max_steps=2, system="Be brief."))
    assert out["steps"] >= 1 and out["transcript"][0]["role"] == "system"
    assert "<tools>" in out["transcript"][0]["content"]


def test_agent_flow_through_the_engine(tmp_path: Path) -> None:
    """Scripted model -> agent with calculator and python tools, run by the engine in worker processes."""
    from flowstudio.engine import Engine, RunOptions

    registry = NodeRegistry([*default_registry(), ScriptedModel])
    flow = make_flow([("m", "test.scripted_model", {"replies": SCRIPT}),
                      ("q", "io.text", {"text": "What is 12*(3+4), and half of it?"}),
                      ("calc", "tool.calculator", {}),
                      ("py", "tool.python", {}),
                      ("agent", "agent.tools", {"max_steps": 8}),
                      ("answer", "io.output", {}), ("transcript", "io.output", {})],
                     [("m.model", "agent.model"), ("q.text", "agent.prompt"), ("calc.tool", "agent.tools"),
                      ("py.tool", "agent.tools"), ("agent.answer", "answer.value"),
                      ("agent.transcript", "transcript.value")])
    engine = Engine(registry=registry)
    try:
        refused = None
        try:
            engine.run(flow, tmp_path, RunOptions())
        except Exception as err:  # consent: the flow holds tool.python
            refused = str(err)
        assert refused is not None and "--allow-code" in refused
        result = engine.run(flow, tmp_path, RunOptions(allow_code=True))
        assert result.ok, json.dumps(result.summary, indent=1)[:3000]
        assert result.summary["outputs"]["answer"] == SCRIPT[-1]
        assert any("unknown tool 'weather'" in str(m.get("content")) for m in result.summary["outputs"]["transcript"])
    finally:
        engine.close()


def test_several_calls_in_one_reply_answer_in_one_turn_without_native_tools(make_ctx) -> None:
    both = ('<tool_call>[{"name": "calculator", "arguments": {"expression": "2**10"}}, '
            '{"name": "calculator", "arguments": {"expression": "sqrt(2)**2"}}]</tool_call>')
    model = scripted(make_ctx, [both, "1024 and 2"])
    out = ToolAgent().run(make_ctx("agent"), PortValues({"model": model, "prompt": "x", "tools": tools(make_ctx)}),
                          ToolAgent.Params())
    roles = [m["role"] for m in out["transcript"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"] and out["answer"] == "1024 and 2"
    assert out["transcript"][3]["content"].count("<tool_response>") == 2
    assert "calculator: 1024" in out["transcript"][3]["content"]
