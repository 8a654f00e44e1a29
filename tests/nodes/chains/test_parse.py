"""chain.parse: JSON, regex groups, code blocks, and clear errors when nothing matches."""

from __future__ import annotations

import pytest
from flowstudio.nodes.chains.chain import Parse
from hypothesis import given
from hypothesis import strategies as st

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import PortValues


def parse(make_ctx, text: str, **params):
    return Parse().run(make_ctx(), PortValues({"text": text}), Parse.Params(**params))


def test_json_object_inside_prose(make_ctx) -> None:
    out = parse(make_ctx, 'Sure! Here it is: {"answer": "Paris", "note": "a {brace} in a string"} Hope it helps.')
    assert out["value"] == {"answer": "Paris", "note": "a {brace} in a string"}
    assert '"answer": "Paris"' in out["text"]


def test_json_prefers_a_fenced_block_and_follows_a_path(make_ctx) -> None:
    text = 'Not this {bad json}\n```json\n{"items": [{"name": "a"}, {"name": "b"}]}\n```'
    assert parse(make_ctx, text, json_path="items.1.name")["value"] == "b"


def test_json_array_and_kind(make_ctx) -> None:
    text = 'first {"x": 1} then [1, 2, 3]'
    assert parse(make_ctx, text, json_kind="array")["value"] == [1, 2, 3]
    assert parse(make_ctx, text)["value"] == {"x": 1}


def test_json_missing_is_a_clear_error(make_ctx) -> None:
    with pytest.raises(NodeRunError) as err:
        parse(make_ctx, "The capital of France is Paris.")
    assert "no JSON object or array" in str(err.value) and "capital of France" in str(err.value)
    assert err.value.hint and err.value.field == "json_kind"


def test_json_path_missing_names_the_key(make_ctx) -> None:
    with pytest.raises(NodeRunError) as err:
        parse(make_ctx, '{"answer": 1}', json_path="result")
    assert "'result'" in str(err.value) and "answer" in str(err.value) and err.value.field == "json_path"


def test_regex_first_group_named_group_and_all_matches(make_ctx) -> None:
    text = "Answer: Paris\nConfidence: 0.9\nAnswer: Lyon"
    assert parse(make_ctx, text, mode="regex", pattern=r"^Answer:\s*(.+)$")["value"] == "Paris"
    assert parse(make_ctx, text, mode="regex", pattern=r"Confidence: (?P<c>[\d.]+)", group="c")["value"] == "0.9"
    assert parse(make_ctx, text, mode="regex", pattern=r"Answer: (\w+)", all_matches=True)["value"] == ["Paris", "Lyon"]
    assert parse(make_ctx, text, mode="regex", pattern=r"answer", ignore_case=True)["value"] == "Answer"


def test_regex_no_match_is_a_clear_error(make_ctx) -> None:
    with pytest.raises(NodeRunError) as err:
        parse(make_ctx, "nothing here", mode="regex", pattern=r"Answer: (\w+)")
    assert "does not match" in str(err.value) and err.value.field == "pattern"


def test_bad_regex_and_group_are_validation_problems() -> None:
    problems = Parse.check(Parse.Params(mode="regex", pattern="(unclosed"), None)
    assert [p.field for p in problems] == ["pattern"] and "not a valid regular expression" in problems[0].message
    assert Parse.check(Parse.Params(mode="regex", pattern=r"(\d)", group="2"), None)[0].field == "group"
    assert Parse.check(Parse.Params(mode="regex"), None)[0].code == "missing_pattern"
    assert Parse.check(Parse.Params(mode="regex", pattern=r"(?P<x>\d)", group="x"), None) == []


def test_code_blocks(make_ctx) -> None:
    text = "Here:\n```python\nprint(1)\n```\nand\n```bash\necho hi\n```\n```py\nprint(2)\n```"
    assert parse(make_ctx, text, mode="code")["value"] == "print(1)"
    assert parse(make_ctx, text, mode="code", language="bash")["value"] == "echo hi"
    assert parse(make_ctx, text, mode="code", language="python", block=-1)["value"] == "print(2)"
    unclosed = "```python\nx = 1\nprint(x)"
    assert parse(make_ctx, unclosed, mode="code")["value"] == "x = 1\nprint(x)"


def test_code_missing_is_a_clear_error(make_ctx) -> None:
    with pytest.raises(NodeRunError) as err:
        parse(make_ctx, "```bash\nls\n```", mode="code", language="python")
    assert "no ```python code block" in str(err.value) and err.value.field == "language"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4),
                           max_leaves=12)


@given(st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=4),
       st.text(alphabet=st.characters(blacklist_characters="{}[]\"\\"), max_size=40),
       st.text(alphabet=st.characters(blacklist_characters="{}[]\"\\"), max_size=40))
def test_any_json_object_is_found_inside_prose(value: dict, before: str, after: str) -> None:
    import json

    from flowstudio.nodes.chains.parsing import extract_json

    assert extract_json(f"{before} {json.dumps(value)} {after}", "object") == value


def test_a_backtracking_pattern_fails_in_seconds_instead_of_hanging(make_ctx) -> None:
    """`(a|aa)+$` on 40 a's and a b takes Python's `re` minutes, with the GIL held; here it has a time limit."""
    import time

    started = time.monotonic()
    with pytest.raises(NodeRunError, match="did not finish") as err:
        Parse().run(make_ctx(), PortValues({"text": "a" * 40 + "b"}), Parse.Params(mode="regex", pattern="(a|aa)+$"))
    assert err.value.field == "pattern" and time.monotonic() - started < 10
