"""`flowstudio demo`: the SFT → reward model → PPO pipeline as a user runs it, and its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flowstudio.cli.demo import DEMO_SETTINGS, demo_sets, what_changed
from flowstudio.core.flow import load_flow
from flowstudio.core.paths import templates_dir
from flowstudio.core.registry import default_registry


def test_demo_settings_name_real_nodes_and_params():
    flow = load_flow(templates_dir() / "rlhf_ppo.flow.json")
    nodes = {node.id: node for node in flow.nodes}
    for model, settings in DEMO_SETTINGS.items():
        for key in settings:
            node_id, param = key.split(".", 1)
            assert node_id in nodes, (model, key)
            params = default_registry().get(nodes[node_id].type).Params.model_fields
            assert param in params, (model, key)
    assert demo_sets("builtin:tiny-llama")[0] == "model.source=builtin:tiny-llama"


def test_what_changed_reads_the_eval_nodes():
    summary = {"nodes": {"eval_sft": {"metrics": {"mean_reward": 0.25}}, "eval_ppo": {"metrics": {"mean_reward": 1.5}},
                         "ppo": {"metrics": {"objective/kl": 0.5}}, "sft": {"metrics": {"train_loss": 2.0}},
                         "reward": {"metrics": {"eval_accuracy": 0.75}}}}
    assert what_changed(summary) == {"reward_sft_model": 0.25, "reward_ppo_model": 1.5, "reward_gain": 1.25,
                                     "kl_ppo_to_sft": 0.5, "sft_train_loss": 2.0,
                                     "reward_model_eval_accuracy": 0.75}
    assert what_changed({"nodes": {}})["reward_gain"] is None


def test_quick_demo_runs_the_pipeline_and_prints_what_changed(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "flowstudio", "demo", "--quick", "--json",
                           "--run-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    run = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert report["model"] == "builtin:tiny-llama"
    for key in ("reward_sft_model", "reward_ppo_model", "kl_ppo_to_sft", "sft_train_loss"):
        assert isinstance(report[key], float), key
    assert abs(report["reward_gain"] - (report["reward_ppo_model"] - report["reward_sft_model"])) < 1e-9
    assert report["kl_ppo_to_sft"] >= 0
    assert "ppo" in done.stderr and "What changed" not in done.stdout  # progress on stderr, JSON on stdout
    assert run["nodes"]["eval_ppo"]["metrics"]["mean_reward"] == report["reward_ppo_model"]
