"""train.ppo as a node on builtin:tiny-llama: LoRA and reference choice, errors, stop/resume, outputs."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from flowstudio.nodes.rl.ppo import setup  # noqa: E402
from flowstudio.nodes.rl.ppo.trainer import PPOConfig, PPOTrainer  # noqa: E402
from flowstudio.nodes.rl.trainers import PPO  # noqa: E402

from flowstudio.core.errors import NodeRunError, RunCancelled  # noqa: E402
from flowstudio.core.node import PortValues  # noqa: E402
from flowstudio.core.values import Artifact  # noqa: E402

LORA = {"r": 4, "alpha": 8, "dropout": 0.1, "target_modules": "auto", "bias": "none"}


@pytest.fixture(scope="module")
def reward_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_llama_dir: Path) -> Path:
    """A reward model on tiny-llama's backbone with a random score head (its scores are a fine reward)."""
    from flowstudio.nodes.hf.loading import load_tokenizer
    from transformers import AutoModelForSequenceClassification

    out = tmp_path_factory.mktemp("rm")
    tok = load_tokenizer(tiny_llama_dir)
    torch.manual_seed(0)
    rm = AutoModelForSequenceClassification.from_pretrained(tiny_llama_dir, num_labels=1)
    rm.config.pad_token_id = tok.pad_token_id
    rm.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def prompts_artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    import datasets

    out = tmp_path_factory.mktemp("prompts") / "ds"
    rows = [{"prompt": q} for q in ("What is the capital of France?", "What is 2 plus 3?",
                                    "What sound does a cat make?", "What is the opposite of hot?")] * 4
    datasets.Dataset.from_list(rows).save_to_disk(str(out))
    return Artifact("dataset", str(out), {"format": "prompt_completion", "columns": ["prompt"], "rows": len(rows)})


def node_inputs(tiny_llama: Artifact, rm_dir: Path, prompts: Artifact, **extra: Any) -> PortValues:
    from flowstudio.nodes.hf.loading import tokenizer_artifact

    return PortValues({"model": tiny_llama, "tokenizer": tokenizer_artifact(tiny_llama.path),
                       "reward_model": Artifact("reward_model", str(rm_dir)), "prompts": prompts, **extra})


def small_params(**kw: Any) -> PPO.Params:
    base = dict(updates=3, batch_size=8, mini_batch_size=4, micro_batch_size=2, ppo_epochs=2,
                learning_rate=1e-3, response_length=8)
    base.update(kw)
    return PPO.Params(**base)


def scorer_and_prompts(tiny_llama_dir: Path, rm_dir: Path) -> tuple[Any, list[list[int]], Any]:
    from flowstudio.nodes.hf.loading import load_tokenizer

    tok = load_tokenizer(tiny_llama_dir)
    rm = setup.load_scalar_model(rm_dir, "cpu", trainable=False)
    values = [[{"role": "user", "content": f"What is {i} plus {i}?"}] for i in range(8)]
    prompts = setup.tokenize_prompts([setup.policy_text(tok, v) for v in values], tok, 64)
    by_ids = {tuple(p): v for p, v in zip(prompts, values, strict=True)}
    scorer = setup.reward_model_scorer(rm, tok, tok, "cpu", by_ids)
    return scorer, prompts, tok


def test_ppo_scores_responses_exactly_as_eval_reward_score_does(tiny_llama_dir: Path, reward_model_dir: Path) -> None:
    """The reward PPO maximises is the number eval.reward_score reports for the same prompt and response."""
    from flowstudio.nodes.data.examples import scored_text
    from flowstudio.nodes.hf.loading import load_tokenizer
    from flowstudio.nodes.hf.scoring import reward_scores
    from flowstudio.nodes.rl.ppo import rollout

    tok = load_tokenizer(tiny_llama_dir)
    rm = setup.load_scalar_model(reward_model_dir, "cpu", trainable=False)
    values: list[Any] = ["What is the capital of Peru?", [{"role": "user", "content": "What is 2 plus 2?"}]]
    prompts = setup.tokenize_prompts([setup.policy_text(tok, v) for v in values], tok, 64)
    by_ids = {tuple(p): v for p, v in zip(prompts, values, strict=True)}
    scorer = setup.reward_model_scorer(rm, tok, tok, "cpu", by_ids)
    responses_text = ["The capital of Peru is Lima.", "2 plus 2 is 4."]
    responses = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in responses_text]
    width = max(map(len, responses))
    r_ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in responses])
    r_mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in responses])
    p_ids, p_mask = rollout.left_pad(prompts, tok.pad_token_id)
    with torch.no_grad():
        ours = scorer(p_ids, p_mask, r_ids, r_mask)
    texts = [scored_text(tok, v, t) for v, t in zip(values, responses_text, strict=True)]
    assert texts[0] == "What is the capital of Peru?The capital of Peru is Lima.<|im_end|>"
    assert texts[1].startswith("<|im_start|>user\nWhat is 2 plus 2?<|im_end|>\n<|im_start|>assistant\n2 plus 2")
    theirs = reward_scores(rm, tok, texts, "cpu")
    torch.testing.assert_close(ours, torch.tensor(theirs), rtol=0, atol=1e-5)


