"""The PPO loop on tiny random Llamas: exactness checks, a toy reward with a known optimum, stop and resume."""

from __future__ import annotations

import copy
import math
import threading
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from flowstudio.nodes.rl.ppo import rollout  # noqa: E402
from flowstudio.nodes.rl.ppo.trainer import PPOConfig, PPOTrainer  # noqa: E402

from flowstudio.core.errors import RunCancelled  # noqa: E402
from flowstudio.engine.context import LocalContext  # noqa: E402

from .helpers import PAD, VOCAB, frozen_copy, params_snapshot, random_prompts, tiny_policy, tiny_value  # noqa: E402

EOS = 3
TARGET = 5


def target_share(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, responses: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
    """The toy reward: the share of valid response tokens that are TARGET."""
    return ((responses == TARGET) & (mask == 1)).float().sum(1) / mask.sum(1).clamp(min=1)


def test_generate_scores_equal_forward_pass_logprobs_with_left_padding_and_temperature() -> None:
    policy = tiny_policy(seed=7)
    prompts = random_prompts(6, seed=1, max_len=7)
    ids, mask = rollout.left_pad(prompts, PAD)
    torch.manual_seed(0)
    raw, scores = rollout.sample(policy, ids, mask, 12, 0.7, EOS, PAD, return_scores=True)
    responses, rmask = rollout.truncate_after_eos(raw, EOS, PAD)
    assert scores is not None and scores.shape[:2] == (6, raw.shape[1])
    from_generate = scores.log_softmax(-1).gather(-1, raw.unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        forward, _ = rollout.logprobs_and_entropy(policy, ids, mask, responses, rmask, 0.7)
    valid = rmask == 1
    torch.testing.assert_close(forward[valid], from_generate[valid], rtol=0, atol=2e-5)
    # and the temperature matters: without it the log-probs differ
    with torch.no_grad():
        untempered, _ = rollout.logprobs_and_entropy(policy, ids, mask, responses, rmask, 1.0)
    assert (untempered[valid] - from_generate[valid]).abs().max() > 1e-2


def test_with_zero_lr_nothing_moves_and_the_first_rollout_has_zero_kl() -> None:
    policy = tiny_policy(seed=0)
    value = tiny_value()
    reference = frozen_copy(policy)
    before_policy, before_value = params_snapshot(policy), params_snapshot(value)
    cfg = PPOConfig(updates=2, batch_size=16, mini_batch_size=8, micro_batch_size=4, ppo_epochs=2,
                    learning_rate=0.0, response_length=8)
    trainer = PPOTrainer(cfg, policy, value, target_share, random_prompts(20), eos_id=EOS, pad_id=PAD,
                         reference=reference)
    for _ in range(2):
        m = trainer.step()
        assert m["objective/kl"] == 0.0
        assert m["val/ratio"] == pytest.approx(1.0, abs=1e-6)
        assert m["policy/clipfrac"] == 0.0
        assert m["policy/approxkl"] == pytest.approx(0.0, abs=1e-12)
        assert m["lr"] == 0.0
    for name, p in policy.named_parameters():
        assert torch.equal(p, before_policy[name]), name
    for name, p in value.named_parameters():
        assert torch.equal(p, before_value[name]), name


def test_first_rollout_has_zero_kl_and_training_moves_the_policy_away() -> None:
    policy = tiny_policy(seed=0)
    cfg = PPOConfig(updates=3, batch_size=8, mini_batch_size=8, micro_batch_size=8, ppo_epochs=2,
                    learning_rate=1e-2, response_length=6)
    trainer = PPOTrainer(cfg, policy, tiny_value(), target_share, random_prompts(16), eos_id=EOS, pad_id=PAD,
                         reference=frozen_copy(policy))
    history = [trainer.step() for _ in range(3)]
    assert history[0]["objective/kl"] == 0.0
    assert history[-1]["objective/kl"] != 0.0
    assert history[0]["policy/approxkl"] > 0  # later minibatches see a changed policy
    expected = {"objective/kl", "objective/entropy", "objective/scores", "objective/rlhf_reward",
                "policy/approxkl", "policy/clipfrac", "loss/policy", "loss/value", "val/clipfrac", "val/ratio", "lr"}
    assert expected <= set(history[0])
    assert [round(h["lr"], 6) for h in history] == [0.01, round(0.01 * 2 / 3, 6), round(0.01 / 3, 6)]


def test_toy_reward_rises_and_reaches_the_kl_regularised_optimum() -> None:
    """Reward = share of TARGET among T=4 response tokens (no EOS, fixed length), β = 0.04.

    The reference's final RMSNorm weight is zeroed, so its logits are identically 0: at every position,
    whatever the context, it is the uniform distribution over V = 32 tokens (temperature does not change a
    uniform distribution). The tokens are then i.i.d. under the reference, the reward is a sum of per-token
    terms 1[y_t = a]/T, and the expectation factorises:
        E_ref[exp(r/β)] = (1 − p + p·e^{1/(Tβ)})^T,  p = 1/V,
    so the KL-regularised optimum max_π E_π[r] − β·KL(π‖π_ref) = β·log E_ref[exp(r/β)] is exact
    (≈ 0.4548, reached by π*(a) = p·e^{1/(Tβ)} / (1 − p + p·e^{1/(Tβ)}) ≈ 0.944 at every position).
    The policy starts as a copy of the reference (reward ≈ 1/32). After training we estimate E[r] and the
    sequence KL on 2048 fresh samples with low-variance (Rao–Blackwellised) estimators: the per-position
    probability of TARGET and the exact per-position KL given the sampled prefix.
    """
    V, T, beta = VOCAB, 4, 0.04
    policy, history, temperature = _train_toy(beta)
    scores = [h["objective/scores"] for h in history]
    assert scores[0] < 0.1
    assert max(scores[-5:]) > 0.8 and sum(scores[-5:]) / 5 > 0.8

    p, x = 1 / V, 1 / (T * beta)
    optimum = beta * T * math.log(1 - p + p * math.exp(x))
    logp = _fresh_logits(policy, T, temperature).log_softmax(-1)
    reward = logp[..., TARGET].exp().mean(1)  # E[share | prefixes]
    kl = (logp.exp() * (logp - math.log(1 / V))).sum(-1).sum(1)  # Σ_t KL(π(·|prefix_t) ‖ uniform)
    achieved = (reward - beta * kl).mean().item()
    assert achieved <= optimum + 0.01  # the optimum is an upper bound (up to sampling noise)
    assert abs(achieved - optimum) / optimum < 0.05, (achieved, optimum)
    # The objective is flat near the optimum ("always TARGET" is only 2 % below it), so check π itself:
    # without the KL penalty (or with the wrong β) the probability of TARGET heads for 1.
    target = logp[..., TARGET].exp().mean().item()
    assert abs(target - _optimal_target_probability(beta, T, V)) < 0.02, target


def _train_toy(beta: float, updates: int = 30, T: int = 4) -> tuple[Any, list[dict[str, float]], float]:
    """PPO on the toy problem: a uniform reference, reward = share of TARGET; returns (policy, history, temperature)."""
    reference = tiny_policy(seed=0)
    with torch.no_grad():
        reference.model.norm.weight.zero_()
    reference.requires_grad_(False)
    policy = copy.deepcopy(reference).requires_grad_(True)
    cfg = PPOConfig(updates=updates, batch_size=64, mini_batch_size=16, micro_batch_size=16, ppo_epochs=4,
                    learning_rate=3e-3, response_length=T, temperature=0.7, kl_coef=beta,
                    missing_eos_penalty=0.0, seed=0)
    trainer = PPOTrainer(cfg, policy, tiny_value(), target_share, random_prompts(256), eos_id=None, pad_id=PAD,
                         reference=reference)
    history = [trainer.step() for _ in range(cfg.updates)]
    return policy, history, cfg.temperature


def _fresh_logits(policy: Any, T: int, temperature: float, n: int = 2048) -> torch.Tensor:
    """Tempered logits of the policy at each position of n fresh samples (Rao–Blackwellised estimates)."""
    torch.manual_seed(123)
    ids, mask = rollout.left_pad(random_prompts(n, seed=9), PAD)
    responses, _ = rollout.sample(policy, ids, mask, T, temperature, None, PAD)
    with torch.no_grad():
        return rollout.response_logits(policy, ids, mask, responses, torch.ones_like(responses), temperature)


def _optimal_target_probability(beta: float, T: int = 4, V: int = VOCAB) -> float:
    """π*(TARGET) at every position, π* ∝ π_ref · exp(r / β): each TARGET adds 1/T to the reward."""
    weight = math.exp(1 / (T * beta))
    return weight / (V - 1 + weight)


def test_with_a_stronger_kl_penalty_the_policy_stops_at_its_optimum_too() -> None:
    """β = 0.1: π*(TARGET) = 0.282, far from "always TARGET"; a missing or mis-scaled KL term fails here."""
    policy, _, temperature = _train_toy(0.1)
    target = _fresh_logits(policy, 4, temperature).softmax(-1)[..., TARGET].mean().item()
    assert abs(target - _optimal_target_probability(0.1)) < 0.02, target


def _cancel_after(updates: int, event: threading.Event):  # noqa: ANN202
    def sink(ev: dict) -> None:
        if ev["event"] == "progress" and ev["step"] >= updates:
            event.set()
    return sink


@pytest.mark.parametrize("adaptive", [False, True])
def test_cancel_saves_a_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path: Path, adaptive: bool) -> None:
    """With the adaptive KL controller too: its β must come back from the checkpoint, not restart."""
    cfg = PPOConfig(updates=4, batch_size=8, mini_batch_size=4, micro_batch_size=2, ppo_epochs=2,
                    learning_rate=5e-3, response_length=6, seed=3, adaptive_kl=adaptive, kl_target=0.01,
                    kl_horizon=16)
    prompts = random_prompts(12)

    def make(ckpt: Path, sink=lambda ev: None, cancel: threading.Event | None = None):  # noqa: ANN202
        policy = tiny_policy(seed=0)
        ctx = LocalContext(node_id="ppo", work_dir=tmp_path / "w", checkpoint_dir=ckpt, sink=sink,
                           cancel_event=cancel or threading.Event())
        trainer = PPOTrainer(cfg, policy, tiny_value(), target_share, prompts, eos_id=EOS, pad_id=PAD,
                             reference=frozen_copy(policy), reporter=ctx)
        return trainer, ctx

    straight, _ = make(tmp_path / "a")
    straight.train()

    stop = threading.Event()
    first, _ = make(tmp_path / "b", sink=_cancel_after(2, stop), cancel=stop)
    with pytest.raises(RunCancelled, match="update 2/4"):
        first.train()
    assert (tmp_path / "b" / "ppo_state.pt").exists()

    events: list[dict] = []
    resumed, _ = make(tmp_path / "b", sink=events.append)
    resumed.train()
    assert any("resumed from checkpoint at update 2" in e.get("line", "") for e in events)
    assert [e["step"] for e in events if e["event"] == "progress"] == [3, 4]
    for (name, a), b in zip(straight.policy.named_parameters(), resumed.policy.parameters(), strict=True):
        assert torch.equal(a, b), name
    for a, b in zip(straight.value_model.parameters(), resumed.value_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [h["objective/scores"] for h in straight.history] == [h["objective/scores"] for h in resumed.history]
    betas = [h["objective/kl_coef"] for h in straight.history]
    assert betas == [h["objective/kl_coef"] for h in resumed.history]
    assert resumed.kl_ctl.value == straight.kl_ctl.value
    assert (len(set(betas)) > 1) == adaptive  # the adaptive β really moved, so a reset would show


def test_k3_adaptive_kl_and_reward_whitening_run_and_behave(tmp_path: Path) -> None:
    policy = tiny_policy(seed=2)
    cfg = PPOConfig(updates=3, batch_size=8, mini_batch_size=8, micro_batch_size=4, ppo_epochs=2,
                    learning_rate=2e-2, response_length=6, kl_estimator="k3", adaptive_kl=True, kl_target=0.01,
                    kl_horizon=16, whiten_rewards=True)
    trainer = PPOTrainer(cfg, policy, tiny_value(), target_share, random_prompts(16), eos_id=EOS, pad_id=PAD,
                         reference=frozen_copy(policy))
    history = [trainer.step() for _ in range(3)]
    assert all(h["objective/kl"] >= 0 for h in history)  # k3 is never negative
    assert history[0]["objective/kl_coef"] == cfg.kl_coef
    # the KL after the first update is far above the tiny target, so β grows by the clipped 20 % × 8/16
    assert history[2]["objective/kl"] > cfg.kl_target
    assert history[2]["objective/kl_coef"] == pytest.approx(history[1]["objective/kl_coef"] * 1.1)


def test_periodic_checkpoints_and_checkpoints_from_other_settings_are_ignored(tmp_path: Path) -> None:
    events: list[dict] = []
    ctx = LocalContext(node_id="ppo", work_dir=tmp_path / "w", checkpoint_dir=tmp_path / "ck", sink=events.append)
    cfg = PPOConfig(updates=3, batch_size=4, mini_batch_size=4, micro_batch_size=4, ppo_epochs=1,
                    learning_rate=1e-3, response_length=4, save_every=2)
    policy = tiny_policy()
    trainer = PPOTrainer(cfg, policy, tiny_value(), target_share, random_prompts(8), eos_id=EOS, pad_id=PAD,
                         reference=frozen_copy(policy), reporter=ctx, fingerprint={"model": "a"})
    trainer.train()
    saved = torch.load(tmp_path / "ck" / "ppo_state.pt", weights_only=True)
    assert saved["update"] == 2  # saved after update 2, not after the last one
    other = PPOTrainer(cfg, tiny_policy(), tiny_value(), target_share, random_prompts(8), eos_id=EOS, pad_id=PAD,
                       reference=frozen_copy(policy), reporter=ctx, fingerprint={"model": "b"})
    assert not other.load_checkpoint(tmp_path / "ck")
    assert any("different settings" in e.get("line", "") for e in events)
    same = PPOTrainer(cfg, tiny_policy(), tiny_value(), target_share, random_prompts(8), eos_id=EOS, pad_id=PAD,
                      reference=frozen_copy(policy), reporter=ctx, fingerprint={"model": "a"})
    assert same.load_checkpoint(tmp_path / "ck") and same.update == 2


def test_a_stop_during_the_rollout_checkpoints_the_state_before_that_update(tmp_path: Path) -> None:
    """Stopping while update 2's rollout is being sampled loses nothing: the resumed run matches a straight one."""
    cfg = PPOConfig(updates=3, batch_size=8, mini_batch_size=4, micro_batch_size=4, ppo_epochs=1,
                    learning_rate=5e-3, response_length=4, seed=5)
    prompts = random_prompts(8)

    class StopInRollout(threading.Event):
        """is_set() turns true on the 2nd check of update 2 (its rollout's second chunk)."""

        calls = 0

        def is_set(self) -> bool:
            StopInRollout.calls += 1
            return StopInRollout.calls == 5  # 1 + 2 chunks for update 1, then 1 + 1 for update 2

    def make(ckpt: Path, cancel: threading.Event) -> PPOTrainer:
        policy = tiny_policy(seed=0)
        ctx = LocalContext(node_id="ppo", work_dir=tmp_path / "w", checkpoint_dir=ckpt, cancel_event=cancel)
        return PPOTrainer(cfg, policy, tiny_value(), target_share, prompts, eos_id=EOS, pad_id=PAD,
                          reference=frozen_copy(policy), reporter=ctx)

    straight = make(tmp_path / "a", threading.Event())
    straight.train()
    stopped = make(tmp_path / "b", StopInRollout())
    with pytest.raises(RunCancelled, match="update 1/3"):
        stopped.train()
    resumed = make(tmp_path / "b", threading.Event())
    resumed.train()
    for a, b in zip(straight.policy.parameters(), resumed.policy.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_broken_reward_or_a_diverging_loss_stops_with_a_clear_error() -> None:
    from flowstudio.core.errors import NodeRunError

    policy = tiny_policy()
    cfg = PPOConfig(updates=1, batch_size=4, mini_batch_size=4, micro_batch_size=4, ppo_epochs=1,
                    response_length=4)

    def nan_reward(p: torch.Tensor, pm: torch.Tensor, r: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return torch.full((r.shape[0],), float("nan"))

    trainer = PPOTrainer(cfg, policy, tiny_value(), nan_reward, random_prompts(4), eos_id=EOS, pad_id=PAD,
                         reference=frozen_copy(policy))
    with pytest.raises(NodeRunError) as err:
        trainer.step()
    assert err.value.field == "reward_model"

    value = tiny_value()
    with torch.no_grad():
        value.score.weight.fill_(float("inf"))
    trainer = PPOTrainer(cfg, policy, value, target_share, random_prompts(4), eos_id=EOS, pad_id=PAD,
                         reference=frozen_copy(policy))
    with pytest.raises(NodeRunError, match="PPO loss became") as err:
        trainer.step()
    assert err.value.field == "learning_rate"


def test_a_checkpoint_that_holds_code_is_refused_without_running_it(tmp_path: Path) -> None:
    """A run directory from someone else: its ppo_state.pt pickles a payload; resuming must not run it."""
    ckpt = tmp_path / "ck"
    cfg = PPOConfig(updates=2, batch_size=4, mini_batch_size=4, micro_batch_size=4, ppo_epochs=1,
                    learning_rate=1e-3, response_length=4)
    ctx = LocalContext(node_id="ppo", work_dir=tmp_path / "w", checkpoint_dir=ckpt)

    def make() -> PPOTrainer:
        policy = tiny_policy()
        return PPOTrainer(cfg, policy, tiny_value(), target_share, random_prompts(8), eos_id=EOS, pad_id=PAD,
                          reference=frozen_copy(policy), reporter=ctx)

    honest = make()
    honest.step()
    honest.save_checkpoint(ckpt)  # a genuine record, so the fingerprint check passes
    marker = tmp_path / "pwned"
    torch.save({"update": 1, "payload": Payload(str(marker))}, ckpt / "ppo_state.pt")
    from flowstudio.core.errors import NodeRunError

    with pytest.raises(NodeRunError, match="not a plain tensor file") as err:
        make().load_checkpoint(ckpt)
    assert err.value.field == "checkpoint"
    assert not marker.exists(), "the payload ran"


class Payload:
    """Unpickling this would create `path` (what a hostile checkpoint would do, harmlessly)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (Path(self.path),))
