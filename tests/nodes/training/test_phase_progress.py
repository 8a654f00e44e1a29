"""After the last training step a node is not silent: evaluation, accuracy scoring, merging and saving each
report their own progress (issue 13: a reward model sat at 60/60 for minutes while it scored 400 pairs)."""

from __future__ import annotations

from typing import Any

from flowstudio.nodes.data.datasets import LoadData, SplitData
from flowstudio.nodes.models.lora import LoraSettings
from flowstudio.nodes.training.trainers import RewardModelTrain, SupervisedFineTune


def _progress(events: list[dict[str, Any]]) -> list[tuple[int, int | None, str]]:
    return [(e["step"], e["total"], e["message"]) for e in events if e["event"] == "progress"]


def _after_training(progress: list[tuple[int, int | None, str]], steps: int) -> list[tuple[int, int | None, str]]:
    """The progress events after the training loop's last step (a step event has no message)."""
    last = max(i for i, (step, total, m) in enumerate(progress) if (step, total, m) == (steps, steps, ""))
    return progress[last + 1:]


def _counts(after: list[tuple[int, int | None, str]], phase: str) -> list[tuple[int, int]]:
    """The phase's own counts, from messages such as "train accuracy 8/40"."""
    out = []
    for _s, _t, message in after:
        if message.startswith(phase + " "):
            done, total = message.rsplit(" ", 1)[1].split("/")
            out.append((int(done), int(total)))
    return out


def test_a_reward_model_reports_its_accuracy_phase_merge_and_save(run_node, make_ctx, tiny_llama):
    data = run_node(LoadData, source="builtin:preference")["dataset"]
    split = run_node(SplitData, {"dataset": data}, eval_rows=12)
    lora = run_node(LoraSettings, r=4)["lora"]
    events: list[dict[str, Any]] = []
    rows = 20
    run_node(RewardModelTrain, {"model": tiny_llama, "dataset": split["train"], "eval_dataset": split["eval"],
                                "lora": lora},
             ctx=make_ctx("rm", events=events), max_steps=3, batch_size=4, max_length=64, logging_steps=1,
             accuracy_rows=rows)
    after = _after_training(_progress(events), 3)
    assert after and all((s, t) == (3, 3) for s, t, _m in after)  # the step stays the training step
    messages = [m for _s, _t, m in after]
    train_acc, eval_acc = _counts(after, "train accuracy"), _counts(after, "eval accuracy")
    # every batch of chosen and rejected texts, counted up to two texts per pair
    assert train_acc[0] == (0, 2 * rows) and train_acc[-1] == (2 * rows, 2 * rows)
    assert [d for d, _t in train_acc] == sorted(d for d, _t in train_acc) and len(train_acc) == 1 + 2 * rows // 4
    assert eval_acc[0] == (0, 24) and eval_acc[-1] == (24, 24)  # 12 eval pairs
    first_acc = next(i for i, m in enumerate(messages) if m.startswith("train accuracy"))
    assert messages.index("merging LoRA") < first_acc < messages.index("saving") == len(messages) - 1


def test_sft_reports_its_final_evaluation_and_save(run_node, make_ctx, tiny_llama):
    data = run_node(LoadData, source="builtin:sft-chat")["dataset"]
    split = run_node(SplitData, {"dataset": data}, eval_rows=8)
    events: list[dict[str, Any]] = []
    run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": split["train"], "eval_dataset": split["eval"]},
             ctx=make_ctx("sft", events=events), max_steps=2, batch_size=4, max_length=64, logging_steps=1)
    progress = _progress(events)
    before = progress[:next(i for i, p in enumerate(progress) if p == (1, 2, ""))]
    assert _counts(before, "evaluating") == [(1, 2), (2, 2)]  # eval_loss_start: 8 eval rows in batches of 4
    after = _after_training(progress, 2)
    assert _counts(after, "evaluating") == [(1, 2), (2, 2)] and all((s, t) == (2, 2) for s, t, _m in after)
    assert [m for _s, _t, m in after][-1] == "saving"
