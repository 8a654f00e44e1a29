"""train.reward: a reward model that separates the demo pairs."""

from __future__ import annotations

import pytest
from flowstudio.nodes.data.datasets import LoadData, SplitData
from flowstudio.nodes.training.trainers import RewardModelTrain

from flowstudio.core.errors import NodeRunError


def test_reward_model_ranks_chosen_above_rejected(run_node, tiny_llama):
    data = run_node(LoadData, source="builtin:preference")["dataset"]
    split = run_node(SplitData, {"dataset": data}, eval_rows=40)
    out = run_node(RewardModelTrain, {"model": tiny_llama, "dataset": split["train"], "eval_dataset": split["eval"]},
                   max_steps=40, learning_rate=3e-3, batch_size=8, max_length=128, logging_steps=10)
    metrics = out["metrics"]
    assert metrics["train_accuracy"] > 0.8
    assert "eval_accuracy" in metrics and metrics["eval_accuracy"] > 0.6
    assert metrics["train_margin"] > 0
    rm = out["reward_model"]
    assert rm.kind == "reward_model"
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(rm.path)
    tok = AutoTokenizer.from_pretrained(rm.path)
    assert model.config.num_labels == 1 and model.config.pad_token_id == tok.pad_token_id
    good = tok.apply_chat_template([{"role": "user", "content": "What is 2 plus 2?"},
                                    {"role": "assistant", "content": "Sure! 2 plus 2 is 4."}], tokenize=False)
    bad = tok.apply_chat_template([{"role": "user", "content": "What is 2 plus 2?"},
                                   {"role": "assistant", "content": "Whatever. 2 plus 2 is 9."}], tokenize=False)
    scores = model(**tok([good, bad], return_tensors="pt", padding=True)).logits[:, 0]
    assert scores[0] > scores[1]


def test_reward_needs_preference_data(run_node, tiny_llama):
    data = run_node(LoadData, source="builtin:qa")["dataset"]
    with pytest.raises(NodeRunError, match="preference data") as err:
        run_node(RewardModelTrain, {"model": tiny_llama, "dataset": data}, max_steps=1)
    assert "chosen" in err.value.hint
