"""io.text and io.output: values typed in, given at run time, and returned in the run summary."""

from __future__ import annotations

import pytest
from flowstudio.nodes.io.text import Output, TextInput, preview

from flowstudio.core.node import PortValues
from flowstudio.core.values import Artifact
from flowstudio.engine import Engine, RunOptions, RunSetupError
from tests.stubs import make_flow


def test_text_outputs_its_param(make_ctx) -> None:
    assert TextInput().run(make_ctx(), PortValues({}), TextInput.Params(text="hi")) == {"text": "hi"}


def test_output_passes_the_value_and_logs_a_preview(make_ctx) -> None:
    events: list[dict] = []
    out = Output().run(make_ctx("result", events=events), PortValues({"value": {"a": [1, 2]}}),
                       Output.Params(label="answer"))
    assert out == {"value": {"a": [1, 2]}}
    assert [e["line"] for e in events if e["event"] == "log"] == ['answer: {"a": [1, 2]}']


def test_preview_is_capped_and_handles_artifacts() -> None:
    assert preview("x" * 1000, limit=10) == "xxxxxxxxxx... (1000 characters)"
    assert '"kind": "model"' in preview(Artifact("model", "/m"))


def test_input_at_run_time_reaches_the_summary(tmp_path) -> None:
    flow = make_flow([("question", "io.text", {"text": "typed"}), ("answer", "io.output", {})],
                     [("question.text", "answer.value")])
    engine = Engine()
    try:
        assert engine.run(flow, tmp_path).summary["outputs"] == {"answer": "typed"}
        given = engine.run(flow, tmp_path, RunOptions(inputs=["question=What is the capital of France?"]))
        assert given.summary["outputs"] == {"answer": "What is the capital of France?"}
        with pytest.raises(RunSetupError, match="not a text input"):
            engine.run(flow, tmp_path, RunOptions(inputs=["answer=x"]))
    finally:
        engine.close()
