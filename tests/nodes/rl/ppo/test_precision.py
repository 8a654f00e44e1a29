"""Precision rules of PPO: the weights it trains are float32, bf16 is only a compute dtype; the reference is frozen."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from flowstudio.nodes.rl.ppo import setup  # noqa: E402
from flowstudio.nodes.rl.ppo.trainer import PPOConfig, PPOTrainer  # noqa: E402

from .helpers import PAD, random_prompts, tiny_policy, tiny_value  # noqa: E402
from .test_trainer import EOS, target_share  # noqa: E402


def linear_weights(model) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {n: p.detach().float().clone() for n, p in model.named_parameters() if n.endswith("proj.weight")}


def changed_share(before: dict[str, torch.Tensor], model) -> float:  # noqa: ANN001
    after = linear_weights(model)
    changed = sum(int((after[n] != before[n]).sum()) for n in before)
    return changed / sum(t.numel() for t in before.values())


def test_bf16_weights_are_trained_as_float32_master_weights_under_bf16_autocast() -> None:
    """The bug this guards against: AdamW stepping bf16 weights at lr 3e-6 rounds most updates to zero."""
    policy = tiny_policy(seed=0).to(torch.bfloat16)
    value = tiny_value().to(torch.bfloat16)
    reference = tiny_policy(seed=0).to(torch.bfloat16).requires_grad_(False)
    before = linear_weights(policy)
    cfg = PPOConfig(updates=3, batch_size=8, mini_batch_size=4, micro_batch_size=4, ppo_epochs=2,
                    learning_rate=3e-6, response_length=6, precision="bf16")
    trainer = PPOTrainer(cfg, policy, value, target_share, random_prompts(16), eos_id=EOS, pad_id=PAD,
                         reference=reference)
    assert all(p.dtype == torch.float32 for p in policy.parameters() if p.requires_grad)
    assert all(p.dtype == torch.float32 for p in value.parameters() if p.requires_grad)
    assert trainer.compute_dtype == torch.bfloat16
    for _ in range(cfg.updates):
        metrics = trainer.step()
    assert all(p.dtype == torch.float32 for p in policy.parameters())
    share = changed_share(before, policy)
    assert share > 0.95, f"only {share:.1%} of the policy's weights moved"
    assert torch.isfinite(torch.tensor(metrics["loss/policy"]))


def test_full_fine_tuning_loads_float32_and_keeps_a_frozen_reference_equal_to_the_start(
        tiny_llama_dir: Path, tmp_path: Path) -> None:
    from flowstudio.nodes.hf.loading import load_tokenizer

    built = setup.build_policy(tiny_llama_dir, None, "cpu", dtype="bfloat16")
    assert built.mode == "full" and built.reference is not None and built.reference is not built.policy
    assert {p.dtype for p in built.policy.parameters()} == {torch.float32}
    assert {p.dtype for p in built.reference.parameters()} == {torch.float32}
    policy_ptrs = {p.data_ptr() for p in built.policy.parameters()}
    assert not policy_ptrs & {p.data_ptr() for p in built.reference.parameters()}, "no shared storage"
    start = {n: p.detach().clone() for n, p in built.policy.named_parameters()}
    for name, p in built.reference.named_parameters():
        assert torch.equal(p, start[name]), name

    tok = load_tokenizer(tiny_llama_dir)
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in ("Hello", "What is it?", "Tell me", "Why")]
    cfg = PPOConfig(updates=2, batch_size=4, mini_batch_size=4, micro_batch_size=2, ppo_epochs=2,
                    learning_rate=1e-3, response_length=6)
    trainer = PPOTrainer(cfg, built.policy, tiny_value(vocab=tok.vocab_size, pad_token_id=setup.pad_id_for(tok)),
                         lambda *a: (a[2] % 7 == 0).float().mean(1), prompts, eos_id=tok.eos_token_id,
                         pad_id=setup.pad_id_for(tok), reference=built.reference)
    first = trainer.step()
    trainer.step()
    assert first["objective/kl"] == 0.0
    assert any(not torch.equal(p, start[n]) for n, p in built.policy.named_parameters()), "the policy trained"
    for name, p in built.reference.named_parameters():
        assert torch.equal(p, start[name]), f"the reference moved: {name}"
        assert not p.requires_grad