def test_fresh_lora_trains_only_adapters_and_the_reference_is_the_adapter_free_model(
        tiny_llama_dir: Path, reward_model_dir: Path) -> None:
    built = setup.build_policy(tiny_llama_dir, LORA, "cpu")
    assert built.mode == "fresh_lora" and built.reference is None
    scorer, prompts, tok = scorer_and_prompts(tiny_llama_dir, reward_model_dir)
    before = {n: p.detach().clone() for n, p in built.policy.named_parameters()}
    probe = torch.tensor([prompts[0]])
    with torch.no_grad(), built.policy.disable_adapter():
        ref_before = built.policy(input_ids=probe).logits
    value = setup.load_scalar_model(reward_model_dir, "cpu", trainable=True)
    cfg = PPOConfig(updates=2, batch_size=8, mini_batch_size=4, micro_batch_size=4, ppo_epochs=2,
                    learning_rate=1e-2, response_length=6)
    trainer = PPOTrainer(cfg, built.policy, value, scorer, prompts, eos_id=tok.eos_token_id,
                         pad_id=setup.pad_id_for(tok))
    first = trainer.step()
    trainer.step()
    assert first["objective/kl"] == 0.0  # a fresh adapter (B = 0) is exactly the reference
    changed = {n for n, p in built.policy.named_parameters() if not torch.equal(p, before[n])}
    assert changed, "nothing trained"
    assert all("lora_" in n for n in changed), sorted(changed)
    with torch.no_grad(), built.policy.disable_adapter():
        ref_after = built.policy(input_ids=probe).logits
    assert torch.equal(ref_before, ref_after)
    with torch.no_grad():
        assert not torch.equal(built.policy(input_ids=probe).logits, ref_after)


