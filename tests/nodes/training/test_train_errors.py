"""How training failures reach the user: out of memory, wrong data for a trainer."""

from __future__ import annotations

import pytest
from flowstudio.nodes.data.datasets import LoadData
from flowstudio.nodes.training.common import run_training
from flowstudio.nodes.training.trainers import DirectPreference, SupervisedFineTune

from flowstudio.core.errors import NodeRunError


class _OutOfMemoryTrainer:
    """Stands in for a TRL trainer whose first step does not fit on the GPU (no GPU on the test machine)."""

    def __init__(self) -> None:
        self.callback_handler = type("H", (), {"callbacks": []})()

    def remove_callback(self, cls: type) -> None:
        pass

    def train(self, resume_from_checkpoint: str | None = None) -> None:
        import torch

        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)")


def test_cuda_out_of_memory_becomes_advice(make_ctx):
    ctx = make_ctx("sft")
    with pytest.raises(NodeRunError, match="out of memory") as err:
        run_training(_OutOfMemoryTrainer(), ctx, None, None, {"segments": []})
    for advice in ("batch_size", "grad_accumulation", "lora", "max_length", "gradient_checkpointing"):
        assert advice in err.value.hint


def test_dpo_refuses_non_preference_data(run_node, tiny_llama):
    data = run_node(LoadData, source="builtin:sft-chat", limit=8)["dataset"]
    with pytest.raises(NodeRunError, match="preference data") as err:
        run_node(DirectPreference, {"model": tiny_llama, "dataset": data}, max_steps=1)
    assert "messages" in str(err.value)


def test_sft_on_preference_data_trains_on_the_chosen_replies(run_node, tiny_llama):
    data = run_node(LoadData, source="builtin:preference", limit=16)["dataset"]
    out = run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": data}, max_steps=2, batch_size=8)
    assert out["metrics"]["steps"] == 2
