"""PPO math against its definitions: GAE, masking, whitening, KL estimators, rewards, losses."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from flowstudio.nodes.rl.ppo import core, rollout  # noqa: E402


def prefix_mask(lengths: list[int], T: int) -> torch.Tensor:
    return torch.tensor([[1.0 if t < n else 0.0 for t in range(T)] for n in lengths])


def naive_gae(rewards: torch.Tensor, values: torch.Tensor, lengths: list[int], gamma: float,
              lam: float) -> torch.Tensor:
    """A_t = Σ_{l≥0} (γλ)^l δ_{t+l}, δ_t = r_t + γ V_{t+1} − V_t, V = 0 after the last valid token. O(T²)."""
    out = torch.zeros_like(rewards)
    for b, n in enumerate(lengths):
        def v(t: int, b: int = b, n: int = n) -> float:
            return float(values[b, t]) if t < n else 0.0
        for t in range(n):
            total = 0.0
            for k in range(t, n):
                delta = float(rewards[b, k]) + gamma * v(k + 1) - v(k)
                total += (gamma * lam) ** (k - t) * delta
            out[b, t] = total
    return out


@pytest.mark.parametrize(("gamma", "lam"), [(1.0, 0.95), (0.99, 0.9), (1.0, 1.0), (0.9, 0.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_equals_the_naive_definition(gamma: float, lam: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    T = 9
    lengths = [9, 5, 1, 7]
    mask = prefix_mask(lengths, T)
    rewards = torch.randn(4, T, generator=g, dtype=torch.float64) * mask
    values = torch.randn(4, T, generator=g, dtype=torch.float64) * mask
    adv, ret = core.gae(rewards, values, mask.double(), gamma, lam)
    expected = naive_gae(rewards, values, lengths, gamma, lam)
    torch.testing.assert_close(adv, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ret, (expected + values) * mask, rtol=1e-12, atol=1e-12)


def test_values_and_rewards_in_padded_positions_leave_valid_advantages_unchanged() -> None:
    g = torch.Generator().manual_seed(3)
    T, lengths = 8, [8, 3, 5, 0]
    mask = prefix_mask(lengths, T)
    rewards = torch.randn(4, T, generator=g) * mask
    values = torch.randn(4, T, generator=g) * mask
    clean_adv, clean_ret = core.gae(rewards, values, mask)
    garbage = torch.randn(4, T, generator=g) * 1e3
    dirty_adv, dirty_ret = core.gae(rewards + garbage * (1 - mask), values + garbage * (1 - mask), mask)
    assert torch.equal(clean_adv, dirty_adv)
    assert torch.equal(clean_ret, dirty_ret)
    assert torch.all(dirty_adv[mask == 0] == 0)
    # and whitening of the advantages ignores padded positions too
    w_clean = core.masked_whiten(clean_adv, mask)
    w_dirty = core.masked_whiten(clean_adv + garbage * (1 - mask), mask)
    torch.testing.assert_close(w_clean, w_dirty)


def test_masked_whiten_has_zero_mean_unit_variance_on_valid_positions() -> None:
    g = torch.Generator().manual_seed(4)
    mask = prefix_mask([6, 2, 4], 6)
    x = torch.randn(3, 6, generator=g) * 5 + 3
    w = core.masked_whiten(x, mask)
    assert abs(core.masked_mean(w, mask).item()) < 1e-6
    assert abs(core.masked_var(w, mask).item() - 1) < 1e-4
    kept = core.masked_whiten(x, mask, shift_mean=False)
    assert abs(core.masked_mean(kept, mask).item() - core.masked_mean(x, mask).item()) < 1e-5


def test_kl_estimators_are_unbiased_and_k3_is_non_negative() -> None:
    g = torch.Generator().manual_seed(5)
    p = torch.softmax(torch.randn(50, generator=g, dtype=torch.float64), 0)
    q = torch.softmax(torch.randn(50, generator=g, dtype=torch.float64), 0)
    exact = float((p * (p.log() - q.log())).sum())
    for estimator in ("k1", "k3"):
        per_token = core.kl_per_token(p.log(), q.log(), estimator)
        assert float((p * per_token).sum()) == pytest.approx(exact, rel=1e-10)  # E_p[k] = KL(p‖q)
    assert torch.all(core.kl_per_token(p.log(), q.log(), "k3") >= 0)
    assert torch.all(core.kl_per_token(p.log(), p.log(), "k1") == 0)
    with pytest.raises(ValueError, match="k2"):
        core.kl_per_token(p.log(), q.log(), "k2")


def test_adaptive_kl_controller_moves_beta_towards_the_target_with_clipping() -> None:
    ctl = core.AdaptiveKLController(0.1, target=6.0, horizon=100)
    ctl.update(60.0, n_steps=10)  # way above target: error clipped at +0.2
    assert ctl.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    before = ctl.value
    ctl.update(3.0, n_steps=10)  # half the target: error −0.5 clipped at −0.2
    assert ctl.value == pytest.approx(before * (1 - 0.2 * 10 / 100))
    fixed = core.FixedKLController(0.05)
    fixed.update(100.0, 10)
    assert fixed.value == 0.05


def test_token_rewards_put_the_score_on_the_last_valid_token() -> None:
    mask = prefix_mask([4, 2, 0], 4)
    kl = torch.full((3, 4), 0.5) * mask
    rewards, non_score = core.token_rewards(kl, torch.tensor([1.0, 2.0, 3.0]), mask, beta=0.1)
    expected = torch.tensor([[-0.05, -0.05, -0.05, 0.95],
                             [-0.05, 1.95, 0.0, 0.0],
                             [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(rewards, expected)
    torch.testing.assert_close(non_score, -0.05 * mask)


def test_ppo_losses_at_ratio_one_and_under_clipping() -> None:
    mask = torch.ones(2, 3)
    lp = torch.log(torch.full((2, 3), 0.3))
    adv = torch.tensor([[1.0, -1.0, 2.0], [0.5, 0.5, -2.0]])
    values = torch.zeros(2, 3)
    ret = torch.ones(2, 3)
    pl, vl, s = core.ppo_losses(lp, lp, adv, values, values, ret, mask)
    assert pl.item() == pytest.approx(-adv.mean().item())
    assert vl.item() == pytest.approx(0.5)
    assert s["clipfrac"].item() == 0 and s["approxkl"].item() == 0 and s["ratio"].item() == 1
    # ratio 2 on positive advantages is clipped at 1.2; on negative ones the unclipped (worse) term wins
    pl2, _, s2 = core.ppo_losses(lp + math.log(2.0), lp, adv, values, values, ret, mask)
    expected = torch.where(adv > 0, -adv * 1.2, -adv * 2.0).mean()
    assert pl2.item() == pytest.approx(expected.item())
    assert s2["clipfrac"].item() == pytest.approx(4 / 6)
    # value clipping: new values moved far from the old ones get the clipped (larger) error
    _, vl3, s3 = core.ppo_losses(lp, lp, adv, values + 5.0, values, ret, mask, cliprange_value=0.2)
    assert vl3.item() == pytest.approx(0.5 * 16.0)
    assert s3["value_clipfrac"].item() == 0.0  # unclipped error (16) is the larger one here
    _, vl4, s4 = core.ppo_losses(lp, lp, adv, values + 1.5, values, ret * 1.6, mask, cliprange_value=0.2)
    assert vl4.item() == pytest.approx(0.5 * (1.6 - 0.2) ** 2)
    assert s4["value_clipfrac"].item() == 1.0


def test_linear_lr_anneals_to_zero() -> None:
    assert core.linear_lr(1e-3, 0, 10) == 1e-3
    assert core.linear_lr(1e-3, 5, 10) == pytest.approx(5e-4)
    assert core.linear_lr(1e-3, 10, 10) == 0.0


def test_truncate_after_first_eos_keeps_the_eos_and_masks_the_rest() -> None:
    eos, pad = 3, 0
    responses = torch.tensor([[5, 3, 7, 3], [3, 5, 5, 5], [5, 6, 7, 8], [0, 0, 3, 0]])
    out, mask = rollout.truncate_after_eos(responses, eos, pad)
    assert mask.tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]]
    assert out.tolist() == [[5, 3, 0, 0], [3, 0, 0, 0], [5, 6, 7, 8], [0, 0, 3, 0]]
    assert rollout.contains_eos(out, mask, eos).tolist() == [True, True, False, True]


def test_left_pad_and_position_ids_count_real_tokens_only() -> None:
    ids, mask = rollout.left_pad([[4, 5, 6], [7]], pad_id=9)
    assert ids.tolist() == [[4, 5, 6], [9, 9, 7]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert rollout.position_ids(mask).tolist() == [[0, 1, 2], [0, 0, 0]]
    full = torch.cat([mask, torch.tensor([[1, 1], [1, 0]])], 1)
    assert rollout.position_ids(full).tolist() == [[0, 1, 2, 3, 4], [0, 0, 0, 1, 1]]
