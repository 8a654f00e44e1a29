"""train.dpo: the chosen-over-rejected margin rises, with and without LoRA."""

from __future__ import annotations

import pytest
from flowstudio.nodes.data.datasets import LoadData
from flowstudio.nodes.models.lora import LoraSettings
from flowstudio.nodes.training.trainers import DirectPreference


@pytest.mark.parametrize("use_lora", [False, True])
def test_dpo_raises_the_margin(run_node, tiny_llama, use_lora):
    data = run_node(LoadData, source="builtin:preference", limit=120)["dataset"]
    inputs = {"model": tiny_llama, "dataset": data}
    if use_lora:
        inputs["lora"] = run_node(LoraSettings, r=8, alpha=16, dropout=0.0)["lora"]
    out = run_node(DirectPreference, inputs, max_steps=10, learning_rate=2e-3, beta=0.1, batch_size=8,
                   max_length=128, logging_steps=5)
    metrics = out["metrics"]
    assert metrics["margin"] > metrics["margin_start"] + 0.5
    assert metrics["rewards/accuracies"] > 0.5
    assert out["model"].meta["adapter"] is use_lora


def test_dpo_stop_and_resume_keeps_the_starting_margin(run_node, make_ctx, tiny_llama, tmp_path):
    import threading

    from flowstudio.core.errors import RunCancelled

    data = run_node(LoadData, source="builtin:preference", limit=48)["dataset"]
    params = {"max_steps": 6, "learning_rate": 2e-3, "batch_size": 8, "max_length": 128, "logging_steps": 1}
    stop = threading.Event()

    def sink(event: dict) -> None:
        if event["event"] == "progress" and event["step"] == 3:
            stop.set()

    ckpt = tmp_path / "ckpt"
    with pytest.raises(RunCancelled):
        run_node(DirectPreference, {"model": tiny_llama, "dataset": data},
                 ctx=make_ctx("a", None, checkpoint_dir=ckpt, cancel_event=stop, sink=sink), **params)
    out = run_node(DirectPreference, {"model": tiny_llama, "dataset": data},
                   ctx=make_ctx("b", None, checkpoint_dir=ckpt), **params)
    straight = run_node(DirectPreference, {"model": tiny_llama, "dataset": data}, node_id="straight", **params)
    assert out["metrics"]["steps"] == 6
    assert [s["status"] for s in out["model"].meta["lineage"]] == ["stopped", "finished"]
    assert out["metrics"]["margin_start"] == pytest.approx(straight["metrics"]["margin_start"])
    assert out["metrics"]["margin"] == pytest.approx(straight["metrics"]["margin"], rel=1e-3)
