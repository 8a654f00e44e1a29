"""chain.prompt: variables become input ports, missing ones are validation problems, text and messages out."""

from __future__ import annotations

import pytest
from flowstudio.nodes.chains.chain import Prompt
from flowstudio.nodes.io.text import Output, TextInput
from hypothesis import given
from hypothesis import strategies as st

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import PortValues
from flowstudio.core.registry import NodeRegistry
from flowstudio.core.validation import validate_flow
from tests.stubs import make_flow

REGISTRY = NodeRegistry([Prompt, TextInput, Output])


def test_variables_become_input_ports_in_order() -> None:
    ports = Prompt.input_ports({"system": "You answer in {{language}}.",
                                "template": "Q: {{ question }}\nContext: {{context}}\nAgain {{question}}"})
    assert [p.name for p in ports] == ["history", "language", "question", "context"]
    assert ports[0].optional and all(not p.optional for p in ports[1:])
    assert [p.name for p in Prompt.input_ports({"template": "no variables, {\"json\": 1}"})] == ["history"]


def test_default_template_has_a_question_port() -> None:
    assert [p.name for p in Prompt.input_ports(None)] == ["history", "question"]


def test_unconnected_variable_is_a_validation_problem() -> None:
    flow = make_flow([("q", "io.text", {"text": "hi"}),
                      ("p", "chain.prompt", {"template": "{{question}} in {{language}}"}),
                      ("out", "io.output", {})],
                     [("q.text", "p.question"), ("p.text", "out.value")])
    problems = validate_flow(flow, REGISTRY)
    assert [(p.code, p.node_id, p.field) for p in problems] == [("missing_input", "p", "language")]


def test_edge_to_a_variable_that_is_not_in_the_template_is_a_problem() -> None:
    flow = make_flow([("q", "io.text", {}), ("p", "chain.prompt", {"template": "{{question}}"})],
                     [("q.text", "p.question"), ("q.text", "p.topic")])
    problems = validate_flow(flow, REGISTRY)
    assert [(p.code, p.field) for p in problems] == [("missing_port", "topic")]


def test_bad_placeholder_and_empty_template_are_problems() -> None:
    problems = Prompt.check(Prompt.Params(template="Hi {{ first name }}", system="{{1x}}"), None)
    assert [(p.code, p.field) for p in problems] == [("bad_placeholder", "system"), ("bad_placeholder", "template")]
    assert Prompt.check(Prompt.Params(template="  "), None)[0].code == "empty_template"


def test_renders_text_and_messages(make_ctx) -> None:
    params = Prompt.Params(system="Answer in {{language}}.", template='Q: {{question}}\nReply as {"a": ...}')
    out = Prompt().run(make_ctx(), PortValues({"language": "French", "question": "2+2?"}), params)
    assert out["messages"] == [{"role": "system", "content": "Answer in French."},
                               {"role": "user", "content": 'Q: 2+2?\nReply as {"a": ...}'}]
    assert out["text"] == 'Answer in French.\n\nQ: 2+2?\nReply as {"a": ...}'


def test_plain_prompt_has_one_user_message_and_formats_values(make_ctx) -> None:
    out = Prompt().run(make_ctx(), PortValues({"n": 3.0, "data": {"k": [1, 2]}}),
                       Prompt.Params(template="{{n}} items: {{data}} {{{{literal}}"))
    assert out["text"] == '3 items: {"k": [1, 2]} {{literal}}'
    assert out["messages"] == [{"role": "user", "content": out["text"]}]


def test_missing_value_at_run_time_names_the_variable(make_ctx) -> None:
    with pytest.raises(NodeRunError) as err:
        Prompt().run(make_ctx(), PortValues({}), Prompt.Params(template="{{question}}"))
    assert err.value.field == "question"


@given(st.text(max_size=80).filter(lambda t: "{{" not in t and "}}" not in t),
       st.text(max_size=40))
def test_text_outside_placeholders_is_kept_and_values_are_inserted_verbatim(literal: str, value: str) -> None:
    from flowstudio.nodes.chains.templating import render, variables

    assert render(literal, {}) == literal
    assert render(literal + "{{ x }}" + literal, {"x": value}) == literal + value + literal
    assert variables(literal + "{{x}}") == ["x"]


def test_history_continues_a_conversation(make_ctx) -> None:
    history = [{"role": "system", "content": "old system"}, {"role": "user", "content": "Hi"},
               {"role": "assistant", "content": "Hello!"}]
    out = Prompt().run(make_ctx(), PortValues({"history": history, "q": "And now?"}), Prompt.Params(template="{{q}}"))
    assert out["messages"] == [*history, {"role": "user", "content": "And now?"}]
    replaced = Prompt().run(make_ctx(), PortValues({"history": history, "q": "x"}),
                            Prompt.Params(template="{{q}}", system="new system"))
    assert [m["content"] for m in replaced["messages"]] == ["new system", "Hi", "Hello!", "x"]
    with pytest.raises(NodeRunError) as err:
        Prompt().run(make_ctx(), PortValues({"history": "not messages", "q": "x"}), Prompt.Params(template="{{q}}"))
    assert err.value.field == "history"


def test_history_is_not_a_variable_name() -> None:
    problems = Prompt.check(Prompt.Params(template="{{ history }}"), None)
    assert [(p.code, p.field) for p in problems] == [("reserved_placeholder", "template")]
