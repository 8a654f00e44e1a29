"""train.grpo on builtin:tiny-llama with reward-function specs: trains, reports, stops and resumes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from flowstudio.nodes.rl.trainers import GRPO  # noqa: E402

from flowstudio.core.errors import NodeRunError, RunCancelled  # noqa: E402
from flowstudio.core.node import PortValues  # noqa: E402
from flowstudio.core.values import Artifact  # noqa: E402


@pytest.fixture(scope="module")
def qa_prompts(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    import datasets

    out = tmp_path_factory.mktemp("qa") / "ds"
    rows = [{"question": f"What is {a} plus {b}?", "answer": str(a + b)} for a in range(3) for b in range(3)]
    datasets.Dataset.from_list(rows).save_to_disk(str(out))
    return Artifact("dataset", str(out), {"format": "qa", "columns": ["question", "answer"], "rows": len(rows)})


def inputs(tiny_llama: Artifact, prompts: Artifact, rewards: list[dict[str, Any]], **extra: Any) -> PortValues:
    from flowstudio.nodes.hf.loading import tokenizer_artifact

    return PortValues({"model": tiny_llama, "tokenizer": tokenizer_artifact(tiny_llama.path), "prompts": prompts,
                       "rewards": rewards, **extra})


REWARDS = [{"kind": "length", "name": "length_words", "target": 3, "unit": "words", "weight": 1.0},
           {"kind": "exact_match", "name": "exact_match", "column": "answer", "mode": "contains", "weight": 2.0}]
PARAMS = dict(max_steps=2, per_device_batch_size=4, num_generations=4, max_completion_length=8, learning_rate=1e-3)


def test_grpo_trains_with_reward_functions_and_reports_their_metrics(make_ctx: Any, tiny_llama: Artifact,
                                                                     qa_prompts: Artifact) -> None:
    from safetensors.torch import load_file

    events: list[dict[str, Any]] = []
    out = GRPO().run(make_ctx("grpo", events=events), inputs(tiny_llama, qa_prompts, REWARDS), GRPO.Params(**PARAMS))
    model_dir = Path(out["model"].path)
    trained = load_file(str(model_dir / "model.safetensors"))
    original = load_file(str(Path(tiny_llama.path) / "model.safetensors"))
    assert any(not torch.equal(trained[k], original[k]) for k in original if k in trained)
    names = {e["name"] for e in events if e["event"] == "metric"}
    assert "rewards/length_words/mean" in names and "rewards/exact_match/mean" in names
    assert [e["step"] for e in events if e["event"] == "progress" and e["step"]] == [1, 2]


def test_grpo_stop_saves_a_checkpoint_and_the_rerun_resumes(make_ctx: Any, tmp_path: Path, tiny_llama: Artifact,
                                                            qa_prompts: Artifact) -> None:
    stop = threading.Event()
    ctx = make_ctx("g1", checkpoint_dir=tmp_path / "ck", cancel_event=stop)
    ctx.sink = lambda ev: stop.set() if ev["event"] == "progress" and ev["step"] == 1 else None
    with pytest.raises(RunCancelled, match="step 1/2"):
        GRPO().run(ctx, inputs(tiny_llama, qa_prompts, REWARDS), GRPO.Params(**PARAMS))
    assert (tmp_path / "ck" / "checkpoint-1").is_dir()
    events: list[dict[str, Any]] = []
    out = GRPO().run(make_ctx("g2", checkpoint_dir=tmp_path / "ck", events=events),
                     inputs(tiny_llama, qa_prompts, REWARDS), GRPO.Params(**PARAMS))
    assert any("resuming from checkpoint-1" in e.get("line", "") for e in events)
    assert [e["step"] for e in events if e["event"] == "progress" and e["step"]] == [2]
    assert Path(out["model"].path, "config.json").exists()


def test_grpo_without_any_reward_or_with_a_bad_group_size_names_the_field(make_ctx: Any, tiny_llama: Artifact,
                                                                          qa_prompts: Artifact) -> None:
    with pytest.raises(NodeRunError) as err:
        GRPO().run(make_ctx("g3"), inputs(tiny_llama, qa_prompts, []), GRPO.Params(**PARAMS))
    assert err.value.field == "rewards"
    problems = GRPO.check(GRPO.Params(per_device_batch_size=6, num_generations=4), None)
    assert problems and problems[0].field == "num_generations"


def test_grpo_prompts_follow_the_eval_convention(tiny_llama_dir: Path) -> None:
    import datasets
    from flowstudio.nodes.hf.loading import load_tokenizer
    from flowstudio.nodes.rl.grpo import grpo_dataset

    tok = load_tokenizer(tiny_llama_dir)
    qa = datasets.Dataset.from_list([{"question": "What is 1 plus 1?", "answer": "2"}])
    out = grpo_dataset(qa, "qa", tok, "auto", 64)
    assert out[0]["prompt"] == [{"role": "user", "content": "What is 1 plus 1?"}] and out[0]["answer"] == "2"
    pref = datasets.Dataset.from_list([{"prompt": "Hi?", "chosen": "a", "rejected": "b"},
                                       {"prompt": "  ", "chosen": "a", "rejected": "b"}])
    assert grpo_dataset(pref, "preference", tok, "auto", 64)["prompt"] == ["Hi?"]
    assert grpo_dataset(pref, "preference", tok, "yes", 64)["prompt"] == [[{"role": "user", "content": "Hi?"}]]
    chats = datasets.Dataset.from_list([{"messages": [{"role": "user", "content": "Q"},
                                                      {"role": "assistant", "content": "A"}]}])
    assert grpo_dataset(chats, "messages", tok, "auto", 64)[0]["prompt"] == [{"role": "user", "content": "Q"}]
    long = datasets.Dataset.from_list([{"prompt": "word " * 200, "completion": "x"}])
    kept = grpo_dataset(long, "prompt_completion", tok, "auto", 8)[0]["prompt"]
    assert len(tok(kept, add_special_tokens=False)["input_ids"]) <= 9


def test_grpo_with_a_reward_model_and_a_rule_weighs_both(make_ctx: Any, tmp_path: Path, tiny_llama: Artifact,
                                                         qa_prompts: Artifact) -> None:
    from flowstudio.nodes.hf.loading import load_tokenizer
    from transformers import AutoModelForSequenceClassification

    tok = load_tokenizer(tiny_llama.path)
    torch.manual_seed(0)
    rm = AutoModelForSequenceClassification.from_pretrained(tiny_llama.path, num_labels=1)
    rm.config.pad_token_id = tok.pad_token_id
    rm.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    events: list[dict[str, Any]] = []
    params = GRPO.Params(**{**PARAMS, "max_steps": 1, "reward_model_weight": 0.5})
    GRPO().run(make_ctx("grpo_rm", events=events),
               inputs(tiny_llama, qa_prompts, REWARDS[:1], reward_model=Artifact("reward_model", str(tmp_path / "rm"))),
               params)
    last = {e["name"]: e["value"] for e in events if e["event"] == "metric"}
    rm_keys = [k for k in last if k.startswith("rewards/") and k.endswith("/mean") and "length" not in k]
    assert rm_keys, sorted(last)
    expected = 0.5 * last[rm_keys[0]] + 1.0 * last["rewards/length_words/mean"]
    assert last["reward"] == pytest.approx(expected, abs=1e-4)
