"""train.dpo: the chosen-over-rejected margin rises, with and without LoRA."""

from __future__ import annotations

import pytest
from flowstudio.nodes.data import LoadData
from flowstudio.nodes.lora import LoraSettings
from flowstudio.nodes.train import DirectPreference


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
