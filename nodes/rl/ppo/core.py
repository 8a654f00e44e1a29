"""PPO math for RLHF, written for FlowStudio (TRL no longer ships a PPO trainer).

Pure tensor functions, no models: masked statistics, whitening, KL estimators, the adaptive KL
controller, per-token rewards, GAE and the clipped policy / value losses. The conventions follow
"The N+ Implementation Details of RLHF with PPO" (Huang et al. 2024) and TRL's last PPO trainer.

Shapes: (batch, T) for per-token tensors over the response; `mask` is 1 on valid response tokens
(up to and including the first EOS) and 0 on padding. Every function here treats padded positions
as absent: whatever values sit there never reach a valid position's result.

torch is imported inside each function so that importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean over the positions where mask is 1 (padded values may be anything, even NaN-free garbage)."""
    values = values * mask
    if dim is None:
        return values.sum() / mask.sum().clamp(min=1)
    return values.sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance over the masked positions (Bessel-corrected by default, as TRL did)."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        if n <= 1:
            return var
        var = var * n / (n - 1)
    return var


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalise to unit variance over the masked positions (and zero mean unless `shift_mean=False`).

    Padded positions come out as 0 so they cannot leak into later sums.
    """
    import torch

    mean = masked_mean(values, mask)
    var = masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


# ------------------------------------------------------------------------------------------------ KL


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(π ‖ π_ref) from log-probs of tokens sampled from π.

    k1 = log π − log π_ref (unbiased, can be negative per token; the default, as in InstructGPT);
    k3 = (r − 1) − log r with r = π_ref / π (unbiased and always ≥ 0, lower variance; Schulman 2020).
    """
    import torch

    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}; use 'k1' or 'k3'")


@dataclass
class FixedKLController:
    """A constant KL coefficient β."""

    value: float

    def update(self, current_kl: float, n_steps: int) -> None:
        return None

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])


@dataclass
class AdaptiveKLController:
    """Ziegler et al. 2019: β moves so the measured KL tracks `target`.

    β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·n_steps/horizon), with n_steps the samples in the batch.
    """

    value: float
    target: float
    horizon: int

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])


# ------------------------------------------------------------------------------------------- rewards


def token_rewards(
    kl: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards r_t = −β·kl_t, plus the sequence score at the last valid token.

    Returns (rewards, non_score_reward); both are 0 on padded positions.
    """
    import torch

    non_score = -beta * kl * mask
    rewards = non_score.clone()
    lengths = mask.sum(1).long()
    last = (lengths - 1).clamp(min=0)
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    has_tokens = (lengths > 0).to(rewards.dtype)
    rewards[rows, last] += scores.to(rewards.dtype) * has_tokens
    return rewards, non_score


# ----------------------------------------------------------------------------------------------- GAE


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over right-padded responses.

    Valid tokens form a prefix of each row (responses are truncated after their first EOS). Values and
    rewards on padded positions are zeroed first, so the episode ends at the last valid token with a
    terminal value of 0. Returns (advantages, returns), both 0 on padded positions.
    """
    import torch

    mask = mask.to(values.dtype)
    values = values * mask
    rewards = rewards * mask
    T = rewards.shape[1]
    last_gae = torch.zeros_like(rewards[:, 0])
    reversed_adv = []
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros_like(last_gae)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        # last_gae is already 0 past the end of the response, so the episode ends at its last token
        last_gae = (delta + gamma * lam * last_gae) * mask[:, t]
        reversed_adv.append(last_gae)
    advantages = torch.stack(reversed_adv[::-1], dim=1)
    returns = (advantages + values) * mask
    return advantages, returns


# ---------------------------------------------------------------------------------------------- loss


@dataclass
class LossStats:
    """What one minibatch's losses measured (floats, detached)."""

    policy_loss: float
    value_loss: float
    approxkl: float
    clipfrac: float
    value_clipfrac: float
    ratio: float
    entropy: float


def ppo_losses(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float = 0.2,
    cliprange_value: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped surrogate policy loss and the clipped value loss (both token-level masked means).

    approxkl is ½·E[(log π_new − log π_old)²] as in TRL; clipfrac the share of tokens whose ratio was clipped.
    """
    import torch

    log_ratio = (new_logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    pg_losses = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    policy_loss = masked_mean(torch.max(pg_losses, pg_losses2), mask)

    values_clipped = torch.clamp(new_values, old_values - cliprange_value, old_values + cliprange_value)
    vf_losses1 = (new_values - returns) ** 2
    vf_losses2 = (values_clipped - returns) ** 2
    value_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), mask)

    with torch.no_grad():
        stats = {
            "approxkl": 0.5 * masked_mean(log_ratio**2, mask),
            "clipfrac": masked_mean((pg_losses2 > pg_losses).float(), mask),
            "value_clipfrac": masked_mean((vf_losses2 > vf_losses1).float(), mask),
            "ratio": masked_mean(ratio, mask),
        }
    return policy_loss, value_loss, stats


def linear_lr(base_lr: float, update: int, total_updates: int) -> float:
    """Linear anneal from `base_lr` (update 0) towards 0 (after the last update)."""
    if total_updates <= 0:
        return base_lr
    return base_lr * max(0.0, 1.0 - update / total_updates)