def test_continuing_an_sft_adapter_keeps_a_frozen_reference_copy(
        tmp_path: Path, tiny_llama_dir: Path, reward_model_dir: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    sft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # a trained SFT adapter: B no longer 0
        for name, p in sft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    adapter_dir = tmp_path / "sft_adapter"
    sft.save_pretrained(adapter_dir)
    assert json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"]

    built = setup.build_policy(adapter_dir, None, "cpu")
    assert built.mode == "continue_lora" and built.reference is not None
    ref_before = {n: p.detach().clone() for n, p in built.reference.named_parameters()}
    policy_before = {n: p.detach().clone() for n, p in built.policy.named_parameters()}
    scorer, prompts, tok = scorer_and_prompts(tiny_llama_dir, reward_model_dir)
    cfg = PPOConfig(updates=2, batch_size=8, mini_batch_size=4, micro_batch_size=4, ppo_epochs=1,
                    learning_rate=1e-2, response_length=6)
    trainer = PPOTrainer(cfg, built.policy, setup.load_scalar_model(reward_model_dir, "cpu", True), scorer,
                         prompts, eos_id=tok.eos_token_id, pad_id=setup.pad_id_for(tok), reference=built.reference)
    first = trainer.step()
    trainer.step()
    # the reference is base + SFT adapter (merged), not the bare base: KL starts at 0
    assert abs(first["objective/kl"]) < 1e-4
    for name, p in built.reference.named_parameters():
        assert torch.equal(p, ref_before[name]), name
    changed = {n for n, p in built.policy.named_parameters() if not torch.equal(p, policy_before[n])}
    assert changed and all("lora_" in n for n in changed)


def test_node_trains_saves_loadable_outputs_and_reports_metrics(
        make_ctx: Any, tiny_llama: Artifact, reward_model_dir: Path, prompts_artifact: Artifact) -> None:
    events: list[dict[str, Any]] = []
    ctx = make_ctx("ppo", events=events)
    out = PPO().run(ctx, node_inputs(tiny_llama, reward_model_dir, prompts_artifact, lora=LORA),
                    small_params(use_chat_template="yes"))
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    model = AutoModelForCausalLM.from_pretrained(out["model"].path)  # LoRA merged: a plain model directory
    assert out["model"].kind == "model" and not out["model"].meta["adapter"]
    assert (Path(out["model"].path) / "tokenizer.json").exists()
    assert model.config.vocab_size == 512
    assert out["value_model"].kind == "reward_model"
    AutoModelForSequenceClassification.from_pretrained(out["value_model"].path)
    names = {e["name"] for e in events if e["event"] == "metric"}
    for required in ("objective/kl", "objective/entropy", "objective/scores", "objective/rlhf_reward",
                     "policy/approxkl", "policy/clipfrac", "loss/policy", "loss/value", "val/clipfrac",
                     "val/ratio", "lr"):
        assert required in names
    progress = [e for e in events if e["event"] == "progress" and e["step"]]
    assert [e["step"] for e in progress if "update" in e["message"]][-3:] == [1, 2, 3]
    phases = [e["message"] for e in progress if "update" not in e["message"]]
    assert "saving the policy" in phases and all(e["step"] <= 3 for e in progress)  # phases keep the last step
    logs = " ".join(e["line"] for e in events if e["event"] == "log")
    assert "adapters disabled" in logs and "<|im_start|>user" in logs  # use_chat_template=yes wraps plain prompts


def test_stop_saves_a_checkpoint_and_the_rerun_resumes(
        make_ctx: Any, tmp_path: Path, tiny_llama: Artifact, reward_model_dir: Path,
        prompts_artifact: Artifact) -> None:
    stop = threading.Event()

    def sink(ev: dict[str, Any]) -> None:
        if ev["event"] == "progress" and ev["step"] == 1 and ev["total"] == 3 and "update" in ev["message"]:
            stop.set()

    ckpt = tmp_path / "ckpt"
    ctx = make_ctx("ppo", checkpoint_dir=ckpt, cancel_event=stop)
    ctx.sink = sink
    inputs = node_inputs(tiny_llama, reward_model_dir, prompts_artifact)
    with pytest.raises(RunCancelled):
        PPO().run(ctx, inputs, small_params())
    assert (ckpt / "ppo_state.pt").exists()
    events: list[dict[str, Any]] = []
    ctx2 = make_ctx("ppo2", checkpoint_dir=ckpt, events=events)
    out = PPO().run(ctx2, inputs, small_params())
    assert Path(out["model"].path, "config.json").exists()
    assert any("resumed from checkpoint at update 1/3" in e.get("line", "") for e in events)
    assert [e["step"] for e in events if e["event"] == "metric" and e["name"] == "lr"] == [2, 3]


def test_bad_inputs_and_params_name_the_field(make_ctx: Any, tmp_path: Path, tiny_llama: Artifact,
                                             reward_model_dir: Path) -> None:
    import datasets

    problems = PPO.check(PPO.Params(batch_size=10, mini_batch_size=4, micro_batch_size=3), None)
    assert {p.field for p in problems} == {"mini_batch_size", "micro_batch_size"}
    with pytest.raises(NodeRunError) as err:
        PPO().run(make_ctx("a"), node_inputs(tiny_llama, reward_model_dir, Artifact("dataset", "/x")),
                  PPO.Params(batch_size=10, mini_batch_size=4))
    assert err.value.field == "mini_batch_size"

    path = tmp_path / "labels"
    datasets.Dataset.from_list([{"label": 1}]).save_to_disk(str(path))
    with pytest.raises(NodeRunError) as err:
        PPO().run(make_ctx("b"), node_inputs(tiny_llama, reward_model_dir,
                                             Artifact("dataset", str(path), {"format": "unknown"})), small_params())
    assert err.value.field == "prompts" and "prompt" in err.value.hint

    with pytest.raises(NodeRunError) as err:
        PPO().run(make_ctx("c"), node_inputs(tiny_llama, reward_model_dir, Artifact("dataset", str(path)),
                                             lora={"rank": 3}), small_params())
    assert err.value.field == "lora"


def test_prompt_values_follow_the_eval_convention(tiny_llama_dir: Path) -> None:
    import datasets
    from flowstudio.nodes.hf.loading import load_tokenizer

    tok = load_tokenizer(tiny_llama_dir)
    qa = datasets.Dataset.from_list([{"question": "What is 1 plus 1?", "answer": "2"}])
    assert setup.prompt_values(qa, "qa", tok, "auto") == [[{"role": "user", "content": "What is 1 plus 1?"}]]
    pref = datasets.Dataset.from_list([{"prompt": "Hi?", "chosen": "a", "rejected": "b"},
                                       {"prompt": " ", "chosen": "a", "rejected": "b"}])
    assert setup.prompt_values(pref, "preference", tok, "auto") == ["Hi?"]
    assert setup.prompt_values(pref, "preference", tok, "yes") == [[{"role": "user", "content": "Hi?"}]]
    chats = datasets.Dataset.from_list([{"messages": [{"role": "system", "content": "S"},
                                                      {"role": "user", "content": "Q"},
                                                      {"role": "assistant", "content": "A"}]}])
    values = setup.prompt_values(chats, "messages", tok, "auto")
    assert values == [[{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]]
    assert setup.policy_text(tok, values[0]).endswith("<|im_start|>assistant\n")
    assert setup.pad_id_for(tok) == tok.pad_token_id != tok.eos_token_id


def test_prompts_are_cut_to_fit_the_context_and_a_too_long_response_is_refused(tiny_llama_dir: Path) -> None:
    assert setup.prompt_token_limit(tiny_llama_dir, 256, 48) == 256  # tiny-llama's context is 512
    assert setup.prompt_token_limit(tiny_llama_dir, 1000, 400) == 112
    with pytest.raises(NodeRunError) as err:
        setup.prompt_token_limit(tiny_llama_dir, 256, 512)
    assert err.value.field == "response_length"
