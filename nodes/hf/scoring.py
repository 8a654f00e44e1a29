"""Scoring helpers shared by training and evaluation nodes: log-probs, NLL, reward-model scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def completion_logprob(model: Any, tokenizer: Any, prompt: str, completion: str, device: str,
                       max_length: int = 1024) -> float:
    """Sum of log p(completion tokens | prompt) under `model`."""
    import torch

    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    full_ids = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"][:max_length]
    start = max(1, min(len(prompt_ids), len(full_ids) - 1))
    ids = torch.tensor([full_ids], device=device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:].unsqueeze(1)).squeeze(1)
    return float(logps[start - 1:].sum())


def mean_nll(model: Any, tokenizer: Any, texts: Sequence[str], device: str, max_length: int, batch_size: int = 8,
             progress: Any = None, prefixes: Sequence[str] | None = None) -> tuple[float, int]:
    """(mean negative log-likelihood per predicted token, number of tokens) over `texts`.

    With `prefixes`, only the tokens after each text's prefix count (the answer, not the prompt).
    """
    import torch

    total, count = 0.0, 0
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        for i in range(0, len(texts), batch_size):
            batch = list(texts[i:i + batch_size])
            enc = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                            add_special_tokens=True).to(device)
            with torch.no_grad():
                logits = model(input_ids=enc["input_ids"],
                               attention_mask=enc["attention_mask"]).logits[:, :-1].float()
            labels = enc["input_ids"][:, 1:]
            mask = enc["attention_mask"][:, 1:].bool()
            if prefixes is not None:
                for row, prefix in enumerate(prefixes[i:i + batch_size]):
                    n = len(tokenizer(prefix, add_special_tokens=True)["input_ids"]) if prefix else 1
                    mask[row, :max(0, n - 1)] = False
            total, count = _add_nll(logits, labels, mask, total, count)
            if progress is not None:
                progress(min(i + batch_size, len(texts)), len(texts))
    finally:
        tokenizer.padding_side = side
    return (total / count if count else float("nan")), count


def _add_nll(logits: Any, labels: Any, mask: Any, total: float, count: int) -> tuple[float, int]:
    import torch

    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
    return total + float(nll[mask].sum()), count + int(mask.sum())


def reward_scores(model: Any, tokenizer: Any, texts: Sequence[str], device: str, max_length: int = 1024,
                  batch_size: int = 8) -> list[float]:
    """The scalar score of a sequence-classification (reward) model for each text."""
    import torch

    scores: list[float] = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[i:i + batch_size]), return_tensors="pt", padding=True, truncation=True,
                        max_length=max_length, add_special_tokens=False).to(device)
        with torch.no_grad():
            logits = model(**enc).logits
        scores.extend(float(x) for x in logits[:, 0].float().cpu())
    return scores


def as_prompt(tokenizer: Any, prompt: Any) -> str:
    """A prompt (text, or chat messages) as the text the model continues."""
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
    return str(prompt)


def generate_texts(model: Any, tokenizer: Any, prompts: Sequence[Any], device: str, max_new_tokens: int,
                   batch_size: int = 8, temperature: float = 0.0, seed: int | None = None,
                   progress: Any = None, stream: Any = None) -> list[str]:
    """Continuations of `prompts` (texts or message lists); greedy when temperature is 0."""
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outputs: list[str] = []
    try:
        for i in range(0, len(prompts), batch_size):
            texts = [as_prompt(tokenizer, p) for p in prompts[i:i + batch_size]]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                                      "eos_token_id": tokenizer.eos_token_id}
            if temperature > 0:
                kwargs.update(do_sample=True, temperature=temperature, top_p=1.0, top_k=0)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            with torch.no_grad():
                out = model.generate(**enc, **kwargs)
            for row in out[:, enc["input_ids"].shape[1]:]:
                text = tokenizer.decode(row, skip_special_tokens=True).strip()
                outputs.append(text)
                if stream is not None:
                    stream(text + "\n")
            if progress is not None:
                progress(len(outputs), len(prompts))
    finally:
        tokenizer.padding_side = side
    return outputs
