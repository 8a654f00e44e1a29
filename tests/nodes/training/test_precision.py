"""Trainers keep float32 master weights: a model declared bf16 trains with bf16 autocast, not in pure bf16.

On CPU the bug shows just as on a GPU: stepping bf16 weights with AdamW at a small learning rate rounds
almost every update to zero. Each trainer here gets the tiny Llama declared as bfloat16 and precision bf16.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flowstudio.nodes.data.datasets import LoadData
from flowstudio.nodes.hf.loading import model_artifact
from flowstudio.nodes.training.trainers import DirectPreference, RewardModelTrain, SupervisedFineTune

torch = pytest.importorskip("torch")

STEPS = dict(max_steps=3, batch_size=4, max_length=96, logging_steps=1, precision="bf16", learning_rate=1e-5)


def linear_weights(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state = load_file(str(Path(directory) / "model.safetensors"))
    return {n.removeprefix("model."): t.float() for n, t in state.items() if n.endswith("proj.weight")}


def changed_share(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> float:
    changed = sum(int((after[n] != before[n]).sum()) for n in before)
    return changed / sum(t.numel() for t in before.values())


@pytest.fixture(scope="module")
def bf16_llama(tiny_llama_dir: Path) -> object:
    return model_artifact(tiny_llama_dir, source="builtin:tiny-llama", dtype="bfloat16")


@pytest.mark.parametrize(("node", "data", "output"), [
    (SupervisedFineTune, "builtin:sft-chat", "model"),
    (DirectPreference, "builtin:preference", "model"),
    (RewardModelTrain, "builtin:preference", "reward_model"),
])
def test_a_bf16_model_trains_with_float32_master_weights(run_node, tiny_llama_dir, bf16_llama, node, data, output):
    dataset = run_node(LoadData, source=data, limit=24)["dataset"]
    out = run_node(node, {"model": bf16_llama, "dataset": dataset}, **STEPS)
    trained = out[output]
    after = linear_weights(trained.path)
    assert {t.dtype for t in _raw(trained.path).values()} == {torch.float32}, "saved from float32 weights"
    before = linear_weights(tiny_llama_dir)
    share = changed_share({n: before[n] for n in after}, after)
    assert share > 0.9, f"{node.type}: only {share:.1%} of the weights moved (pure-bf16 updates rounded away)"


def _raw(directory: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(directory) / "model.safetensors"))
