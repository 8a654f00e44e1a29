"""PPO samples from exactly the distribution its log-probs describe, whatever the model's generation_config says."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from flowstudio.nodes.rl.ppo import rollout  # noqa: E402

from .helpers import PAD, VOCAB, random_prompts, tiny_policy  # noqa: E402

EOS = 3
SUPPRESSED = 5


def policy_with_generation_defaults():
    """A model whose generation_config would reshape the distribution if `generate` applied it."""
    policy = tiny_policy(seed=11)
    gc = policy.generation_config
    gc.repetition_penalty = 4.0
    gc.no_repeat_ngram_size = 1
    gc.suppress_tokens = [SUPPRESSED]
    gc.begin_suppress_tokens = [EOS]
    gc.bad_words_ids = [[6]]
    gc.top_k = 2
    gc.top_p = 0.3
    gc.min_new_tokens = 5
    gc.do_sample = False
    return policy


def test_sampling_ignores_the_models_generation_config_and_matches_forward_logprobs() -> None:
    policy = policy_with_generation_defaults()
    ids, mask = rollout.left_pad(random_prompts(16, seed=3, max_len=6), PAD)
    torch.manual_seed(0)
    raw, scores = rollout.sample(policy, ids, mask, 10, 0.9, EOS, PAD, return_scores=True)
    responses, rmask = rollout.truncate_after_eos(raw, EOS, PAD)
    assert scores is not None and torch.isfinite(scores).all(), "no token was masked out by a logits processor"
    sampled = scores.log_softmax(-1).gather(-1, raw.unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        forward, _ = rollout.logprobs_and_entropy(policy, ids, mask, responses, rmask, 0.9)
    valid = rmask == 1
    torch.testing.assert_close(forward[valid], sampled[valid], rtol=0, atol=2e-5)
    tokens = set(responses[valid].tolist())
    assert SUPPRESSED in tokens and 6 in tokens, "suppress_tokens / bad_words_ids were not applied"
    repeats = sum(int(row[m == 1].unique().numel() < int(m.sum())) for row, m in zip(responses, rmask, strict=True))
    assert repeats > 0, "no_repeat_ngram_size was not applied: some response repeats a token"


def test_the_first_token_follows_the_tempered_softmax() -> None:
    """Empirical check of the distribution itself: 4,000 draws of the first token of one prompt."""
    policy = policy_with_generation_defaults()
    prompt = [[7, 8, 9]]
    ids, mask = rollout.left_pad(prompt * 4000, PAD)
    torch.manual_seed(1)
    raw, _ = rollout.sample(policy, ids, mask, 1, 0.5, None, PAD)
    counts = torch.bincount(raw[:, 0], minlength=VOCAB).float()
    with torch.no_grad():
        logits = policy(input_ids=ids[:1], attention_mask=mask[:1]).logits[0, -1].float()
    expected = (logits / 0.5).softmax(-1) * 4000
    # Pearson chi-square over tokens expected at least 5 times; 99.9 % quantile for ~30 dof is ~60
    keep = expected >= 5
    chi2 = float((((counts - expected) ** 2) / expected)[keep].sum())
    assert chi2 < 70, chi2
    assert counts[~keep].sum() <= max(20.0, float(expected[~keep].sum()) * 3 + 10)


class CountdownModel(torch.nn.Module):
    """A causal LM stand-in: row r emits EOS at its (r + 1)-th step, token 1 before (logits of ±50)."""

    def forward(self, input_ids, attention_mask, position_ids, past_key_values, use_cache):  # noqa: ANN001
        from types import SimpleNamespace

        step = 0 if past_key_values is None else past_key_values + 1  # the "cache" counts steps
        batch = input_ids.shape[0]
        logits = torch.full((batch, input_ids.shape[1], VOCAB), -50.0)
        for row in range(batch):
            logits[row, -1, EOS if step >= row else 1] = 50.0
        return SimpleNamespace(logits=logits, past_key_values=step)


def test_a_finished_row_is_padded_and_the_loop_stops_when_all_are_done() -> None:
    ids, mask = rollout.left_pad(random_prompts(3, seed=0), PAD)
    raw, scores = rollout.sample(CountdownModel(), ids, mask, 8, 1.0, EOS, PAD, return_scores=True)
    assert raw.shape == (3, 8)
    assert scores is not None and scores.shape[1] == 3, "stopped once every row had its EOS"
    assert raw.tolist() == [[EOS] + [PAD] * 7, [1, EOS] + [PAD] * 6, [1, 1, EOS] + [PAD] * 5]
