"""templates/rlhf_ppo.flow.json end to end on builtin:tiny-llama through `flowstudio run --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flowstudio.core.paths import templates_dir


def test_rlhf_template_runs_on_tiny_llama_and_ppo_beats_sft_on_reward(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "flowstudio", "run", str(templates_dir() / "rlhf_ppo.flow.json"),
         "--set", "model.source=builtin:tiny-llama", "--json", "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "succeeded"
    nodes = summary["nodes"]
    assert all(n["status"] in ("done", "cached") for n in nodes.values()), nodes
    sft_reward = summary["outputs"]["sft_reward"]["mean_reward"]
    ppo_reward = summary["outputs"]["ppo_reward"]["mean_reward"]
    assert ppo_reward > sft_reward, (sft_reward, ppo_reward)
    assert nodes["eval_ppo"]["metrics"]["mean_reward"] == ppo_reward
    ppo_metrics = nodes["ppo"]["metrics"]
    assert "objective/kl" in ppo_metrics and ppo_metrics["objective/kl"] > 0
    for name in ("objective/scores", "objective/rlhf_reward", "policy/clipfrac", "loss/value", "lr"):
        assert name in ppo_metrics
