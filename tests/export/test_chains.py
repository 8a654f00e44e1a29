"""The chain templates export too; the exported prompt chain answers what the engine answers (greedy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowstudio.core.flow import load_flow
from flowstudio.export import ExportError, export_flow

from .pairs import assert_same_metrics, engine_run, export_and_run, template

# tiny-llama's greedy reply is blank lines, so no stop at "\n\n" and the whole reply parsed out as the answer
CHAIN = ["model.source=builtin:tiny-llama", "generate.stop=[]", "generate.max_new_tokens=16",
         "parse.pattern=\\A(.*)\\Z", "parse.strip=false"]


def test_exported_prompt_chain_answers_the_same_text(tmp_path: Path):
    engine = engine_run(template("prompt_chain"), CHAIN, tmp_path / "run", workers=False)
    script = export_and_run(template("prompt_chain"), CHAIN, tmp_path)
    answer = engine["outputs"]["answer"]
    assert isinstance(answer, str) and answer and answer == engine["nodes"]["generate"]["outputs"]["text"]
    assert script["outputs"]["answer"] == answer
    assert_same_metrics(engine, script)  # timings (first_token_s, tokens_per_s) aside
    assert script["nodes"]["generate"]["metrics"]["new_tokens"] == 16


def test_tool_agent_is_refused_without_consent_naming_the_python_node(tmp_path: Path):
    with pytest.raises(ExportError, match=r"node 'python' \(tool\.python\) runs code.*--allow-code"):
        export_flow(load_flow(template("tool_agent")), template("tool_agent").parent, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_exported_tool_agent_answers_the_same_text(tmp_path: Path):
    sets = ["model.source=builtin:tiny-llama", "agent.max_steps=2", "agent.max_new_tokens=24"]
    engine = engine_run(template("tool_agent"), sets, tmp_path / "run", allow_code=True)
    script = export_and_run(template("tool_agent"), sets, tmp_path, allow_code=True)
    assert script["outputs"]["answer"] == engine["outputs"]["answer"]
    assert script["outputs"]["transcript"] == engine["outputs"]["transcript"]
