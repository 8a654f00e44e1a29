"""The shipped chain templates: they validate, and the prompt chain answers with the real SmolLM2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from flowstudio.core.flow import Flow
from flowstudio.core.paths import templates_dir
from flowstudio.core.validation import validate_flow

TEMPLATES = ("prompt_chain.flow.json", "tool_agent.flow.json")


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_validates_on_smollm2(name: str) -> None:
    path = templates_dir() / name
    flow = Flow.model_validate_json(path.read_text(encoding="utf-8"))
    assert validate_flow(flow, flow_dir=path.parent) == []
    sources = [n.params.get("source") for n in flow.nodes if n.type == "model.load"]
    assert sources == ["builtin:smollm2-135m-instruct"]


def test_tool_agent_template_wires_both_tools() -> None:
    flow = Flow.model_validate_json((templates_dir() / "tool_agent.flow.json").read_text(encoding="utf-8"))
    fed = sorted(e.source for e in flow.edges if e.target == "agent.tools")
    assert fed == ["calculator.tool", "python.tool"]


@pytest.mark.slow
def test_prompt_chain_answers_paris_with_smollm2() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "flowstudio", "run", str(templates_dir() / "prompt_chain.flow.json"),
                           "--input", "question=What is the capital of France?", "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert "Paris" in summary["outputs"]["answer"]
    assert summary["nodes"]["generate"]["metrics"]["new_tokens"] > 0
