"""The "Teach a model to use a calculator" template end to end through `flowstudio run --json`: on the tiny
Llama (fast: the plumbing, GRPO branch switched on) and on SmolLM2-135M (slow: the acceptance numbers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowstudio.core.paths import templates_dir

TEMPLATE = templates_dir() / "teach_calculator.flow.json"
COUNTS = ("rows", "correct", "wrong", "called", "answered", "step_limit", "context_full")


def _run(flow: Path, run_dir: Path, *sets: str) -> dict:
    cmd = [sys.executable, "-m", "flowstudio", "run", str(flow), "--json", "--no-cache", "--quiet",
           "--run-dir", str(run_dir), *[a for s in sets for a in ("--set", s)]]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0 and summary["status"] == "succeeded", json.dumps(summary, indent=1)[-3000:]
    return summary


def _check_counts(m: dict, rows: int) -> None:
    assert m["rows"] == rows and m["correct"] + m["wrong"] == rows
    assert m["answered"] + m["step_limit"] + m["context_full"] == rows
    assert 0 <= m["called"] <= rows and m["tool_call_rate"] == m["called"] / rows
    assert m["accuracy"] == m["correct"] / rows and 0 <= m["malformed_call_rate"] <= 1
    assert 1 <= m["mean_steps"] <= 3


def test_template_shape() -> None:
    flow = json.loads(TEMPLATE.read_text())
    nodes = {n["id"]: n for n in flow["nodes"]}
    assert nodes["model"]["params"]["source"] == "builtin:smollm2-135m-instruct"
    assert [nodes[i]["type"] for i in ("data", "before", "sft", "after", "grpo", "after_grpo")] == [
        "data.tool_use", "eval.agent", "train.sft", "eval.agent", "train.grpo", "eval.agent"]
    assert all(nodes[i].get("bypass") for i in ("exact", "grpo", "after_grpo", "accuracy_grpo"))
    assert nodes["data"]["params"]["eval_rows"] == 100
    # the agent is measured with the system prompt the transcripts were made with
    assert nodes["before"]["params"].get("system") == nodes["data"]["params"].get("system")


def test_template_runs_on_the_tiny_llama_with_the_grpo_branch(tmp_path: Path) -> None:
    flow = json.loads(TEMPLATE.read_text())
    for node in flow["nodes"]:
        node.pop("bypass", None)  # switch the GRPO branch on
        if node["id"] == "grpo":
            node["params"].update(max_steps=1, per_device_batch_size=2, num_generations=2,
                                  max_completion_length=4, max_prompt_length=448)
    path = tmp_path / "teach.flow.json"
    path.write_text(json.dumps(flow))
    evals = ("before", "after", "after_grpo")
    summary = _run(path, tmp_path / "run", "model.source=builtin:tiny-llama", "data.train_rows=12",
                   "data.eval_rows=5", "sft.max_steps=2", "sft.batch_size=2", "sft.max_length=512",
                   *[f"{e}.{p}" for e in evals for p in ("max_new_tokens=6", "batch_size=5")])
    for name, label in (("before", "accuracy_before"), ("after", "accuracy_after"),
                        ("after_grpo", "accuracy_grpo")):
        metrics = summary["nodes"][name]["metrics"]
        _check_counts(metrics, 5)
        assert summary["outputs"][label] == {k: metrics[k] for k in summary["outputs"][label]}
        table = Path(summary["nodes"][name]["outputs"]["table"]["path"])
        rows = [json.loads(line) for line in table.read_text().splitlines()]
        assert len(rows) == 5 and sum(r["correct"] for r in rows) == metrics["correct"]
    assert summary["nodes"]["sft"]["metrics"]["steps"] == 2
    assert summary["nodes"]["grpo"]["status"] == "done"


@pytest.mark.slow
@pytest.mark.acceptance
@pytest.mark.timeout(3600)
def test_smollm2_learns_to_use_the_calculator(tmp_path: Path) -> None:
    """The acceptance run: SmolLM2-135M-Instruct on CPU, 100 held-out problems before and after LoRA SFT."""
    started = time.perf_counter()
    cpu = os.times()
    summary = _run(TEMPLATE, tmp_path / "run")
    children = os.times()
    seconds = {n: round(v["seconds"], 1) for n, v in summary["nodes"].items()}
    before, after = summary["nodes"]["before"]["metrics"], summary["nodes"]["after"]["metrics"]
    print(f"\nbefore: {json.dumps(before)}\nafter: {json.dumps(after)}\nnode seconds: {seconds}\n"
          f"wall {time.perf_counter() - started:.0f} s, CPU {children.children_user - cpu.children_user:.0f} s")
    table = Path(summary["nodes"]["after"]["outputs"]["table"]["path"])
    for row in map(json.loads, table.read_text().splitlines()):
        if not row["correct"]:  # what limits it: the call the model made for each wrong answer
            reply = next((m["content"] for m in json.loads(row["transcript"]) if m["role"] == "assistant"), "")
            print(f"wrong: {row['question']} | {reply[:110]} | expected {row['expected']}")
    _check_counts(before, 100)
    _check_counts(after, 100)
    # Measured (2026-12-01, quiet 2-vCPU machine, OMP_NUM_THREADS=2, the template through `flowstudio run`,
    # wall 1223 s: SFT 1048 s, evals 62 + 105 s): before 0.09 accuracy / 0.00 tool calls; after (174 composed
    # training frames, 96 steps x batch 4) 0.87 / 0.97, malformed 0.03. With 64 steps it was 0.74 / 0.98, and
    # with 5 phrasings per kind and 32 steps 0.49 / 0.96. The asserts are the goals.
    assert after["tool_call_rate"] >= 0.9 and after["malformed_call_rate"] <= 0.1
    assert after["accuracy"] >= 0.8 and after["accuracy"] >= before["accuracy"] + 0.5
