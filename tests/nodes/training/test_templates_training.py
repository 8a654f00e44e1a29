"""The training templates run end to end through `flowstudio run --json` with builtin:tiny-llama."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowstudio.core.paths import templates_dir

TEMPLATES = ["sft_lora", "reward_model", "dpo", "evaluate"]


def _run(flow: Path, *sets: str) -> dict:
    cmd = [sys.executable, "-m", "flowstudio", "run", str(flow), "--json", "--no-cache", "--quiet",
           "--set", "model.source=builtin:tiny-llama", *[a for s in sets for a in ("--set", s)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0 and summary["status"] == "succeeded", json.dumps(summary, indent=1)[-3000:]
    return summary


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_declares_smollm2_with_a_description(name):
    flow = json.loads((templates_dir() / f"{name}.flow.json").read_text())
    assert len(flow["description"]) > 80
    nodes = {n["id"]: n for n in flow["nodes"]}
    assert nodes["model"]["type"] == "model.load"
    assert nodes["model"]["params"]["source"] == "builtin:smollm2-135m-instruct"


def test_sft_lora_template_lowers_eval_loss():
    summary = _run(templates_dir() / "sft_lora.flow.json", "sft.learning_rate=0.005")
    sft = summary["nodes"]["sft"]["metrics"]
    assert sft["eval_loss"] < sft["eval_loss_start"] - 0.2
    assert summary["nodes"]["merge"]["outputs"]["model"]["meta"]["adapter"] is False
    assert summary["outputs"]["metrics"]["steps"] == 40


def test_reward_model_template_separates_pairs():
    metrics = _run(templates_dir() / "reward_model.flow.json")["nodes"]["reward"]["metrics"]
    assert metrics["train_accuracy"] > 0.8
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0


def test_dpo_template_raises_the_margin():
    metrics = _run(templates_dir() / "dpo.flow.json")["nodes"]["dpo"]["metrics"]
    assert metrics["margin"] > metrics["margin_start"]


def test_evaluate_template_reports_accuracy_and_perplexity():
    summary = _run(templates_dir() / "evaluate.flow.json")
    assert 0.0 <= summary["nodes"]["accuracy"]["metrics"]["exact_match"] <= 1.0
    assert summary["nodes"]["perplexity"]["metrics"]["perplexity"] > 1.0
    table = summary["outputs"]["answers"]
    assert table["kind"] == "table" and Path(table["path"]).exists()
