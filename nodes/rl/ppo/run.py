"""`train.ppo`'s run(): load everything, train with the PPO loop, save the policy and the value model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.values import Artifact

from . import setup
from .trainer import PPOConfig, PPOTrainer


def config_from_params(params: Any) -> PPOConfig:
    names = PPOConfig.__dataclass_fields__.keys()
    return PPOConfig(**{name: getattr(params, name) for name in names if hasattr(params, name)})


def run_ppo(ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
    import torch
    from flowstudio.nodes.data.storage import load_dataset_artifact
    from flowstudio.nodes.hf.loading import (
        artifact_path,
        load_tokenizer,
        model_artifact,
        save_model_dir,
        torch_device,
    )

    device = torch_device(ctx)
    model_path = artifact_path(inputs.model, "model", "model")
    tok_path = artifact_path(inputs.tokenizer, "tokenizer", "tokenizer")
    rm_path = artifact_path(inputs.reward_model, "reward model", "reward_model")
    value_input = inputs.get("value_model")
    value_path = artifact_path(value_input, "value model", "value_model") if value_input is not None else rm_path
    lora = inputs.get("lora")
    if lora is not None and not (isinstance(lora, dict) and "r" in lora):
        raise NodeRunError("the lora input is not a LoRA spec", field="lora", hint="connect a model.lora node")
    torch.manual_seed(params.seed)

    ctx.progress(0, params.updates, "loading models")
    tokenizer = load_tokenizer(tok_path)
    if tokenizer.eos_token_id is None:
        raise NodeRunError("the tokenizer has no EOS token, so responses could never end", field="tokenizer",
                           hint="use a tokenizer with an eos_token (model.load sets it for built-ins)")
    pad_id = setup.pad_id_for(tokenizer)
    ds, fmt = load_dataset_artifact(inputs.prompts, field="prompts", ctx=ctx)
    values = setup.prompt_values(ds, fmt, tokenizer, params.use_chat_template)
    texts = [setup.policy_text(tokenizer, v) for v in values]
    prompt_limit = setup.prompt_token_limit(model_path, params.max_prompt_length, params.response_length)
    prompts = setup.tokenize_prompts(texts, tokenizer, prompt_limit)
    ctx.log(f"PPO: {len(prompts)} prompts (format {fmt}); first: {texts[0][:200]!r}")

    dtype = (getattr(inputs.model, "meta", None) or {}).get("dtype", "auto")
    built = setup.build_policy(model_path, lora, device, dtype)
    reward_model = setup.load_scalar_model(rm_path, device, trainable=False)
    value_model = setup.load_scalar_model(value_path, device, trainable=True)
    try:
        rm_tokenizer = load_tokenizer(rm_path)
    except (OSError, ValueError):
        raise NodeRunError(f"the reward model at {rm_path} has no tokenizer files", field="reward_model",
                           hint="save the reward model with its tokenizer (train.reward does)") from None
    prompt_by_ids = {tuple(ids): value for ids, value in zip(prompts, values, strict=True)}
    scorer = setup.reward_model_scorer(reward_model, tokenizer, rm_tokenizer, device, prompt_by_ids)
    ctx.log(f"PPO: policy {built.mode}; reference = "
            + ("the policy with adapters disabled" if built.reference is None else "a frozen copy of the SFT model")
            + f"; value model from {'the value_model input' if value_input is not None else 'the reward model'}")

    cfg = config_from_params(params)
    fingerprint = {"model": str(model_path), "reward_model": str(rm_path), "value_model": str(value_path),
                   "prompts": str(getattr(inputs.prompts, "path", "")), "lora": lora, "tokenizer": str(tok_path)}
    trainer = PPOTrainer(cfg, built.policy, value_model, scorer, prompts, eos_id=tokenizer.eos_token_id,
                         pad_id=pad_id, reference=built.reference, reporter=ctx, device=device,
                         fingerprint=fingerprint)
    history = trainer.train()  # raises RunCancelled after saving a checkpoint when stopped
    last = history[-1] if history else {}
    ctx.log("PPO done: " + ", ".join(f"{k}={last[k]:.4f}" for k in
                                     ("objective/scores", "objective/kl", "objective/rlhf_reward") if k in last))

    work = Path(ctx.work_dir)
    policy = built.policy
    if built.mode != "full":
        ctx.progress(params.updates, params.updates, "merging LoRA")
        policy.save_pretrained(work / "adapter")
        policy = policy.merge_and_unload()
    policy.config.use_cache = True
    with torch.no_grad():
        ctx.progress(params.updates, params.updates, "saving the policy")
        model_dir = save_model_dir(policy, tokenizer, work / "model")
        ctx.progress(params.updates, params.updates, "saving the value model")
        value_dir = save_model_dir(value_model, rm_tokenizer, work / "value_model")
    meta_in = getattr(inputs.model, "meta", None) or {}
    model_out = model_artifact(model_dir, source=f"train.ppo:{ctx.node_id}", dtype=dtype,
                               trust_remote_code=bool(meta_in.get("trust_remote_code", False)),
                               ppo_updates=len(history),
                               final_kl=last.get("objective/kl"), final_score=last.get("objective/scores"))
    value_out = Artifact("reward_model", str(value_dir.resolve()), {"role": "value", "source": f"train.ppo:{ctx.node_id}"})
    return {"model": model_out, "value_model": value_out}
