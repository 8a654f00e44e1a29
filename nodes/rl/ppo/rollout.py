"""PPO rollouts: left-padded prompts, sampling, EOS truncation and temperature-scaled log-probs.

Conventions (Huang et al. 2024, "The N+ Implementation Details of RLHF with PPO"):
- prompts are left-padded; responses have a fixed maximum length and are right-padded after their first EOS;
- validity comes from explicit masks, never from comparing ids with the pad id, so a pad id that is also a
  real token (or EOS) cannot corrupt anything; the one exception is where a reward model's score is read,
  which follows the rule the reward model was trained with (`hf.scoring.scored_positions`);
- every forward pass gets position ids computed from the attention mask;
- sampling is our own loop on the KV cache from softmax(logits / temperature), never `generate`: nothing
  from the model's `generation_config` (repetition penalty, suppressed tokens, top-k, …) can change the
  distribution, so the tokens come from exactly the distribution the log-probs describe;
- every log-prob pass divides the logits by the sampling temperature, the reference's included, so the
  log-probs are those of the distribution the tokens were actually sampled from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowstudio.nodes.hf.scoring import ScalarHead, position_ids

if TYPE_CHECKING:
    import torch

__all__ = ["ScalarHead", "position_ids"]  # re-exported: the loop uses them from here


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
    """Sample responses of at most `max_new_tokens` from softmax(logits / temperature), nothing else.

    Returns the response ids right-padded to exactly `max_new_tokens` (not yet truncated at EOS; after a
    row's EOS it holds pad) and, when asked, the temperature-scaled logits each token was drawn from
    (B, T, V). One forward pass per token for the whole batch, on the model's KV cache.
    """
    import torch

    if temperature <= 0:
        raise ValueError("PPO samples with a temperature > 0")
    batch, width = prompt_ids.shape
    device = prompt_ids.device
    # the attention mask of every step is a prefix of one tensor: no per-token concatenation
    full_mask = torch.cat([prompt_mask.long(), prompt_mask.new_ones(batch, max_new_tokens, dtype=torch.long)], 1)
    positions = position_ids(prompt_mask)
    step_ids = prompt_ids
    past = None
    cache_arg, extra = _forward_kwargs(model)
    extra = {**extra, "logits_to_keep": 1} if _accepts_logits_to_keep(model) else extra
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    tokens: list[torch.Tensor] = []
    scores: list[torch.Tensor] = []
    with torch.no_grad():
        for step in range(max_new_tokens):
            out = model(input_ids=step_ids, attention_mask=full_mask[:, : width + step], position_ids=positions,
                        use_cache=True, **{cache_arg: past}, **extra)
            past = out.cache if hasattr(out, "cache") else out.past_key_values
            logits = out.logits[:, -1, :].float() / temperature
            token = torch.multinomial(logits.softmax(-1), 1).squeeze(1)
            token = token.masked_fill(done, pad_id)
            tokens.append(token)
            if return_scores:
                scores.append(logits)
            if eos_id is not None:
                done |= token == eos_id
                if bool(done.all()):
                    break
            step_ids = token.unsqueeze(1)
            positions = positions[:, -1:] + 1
    responses = torch.stack(tokens, dim=1)
    if responses.shape[1] < max_new_tokens:
        fill = torch.full((batch, max_new_tokens - responses.shape[1]), pad_id, dtype=responses.dtype, device=device)
        responses = torch.cat([responses, fill], dim=1)
    return responses, (torch.stack(scores, dim=1) if return_scores else None)


def _forward_kwargs(model: Any) -> tuple[str, dict[str, Any]]:
    """The forward's name for the KV cache (`cache` in transformers ≥ 5.2x, `past_key_values` before)."""
    names = _forward_parameters(model)
    return ("cache" if "cache" in names else "past_key_values"), {}


def _accepts_logits_to_keep(model: Any) -> bool:
    """Whether the forward can compute the LM head on the last k positions only (`logits_to_keep`)."""
    return "logits_to_keep" in _forward_parameters(model)


def _forward_parameters(model: Any) -> frozenset[str]:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    key = type(base)
    if key not in _FORWARD_PARAMETERS:
        try:
            _FORWARD_PARAMETERS[key] = frozenset(inspect.signature(base.forward).parameters)
        except (TypeError, ValueError):
            _FORWARD_PARAMETERS[key] = frozenset()
    return _FORWARD_PARAMETERS[key]


_FORWARD_PARAMETERS: dict[type, frozenset[str]] = {}


def response_logits(
    model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, responses: torch.Tensor,
    response_mask: torch.Tensor, temperature: float,
) -> torch.Tensor:
    """Temperature-scaled logits that predicted each response token: (B, T, V).

    The LM head runs on the last T + 1 positions only (`logits_to_keep`) where the model supports it: the
    prompt's other positions predict nothing PPO uses, and at a 49 k vocabulary the head is a fifth of the
    model's FLOPs per token."""
    import torch

    ids = torch.cat([prompt_ids, responses], dim=1)
    mask = torch.cat([prompt_mask, response_mask], dim=1)
    T = responses.shape[1]
    if _accepts_logits_to_keep(model):
        out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False,
                    logits_to_keep=T + 1)
        logits = out.logits[:, :-1, :].float()
    else:
        out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False)
        logits = out.logits[:, -(T + 1) : -1, :].float()
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
    logp = logits.log_softmax(-1)  # once for both (the same op as gather_logprobs, so the same bits)
    return logp.gather(-1, responses.unsqueeze(-1)).squeeze(-1), -(logp.exp() * logp).sum(-1)


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
