"""`flowstudio run` and `python flow.py` of the export reach the same metrics (builtin:tiny-llama, CPU).

The script runs where `import flowstudio` fails and from outside the repository, so these tests also show
that an export needs no FlowStudio install.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .pairs import assert_same_metrics, engine_run, export_and_run, template

TINY = "model.source=builtin:tiny-llama"


def _pair(name: str, sets: list[str], tmp_path: Path, workers: bool = True) -> tuple[dict, dict]:
    engine = engine_run(template(name), sets, tmp_path / "run", workers=workers)  # builds tiny-llama first
    script = export_and_run(template(name), sets, tmp_path)
    return engine, script


def test_sft_template_exported_reaches_the_engines_metrics(tmp_path: Path):
    sets = [TINY, "sft.max_steps=4", "sft.logging_steps=2", "data.limit=80", "split.eval_rows=16"]
    engine, script = _pair("sft_lora", sets, tmp_path, workers=False)  # the slow ones use worker processes
    assert assert_same_metrics(engine, script) >= 10
    sft = script["nodes"]["sft"]["metrics"]
    assert sft["steps"] == 4 and sft["eval_loss"] < sft["eval_loss_start"]
    assert script["outputs"]["metrics"]["eval_loss"] == pytest.approx(engine["outputs"]["metrics"]["eval_loss"],
                                                                       rel=1e-4)


@pytest.mark.slow
def test_reward_model_template_exported_reaches_the_engines_metrics(tmp_path: Path):
    sets = [TINY, "reward.max_steps=3", "reward.logging_steps=1", "reward.accuracy_rows=16", "pairs.limit=60",
            "split.eval_rows=12"]
    engine, script = _pair("reward_model", sets, tmp_path)
    assert assert_same_metrics(engine, script) >= 5
    assert "eval_accuracy" in script["nodes"]["reward"]["metrics"]


@pytest.mark.slow
def test_dpo_template_exported_reaches_the_engines_metrics(tmp_path: Path):
    sets = [TINY, "dpo.max_steps=3", "dpo.logging_steps=1", "pairs.limit=40", "split.eval_rows=8"]
    engine, script = _pair("dpo", sets, tmp_path)
    assert assert_same_metrics(engine, script) >= 5


@pytest.mark.slow
def test_ppo_template_exported_reaches_the_engines_metrics(tmp_path: Path):
    sets = [TINY, "chats.limit=24", "pairs.limit=40", "split.eval_rows=8", "sft.max_steps=2", "reward.max_steps=2",
            "reward.accuracy_rows=8", "ppo.updates=1", "ppo.batch_size=4", "ppo.mini_batch_size=2",
            "ppo.micro_batch_size=2", "ppo.ppo_epochs=1", "ppo.response_length=8", "eval_sft.max_rows=4",
            "eval_ppo.max_rows=4", "eval_sft.max_new_tokens=8", "eval_ppo.max_new_tokens=8"]
    engine, script = _pair("rlhf_ppo", sets, tmp_path)
    assert assert_same_metrics(engine, script) >= 10
    assert "mean_reward" in script["nodes"]["eval_ppo"]["metrics"]


@pytest.mark.slow
def test_grpo_template_exported_reaches_the_engines_metrics(tmp_path: Path):
    sets = [TINY, "grpo.max_steps=2", "grpo.per_device_batch_size=4", "grpo.max_completion_length=8",
            "questions.limit=40", "split.eval_rows=8", "accuracy.max_new_tokens=8"]
    engine, script = _pair("grpo", sets, tmp_path)
    assert assert_same_metrics(engine, script) >= 10
    assert "reward" in script["nodes"]["grpo"]["metrics"]


@pytest.mark.slow
def test_exported_sft_script_trains_under_accelerate_launch_with_two_processes(tmp_path: Path):
    """Two CPU processes (gloo): the training node runs on both, the others on rank 0; one JSON on stdout."""
    import json
    import os
    import subprocess
    import sys

    from flowstudio.core.flow import load_flow
    from flowstudio.export import export_flow

    from .pairs import poisoned_path

    sets = [TINY, "sft.max_steps=3", "data.limit=80", "split.eval_rows=16"]
    engine_run(template("sft_lora"), sets, tmp_path / "run")  # builds tiny-llama
    export_flow(load_flow(template("sft_lora")), template("sft_lora").parent, tmp_path / "export", sets=sets)
    launcher = Path(sys.executable).parent / "accelerate"
    env = {**os.environ, "PYTHONPATH": str(poisoned_path(tmp_path)), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(launcher), "launch", "--config_file", str(tmp_path / "export/accelerate/ddp.yaml"),
                           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                           "--dynamo_backend", "no", str(tmp_path / "export/flow.py"),
                           "--output-dir", str(tmp_path / "out")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    sft = summary["nodes"]["sft"]["metrics"]
    assert sft["steps"] == 3 and sft["eval_loss"] < sft["eval_loss_start"]
    assert summary["outputs"]["metrics"]["steps"] == 3 and (tmp_path / "out" / "merge" / "result.json").exists()
