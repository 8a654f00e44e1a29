"""The loader never raises anything but FlowFileError, whatever it is given."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import Flow, parse_flow

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)

# Structures close to real flows, so the fuzzing reaches deep into the model.
node_like = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=8), st.integers(), st.none()), "type": json_values},
    optional={"params": json_values, "position": json_values, "title": json_values},
)
edge_like = st.fixed_dictionaries({"source": json_values, "target": json_values})
flow_like = st.fixed_dictionaries(
    {"nodes": st.one_of(st.lists(node_like, max_size=4), json_values)},
    optional={"schema_version": st.one_of(st.integers(-2, 3), json_values), "edges": st.lists(edge_like, max_size=3),
              "groups": json_values, "links": json_values, "metadata": json_values, "name": json_values},
)


def _check(text: str | bytes) -> None:
    try:
        flow = parse_flow(text, "fuzz.flow.json")
    except FlowFileError as err:
        assert str(err).strip(), "errors carry a message"
    else:
        assert isinstance(flow, Flow)
        json.loads(flow.to_json_text())  # whatever loads can be saved


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(json_values)
def test_random_json(value):
    _check(json.dumps(value))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(flow_like)
def test_flow_shaped_json(value):
    _check(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(raw):
    _check(raw)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text(text):
    _check(text)


def test_deeply_nested_json():
    _check("[" * 100_000 + "]" * 100_000)
    _check('{"nodes": [' + "[" * 50_000 + "]" * 50_000 + "]}")
