"""PPO rollouts: left-padded prompts, sampling, EOS truncation and temperature-scaled log-probs.

Conventions (Huang et al. 2024, "The N+ Implementation Details of RLHF with PPO"):
- prompts are left-padded; responses have a fixed maximum length and are right-padded after their first EOS;
- validity comes from explicit masks, never from comparing ids with the pad id, so a pad id that is also a
  real token (or EOS) cannot corrupt anything;
- every forward pass gets position ids computed from the attention mask (`generate` computes its own);
- every log-prob pass divides the logits by the sampling temperature, the reference's included, so the
  log-probs are those of the distribution the tokens were actually sampled from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def left_pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack token lists into (ids, attention_mask), padding on the left."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq):] = 1
    return ids, mask


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only (0 at the first real token), as `generate` does."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def truncate_after_eos(responses: torch.Tensor, eos_id: int | None, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep each response up to and including its first EOS; the rest becomes pad with mask 0."""
    import torch

    if eos_id is None:
        return responses, torch.ones_like(responses)
    is_eos = responses == eos_id
    # number of EOS strictly before each position: a token is kept while none came before it
    eos_before = is_eos.long().cumsum(1) - is_eos.long()
    mask = (eos_before == 0).long()
    return responses.masked_fill(mask == 0, pad_id), mask


def contains_eos(responses: torch.Tensor, mask: torch.Tensor, eos_id: int | None) -> torch.Tensor:
    import torch

    if eos_id is None:
        return torch.ones(responses.shape[0], dtype=torch.bool, device=responses.device)
    return ((responses == eos_id) & (mask == 1)).any(1)


def sample(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    eos_id: int | None,
    pad_id: int,
    return_scores: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample responses of at most `max_new_tokens` (top_k=0, top_p=1: the plain tempered distribution).

    Returns the response ids right-padded to exactly `max_new_tokens` (not yet truncated at EOS) and,
    when asked, the per-step processed scores from `generate` (B, T, V).
    """
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(
        do_sample=True,
        temperature=temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=max_new_tokens,
        min_new_tokens=0,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        bos_token_id=None,
        use_cache=True,
        return_dict_in_generate=True,
        output_scores=return_scores,
    )
    with torch.no_grad():
        out = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, generation_config=config)
    responses = out.sequences[:, prompt_ids.shape[1]:]
    if responses.shape[1] < max_new_tokens:
        fill = torch.full((responses.shape[0], max_new_tokens - responses.shape[1]), pad_id, dtype=responses.dtype,
                          device=responses.device)
        responses = torch.cat([responses, fill], dim=1)
    scores = torch.stack(out.scores, dim=1) if return_scores else None
    return responses, scores


def response_logits(
    model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, responses: torch.Tensor,
    response_mask: torch.Tensor, temperature: float,
) -> torch.Tensor:
    """Temperature-scaled logits that predicted each response token: (B, T, V)."""
    import torch

    ids = torch.cat([prompt_ids, responses], dim=1)
    mask = torch.cat([prompt_mask, response_mask], dim=1)
    out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False)
    P = prompt_ids.shape[1]
    logits = out.logits[:, P - 1 : -1, :].float()
    return logits / temperature


def gather_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return logits.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = logits.log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def logprobs_and_entropy(
    model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, responses: torch.Tensor,
    response_mask: torch.Tensor, temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    logits = response_logits(model, prompt_ids, prompt_mask, responses, response_mask, temperature)
    return gather_logprobs(logits, responses), entropy(logits)


class ScalarHead:
    """Per-token scalars from a sequence-classification model (backbone + its linear head).

    Used for the value model (a value for every position) and for the reward model (the score at the
    last valid token). Going through the backbone ourselves, with explicit masks and position ids,
    avoids `*ForSequenceClassification`'s rule of finding the last token by looking for the pad id,
    which is wrong with left padding.
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
        self.pad_id = getattr(model.config, "pad_token_id", None) or 0

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ids = ids.masked_fill(mask == 0, self.pad_id)
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
        """The scalar at each row's last valid token."""
        import torch

        values = self(ids, mask)
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (positions * mask).argmax(1)
        return values.gather(1, last.unsqueeze(1)).squeeze(1)


def disable_dropout(model: Any) -> None:
    """Zero every dropout probability (nn.Dropout modules and attention dropout rates)."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
    config = getattr(model, "config", None)
    for name in ("attention_dropout", "hidden_dropout", "dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop"):
        if config is not None and isinstance(getattr(config, name, None), float):
            setattr(config, name, 0.0)
