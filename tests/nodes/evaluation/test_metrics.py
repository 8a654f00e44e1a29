"""eval.perplexity, eval.qa_accuracy and eval.reward_score on the tiny Llama before and after training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowstudio.nodes.data.datasets import LoadData
from flowstudio.nodes.evaluation.matching import normalize_answer
from flowstudio.nodes.evaluation.metrics import Perplexity, QaAccuracy, RewardScore
from flowstudio.nodes.training.trainers import RewardModelTrain, SupervisedFineTune

from flowstudio.core.errors import NodeRunError


@pytest.fixture(scope="module")
def qa_and_trained(tmp_path_factory, tiny_llama):
    """16 QA rows and the tiny Llama after learning them by heart."""
    from flowstudio.core.node import PortValues
    from flowstudio.engine.context import LocalContext

    root = tmp_path_factory.mktemp("qa")
    qa = LoadData().run(LocalContext("qa", root / "q", root / "qc"), PortValues({}),
                        LoadData.Params(source="builtin:qa", limit=16))["dataset"]
    out = SupervisedFineTune().run(
        LocalContext("sft", root / "s", root / "sc"), PortValues({"model": tiny_llama, "dataset": qa}),
        SupervisedFineTune.Params(max_steps=80, learning_rate=1e-2, batch_size=16, lr_scheduler="constant",
                                  logging_steps=40))
    return qa, out["model"]


def test_qa_accuracy_before_and_after_learning(run_node, tiny_llama, qa_and_trained):
    qa, trained = qa_and_trained
    before = run_node(QaAccuracy, {"model": tiny_llama, "dataset": qa}, node_id="before", max_new_tokens=6)
    after = run_node(QaAccuracy, {"model": trained, "dataset": qa}, node_id="after", max_new_tokens=6)
    assert before["metrics"]["exact_match"] < 0.2
    assert after["metrics"]["exact_match"] > 0.8 and after["metrics"]["contains"] >= after["metrics"]["exact_match"]
    rows = [json.loads(line) for line in Path(after["table"].path).read_text().splitlines()]
    assert len(rows) == 16 and set(rows[0]) == {"question", "answer", "prediction", "exact_match", "contains"}
    assert sum(r["exact_match"] for r in rows) / 16 == after["metrics"]["exact_match"]


def test_perplexity_falls_on_learned_data(run_node, tiny_llama, qa_and_trained):
    qa, trained = qa_and_trained
    before = run_node(Perplexity, {"model": tiny_llama, "dataset": qa}, node_id="before")["metrics"]
    after = run_node(Perplexity, {"model": trained, "dataset": qa}, node_id="after")["metrics"]
    assert before["perplexity"] > 100 and after["perplexity"] < before["perplexity"] / 5
    assert before["tokens"] == after["tokens"] >= 32  # the answers' tokens only (auto)
    everything = run_node(Perplexity, {"model": trained, "dataset": qa}, node_id="all", tokens="all")["metrics"]
    assert everything["tokens"] > 4 * after["tokens"]


def test_qa_accuracy_needs_qa_data(run_node, tiny_llama):
    data = run_node(LoadData, source="builtin:corpus", limit=4)["dataset"]
    with pytest.raises(NodeRunError, match="question/answer"):
        run_node(QaAccuracy, {"model": tiny_llama, "dataset": data})


def test_normalize_answer():
    assert normalize_answer("The  Paris!") == "paris"
    assert normalize_answer("New Delhi.") == normalize_answer("new delhi")


def test_reward_score_of_generations(run_node, tiny_llama, qa_and_trained):
    pairs = run_node(LoadData, source="builtin:preference", limit=64)["dataset"]
    rm = run_node(RewardModelTrain, {"model": tiny_llama, "dataset": pairs}, max_steps=8, learning_rate=3e-3,
                  batch_size=8, max_length=128)["reward_model"]
    qa, trained = qa_and_trained
    out = run_node(RewardScore, {"model": trained, "reward_model": rm, "dataset": qa}, max_rows=8,
                   max_new_tokens=6)
    rows = [json.loads(line) for line in Path(out["table"].path).read_text().splitlines()]
    assert len(rows) == 8 and out["metrics"]["rows"] == 8
    assert out["metrics"]["mean_reward"] == pytest.approx(sum(r["reward"] for r in rows) / 8)
    assert out["metrics"]["min_reward"] <= out["metrics"]["mean_reward"] <= out["metrics"]["max_reward"]
    assert rows[0]["prompt"] == [{"role": "user", "content": rows[0]["prompt"][0]["content"]}]
