"""Tiny models and prompts for the PPO tests (built in memory, random weights, no downloads)."""

from __future__ import annotations

import copy
import random
from typing import Any

VOCAB = 32
PAD = 0


def tiny_config(vocab: int = VOCAB, **overrides: Any) -> Any:
    from transformers import LlamaConfig

    kwargs: dict[str, Any] = dict(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=64, tie_word_embeddings=False, pad_token_id=PAD,
        bos_token_id=None, eos_token_id=None,
    )
    kwargs.update(overrides)
    return LlamaConfig(**kwargs)


def tiny_policy(seed: int = 0, **overrides: Any) -> Any:
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_config(**overrides))


def tiny_value(seed: int = 1, **overrides: Any) -> Any:
    import torch
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(seed)
    config = tiny_config(**overrides)
    config.num_labels = 1
    return LlamaForSequenceClassification(config)


def random_prompts(n: int, seed: int = 0, vocab: int = VOCAB, min_len: int = 1, max_len: int = 6) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(1, vocab) for _ in range(rng.randint(min_len, max_len))] for _ in range(n)]


def params_snapshot(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def frozen_copy(model: Any) -> Any:
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref
