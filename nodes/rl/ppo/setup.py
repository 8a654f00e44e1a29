"""Turning `train.ppo`'s inputs into what the PPO loop needs: models, the reference, prompts, a scorer.

The reference model (for the KL penalty) is chosen by how the policy is trained:
- full fine-tuning: a frozen copy of the SFT model;
- a fresh LoRA adapter on a full SFT model: the policy itself with its adapters disabled (no copy);
- an SFT LoRA adapter and a new LoRA spec: the SFT adapter is merged first, then a fresh adapter goes on top,
  so again "adapters disabled" is exactly the SFT model;
- an SFT LoRA adapter trained further (no new spec): disabling it would give the *base* model, not the SFT
  model, so the reference is a frozen copy of base + SFT adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowstudio.core.errors import NodeRunError

from . import rollout

if TYPE_CHECKING:
    import torch


@dataclass
class PolicySetup:
    policy: Any  # a causal LM or a PeftModel
    reference: Any | None  # None: the policy with adapters disabled
    mode: str  # "full", "fresh_lora", "continue_lora"


def build_policy(model_path: Path, lora: dict[str, Any] | None, device: str, dtype: str = "auto") -> PolicySetup:
    """`dtype` is for weights that stay frozen (a LoRA base, the continue-LoRA reference). A fully trained
    policy is float32 (its master weights) and so is its reference, so both run the same arithmetic under
    autocast and the first rollout's KL is exactly 0."""
    from flowstudio.nodes.hf.loading import TRAINABLE_DTYPE, is_adapter_dir, load_causal_lm

    if lora is None and is_adapter_dir(model_path):
        policy = load_causal_lm(model_path, dtype=dtype, device=device, merge_adapter=False)
        reference = load_causal_lm(model_path, dtype=dtype, device=device, merge_adapter=True)
        reference.requires_grad_(False)
        return PolicySetup(policy, reference, "continue_lora")
    if lora is None:
        base = load_causal_lm(model_path, dtype=TRAINABLE_DTYPE, device=device, merge_adapter=True)
        reference = load_causal_lm(model_path, dtype=TRAINABLE_DTYPE, device=device, merge_adapter=True)
        reference.requires_grad_(False)
        return PolicySetup(base, reference, "full")
    from flowstudio.nodes.models.lora import peft_config
    from peft import get_peft_model

    base = load_causal_lm(model_path, dtype=dtype, device=device, merge_adapter=True)
    spec = dict(lora)
    spec["dropout"] = 0.0  # PPO disables dropout everywhere: the ratio must be 1 on the first minibatch
    policy = get_peft_model(base, peft_config(spec, base))
    return PolicySetup(policy, None, "fresh_lora")


def load_scalar_model(path: Path, device: str, trainable: bool) -> Any:
    """An AutoModelForSequenceClassification (reward or value model) with one output; float32 when it will be
    trained (the value model), the checkpoint's own dtype when it is only used (the reward model)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"dtype": torch.float32} if trainable else {}
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, **kwargs)
    if getattr(model.config, "num_labels", 1) != 1:
        raise NodeRunError(f"the model at {path} has {model.config.num_labels} outputs; a reward or value model "
                           "needs exactly one", field="reward_model", hint="connect the output of train.reward")
    model.to(device)
    model.requires_grad_(trainable)
    return model


def pad_id_for(tokenizer: Any) -> int:
    """A filler id distinct from EOS. Masks decide validity, so the filler only must never read as EOS."""
    eos = tokenizer.eos_token_id
    for candidate in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.bos_token_id, 0, 1):
        if candidate is not None and candidate != eos:
            return int(candidate)
    raise NodeRunError("the tokenizer has no token usable as padding besides EOS", field="tokenizer")


# ----------------------------------------------------------------------------------------- prompts


def prompt_values(ds: Any, fmt: str, tokenizer: Any, use_chat_template: str) -> list[Any]:
    """Every row's prompt: a string (continued as is) or a list of chat messages (through the chat template).

    The same convention as `eval.reward_score`, so PPO trains on what the evaluation measures: QA questions
    and chat rows are messages; `prompt` and `text` strings stay plain unless `use_chat_template` is "yes",
    which makes every plain prompt a user message.
    """
    has_template = bool(getattr(tokenizer, "chat_template", None))
    column = {"messages": "messages", "prompt_completion": "prompt", "preference": "prompt", "qa": "question",
              "text": "text"}.get(fmt)
    if column is None or column not in ds.column_names:
        raise NodeRunError(f"the prompt dataset (format {fmt!r}, columns {ds.column_names}) has no prompts",
                           field="prompts", hint="connect a dataset with a prompt, question, messages or text "
                                                 "column (data.load)")
    out: list[Any] = []
    for value in ds[column]:
        if fmt == "messages":
            turns = list(value)
            while turns and turns[-1].get("role") == "assistant":
                turns.pop()
            value = turns
        elif fmt == "qa" or (use_chat_template == "yes" and isinstance(value, str)):
            value = [{"role": "user", "content": str(value)}] if str(value).strip() else ""
        if value and (isinstance(value, list) or str(value).strip()):
            out.append(value)
    if not out:
        raise NodeRunError("the prompt dataset has no non-empty prompts", field="prompts")
    if any(isinstance(v, list) for v in out) and not has_template:
        raise NodeRunError("the prompts are chat messages but the tokenizer has no chat template",
                           field="tokenizer", hint="set a chat_template on model.load, or use plain-text prompts")
    return out


def policy_text(tokenizer: Any, prompt: Any) -> str:
    """The text the policy continues: chat messages through the template with the generation prompt."""
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
    return str(prompt)


def prompt_token_limit(model_path: Path, max_prompt_length: int, response_length: int) -> int:
    """Prompt tokens to keep so prompt + response fits the model's context (max_position_embeddings)."""
    import json

    config_file = Path(model_path) / "config.json"
    if not config_file.exists() and (Path(model_path) / "adapter_config.json").exists():
        base = json.loads((Path(model_path) / "adapter_config.json").read_text())["base_model_name_or_path"]
        config_file = Path(base) / "config.json"
    context = 0
    if config_file.exists():
        context = int(json.loads(config_file.read_text(encoding="utf-8")).get("max_position_embeddings") or 0)
    if not context:
        return max_prompt_length
    if response_length >= context:
        raise NodeRunError(f"response_length {response_length} leaves no room for the prompt in this model's "
                           f"context of {context} tokens", field="response_length",
                           hint=f"use a response_length well below {context}")
    return min(max_prompt_length, context - response_length)


def tokenize_prompts(texts: list[str], tokenizer: Any, max_prompt_length: int) -> list[list[int]]:
    """Token ids of each prompt, keeping its last `max_prompt_length` tokens (the end is what matters)."""
    return [tokenizer(text, add_special_tokens=False)["input_ids"][-max_prompt_length:] for text in texts]


# ------------------------------------------------------------------------------------------ scoring


def reward_model_scorer(reward_model: Any, policy_tokenizer: Any, reward_tokenizer: Any, device: str,
                        prompt_by_ids: dict[tuple[int, ...], Any], max_length: int = 2048) -> Any:
    """score_fn for the PPO loop: the reward model's score of prompt + response, rendered like its training pairs.

    The response is decoded without special tokens (EOS is re-added by the rendering, as in training; a
    response that never ended is penalised separately by missing_eos_penalty). The prompt is found by its
    token ids in `prompt_by_ids`.
    """

    from flowstudio.nodes.data.examples import scored_text

    head = rollout.ScalarHead(reward_model)

    def score(p_ids: torch.Tensor, p_mask: torch.Tensor, responses: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
        texts = []
        for row in range(p_ids.shape[0]):
            prompt = prompt_by_ids[tuple(p_ids[row][p_mask[row] == 1].tolist())]
            # decoded as sampled; scored_text renders it exactly as eval.reward_score does (stripped in chat turns)
            response = policy_tokenizer.decode(responses[row][mask[row] == 1].tolist(), skip_special_tokens=True)
            texts.append(scored_text(reward_tokenizer, prompt, response))
        side = reward_tokenizer.truncation_side
        reward_tokenizer.truncation_side = "left"  # an over-long text keeps its end: the response
        try:
            enc = reward_tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                                   add_special_tokens=False)
        finally:
            reward_tokenizer.truncation_side = side
        return head.sequence_scores(enc["input_ids"].to(device), enc["attention_mask"].to(device))

    return score
