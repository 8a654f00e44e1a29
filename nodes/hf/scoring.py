"""Scoring helpers shared by training, RL and evaluation nodes: log-probs, NLL, reward-model scores.

One rule decides where a reward model's score of a text is read, for every node that reads one
(`train.reward`'s accuracy, `eval.reward_score`, PPO's rewards; TRL's reward training and GRPO call the
model's own forward, which applies the same rule): **the last token of the text that is not the pad
token** (`scored_positions`). That is the rule of transformers' `*ForSequenceClassification`, which
TRL's `RewardTrainer` trains with, so a score is always read where the model learned to put it. When
pad == EOS (SmolLM2, and every tokenizer FlowStudio gives EOS as pad), a text's trailing EOS tokens are
therefore skipped and the score sits on the last content token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only (0 at the first real token), as `generate` does."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def scored_positions(ids: torch.Tensor, mask: torch.Tensor, pad_id: int | None) -> torch.Tensor:
    """Per row, the index of the token whose output is the sequence's score: the last position that is
    inside the attention mask and does not hold `pad_id` (the last position in the mask when every token
    is pad, or when there is no pad id). Works for left and right padding alike."""
    import torch

    valid = mask.bool()
    if pad_id is not None:
        content = valid & (ids != pad_id)
        valid = torch.where(content.any(1, keepdim=True), content, valid)
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return (positions * valid.long()).argmax(1)


class ScalarHead:
    """Per-token scalars from a sequence-classification model (backbone + its linear head).

    Used for the value model (a value for every position) and for reward models (the score at
    `scored_positions`). Going through the backbone ourselves, with explicit masks and position ids,
    keeps left-padded batches right (transformers' own forward gives no position ids).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.backbone = getattr(model, model.base_model_prefix)
        head = None
        for name in ("score", "classifier", "v_head"):
            head = getattr(model, name, None)
            if head is not None:
                break
        if head is None:
            raise ValueError(f"{type(model).__name__} has no 'score' or 'classifier' head")
        self.head = head
        self.pad_id: int | None = getattr(model.config, "pad_token_id", None)

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ids = ids.masked_fill(mask == 0, self.pad_id if self.pad_id is not None else 0)
        hidden = self.backbone(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask),
                               use_cache=False).last_hidden_state
        return self.head(hidden).squeeze(-1).float()

    def response_values(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, responses: torch.Tensor,
                        response_mask: torch.Tensor) -> torch.Tensor:
        """V(s_t) for each response token t: the value of the state before the token was sampled."""
        import torch

        ids = torch.cat([prompt_ids, responses], dim=1)
        mask = torch.cat([prompt_mask, response_mask], dim=1)
        values = self(ids, mask)
        P = prompt_ids.shape[1]
        return values[:, P - 1 : -1]

    def sequence_scores(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Each row's score, read at `scored_positions`."""
        values = self(ids, mask)
        last = scored_positions(ids, mask, self.pad_id)
        return values.gather(1, last.unsqueeze(1)).squeeze(1)


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
                  batch_size: int = 8, progress: Any = None) -> list[float]:
    """The score of a sequence-classification (reward) model for each text, read at `scored_positions`;
    `progress(done, total)` after each batch."""
    import torch

    head = ScalarHead(model)
    scores: list[float] = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[i:i + batch_size]), return_tensors="pt", padding=True, truncation=True,
                        max_length=max_length, add_special_tokens=False).to(device)
        with torch.no_grad():
            batch = head.sequence_scores(enc["input_ids"], enc["attention_mask"])
        scores.extend(float(x) for x in batch.cpu())
        if progress is not None:
            progress(len(scores), len(texts))
    return scores


def as_prompt(tokenizer: Any, prompt: Any) -> str:
    """A prompt (text, or chat messages) as the text the model continues."""
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
    return str(prompt)


def generate_texts(model: Any, tokenizer: Any, prompts: Sequence[Any], device: str, max_new_tokens: int,
                   batch_size: int = 8, temperature: float = 0.0, seed: int | None = None,
                   progress: Any = None, stream: Any = None, strip: bool = True) -> list[str]:
    """Continuations of `prompts` (texts or message lists); greedy when temperature is 0. `strip=False`
    keeps the text exactly as generated (what a reward model should score)."""
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
                text = tokenizer.decode(row, skip_special_tokens=True)
                text = text.strip() if strip else text
                outputs.append(text)
                if stream is not None:
                    stream(text + "\n")
            if progress is not None:
                progress(len(outputs), len(prompts))
    finally:
        tokenizer.padding_side = side
    return outputs
