"""`train.sft`'s fast setting (`fast`, on by default): what speeds training up without changing what is learned.

- **Padding-free batches.** The examples of a batch are concatenated into one row with position ids that
  restart at every example (TRL's `DataCollatorForLanguageModeling(padding_free=True)`); the attention
  kernels keep the examples apart (flash attention by `cu_seq_lens`, SDPA/eager by a block-diagonal mask
  that transformers derives from the position ids). No pad token is computed, and every batch holds the same
  examples as before, so the loss is the same number. Because a model whose attention ignored the position
  ids would silently attend across examples, it is switched on only after `packed_matches_padded` has run
  the model once on two short sequences both ways and found the same logits.
- **Fused AdamW** (`adamw_torch_fused`) and **Liger kernels** (`use_liger_kernel`, when `liger-kernel` is
  installed) on a CUDA device. bf16 on a GPU comes from `precision = auto` (autocast over float32 weights).
- Activation checkpointing stays off unless asked for (TRL turns it on by default; it trades ~30 % speed for
  memory).

Packing (`packing`) is separate and off by default: it changes how many examples a step sees.
"""

from __future__ import annotations

import importlib.util
from typing import Any

PACKED_TOLERANCE = 1e-3  # max |logit difference| between the packed and the padded forward


def fast_settings(model: Any, tokenizer: Any, device: str, *, enabled: bool,
                  packing: bool) -> tuple[dict[str, Any], Any | None, list[str]]:
    """(extra SFTConfig kwargs, data collator or None for TRL's own, log lines saying what was chosen)."""
    if not enabled:
        return {}, None, ["fast: off"]
    kwargs: dict[str, Any] = {}
    notes: list[str] = []
    collator = None
    if packing:
        notes.append("padding-free: by TRL's packing (bfd)")
    elif packed_matches_padded(model, tokenizer.pad_token_id):
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        collator = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)
        notes.append("padding-free batches")
    else:
        notes.append("padding-free: off (this model's attention does not keep packed examples apart)")
    if device.startswith("cuda"):
        kwargs["optim"] = "adamw_torch_fused"
        notes.append("fused AdamW")
        if importlib.util.find_spec("liger_kernel") is not None:
            kwargs["use_liger_kernel"] = True
            notes.append("Liger kernels")
    return kwargs, collator, ["fast: " + ", ".join(notes)]


def packed_matches_padded(model: Any, pad_id: int | None, lengths: tuple[int, ...] = (7, 4)) -> bool:
    """Whether `model` gives the same logits for two sequences packed into one row (position ids restarting,
    no attention mask, as the padding-free collator makes them) as for the same sequences padded."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    vocab = int(getattr(model.get_input_embeddings(), "num_embeddings", 0) or 0)
    if vocab < 8 or pad_id is None:
        return False
    generator = torch.Generator().manual_seed(0)
    seqs = [torch.randint(4, vocab, (n,), generator=generator).tolist() for n in lengths]
    examples = [{"input_ids": s} for s in seqs]
    packed = DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=True)(examples)
    padded = DataCollatorForLanguageModeling(pad_token_id=pad_id)(examples)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            keys = [k for k in packed if k != "labels"]
            # use_cache=False as in training: with a cache, transformers builds no block mask from position ids
            out_packed = model(**{k: packed[k].to(device) if torch.is_tensor(packed[k]) else packed[k]
                                  for k in keys}, use_cache=False).logits[0].float()
            out_padded = model(input_ids=padded["input_ids"].to(device),
                               attention_mask=padded["attention_mask"].to(device), use_cache=False).logits.float()
    except (TypeError, ValueError, RuntimeError):
        return False  # the forward does not take the padding-free inputs
    finally:
        model.train(was_training)
    start, worst = 0, 0.0
    for row, n in enumerate(lengths):
        worst = max(worst, float((out_packed[start : start + n] - out_padded[row, :n]).abs().max()))
        start += n
    return worst <= PACKED_TOLERANCE
