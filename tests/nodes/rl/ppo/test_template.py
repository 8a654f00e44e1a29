"""templates/rlhf_ppo.flow.json end to end on builtin:tiny-llama through `flowstudio run --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_stopping_ppo_in_the_engine_and_resuming_continues_from_its_checkpoint(tmp_path: Path) -> None:
    """Through the real engine and worker process: stop during PPO, resume the run, PPO picks up where it was."""
    from flowstudio.core.flow import Flow
    from flowstudio.engine import ArtifactStore, DeviceInventory, Engine, RunOptions

    flow = Flow.model_validate_json((templates_dir() / "rlhf_ppo.flow.json").read_text(encoding="utf-8"))
    sets = ["model.source=builtin:tiny-llama", "ppo.updates=6", "sft.max_steps=4", "reward.max_steps=4"]
    engine = Engine(inventory=DeviceInventory.fake(gpus=0), store=ArtifactStore(tmp_path / "cache"))
    pressed: list[bool] = []

    def stop_at_update_2(event: Any) -> None:
        if event.kind == "node_progress" and event.node == "ppo" and (event.step or 0) >= 2 and not pressed:
            pressed.append(True)
            engine.cancel()

    try:
        options = RunOptions(sets=sets, until="ppo", run_dir=tmp_path / "run")
        stopped = engine.run(flow, flow_dir=templates_dir(), options=options, listeners=[stop_at_update_2])
        assert stopped.status == "cancelled", stopped.summary
        assert stopped.summary["nodes"]["ppo"]["status"] == "cancelled"
        assert stopped.summary["nodes"]["sft"]["status"] == "done"
        ckpt = Path(stopped.summary["nodes"]["ppo"]["checkpoint_dir"])
        assert (ckpt / "ppo_state.pt").exists()
        resumed = engine.resume(stopped.run_dir)
        assert resumed.ok, resumed.summary
        logs = [getattr(e, "line", "") or "" for e in resumed.events if e.kind == "node_log" and e.node == "ppo"]
        assert any("resumed from checkpoint at update" in line for line in logs), logs
        steps = [e.step for e in resumed.events if e.kind == "node_progress" and e.node == "ppo" and e.step]
        assert steps and steps[-1] == 6 and 1 not in steps
        assert resumed.summary["nodes"]["ppo"]["metrics"]["lr"] > 0
    finally:
        engine.close()
