"""`train.grpo`'s run(): TRL's GRPOTrainer with a reward model and/or reward-function specs.

Progress and metrics reach the RunContext through a TrainerCallback; stopping saves a Trainer checkpoint in
`ctx.checkpoint_dir` (model, optimizer, scheduler, RNG) and the rerun resumes from the newest one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError, RunCancelled

from .reward_functions import reward_function

PROMPT_COLUMN = {"messages": "messages", "prompt_completion": "prompt", "preference": "prompt", "qa": "question",
                 "text": "text"}


def grpo_dataset(ds: Any, fmt: str, tokenizer: Any, use_chat_template: str, max_prompt_length: int) -> Any:
    """A dataset with a `prompt` column GRPO understands; the other columns stay for reward functions.

    Same convention as train.ppo and eval.reward_score: chat rows (minus their last assistant turn) and QA
    questions are messages; plain prompts stay plain unless `use_chat_template` is "yes".
    """
    column = PROMPT_COLUMN.get(fmt)
    if column is None or column not in ds.column_names:
        raise NodeRunError(f"the prompt dataset (format {fmt!r}, columns {ds.column_names}) has no prompts",
                           field="prompts", hint="connect a dataset with a prompt, question, messages or text column")
    wrap = use_chat_template == "yes" or fmt == "qa"

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        value = row[column]
        if fmt == "messages":
            turns = list(value)
            while turns and turns[-1].get("role") == "assistant":
                turns.pop()
            return {"prompt": turns}
        if isinstance(value, str):
            ids = tokenizer(value, add_special_tokens=False)["input_ids"]
            if len(ids) > max_prompt_length:
                value = tokenizer.decode(ids[-max_prompt_length:])
            return {"prompt": [{"role": "user", "content": value}] if wrap else value}
        return {"prompt": value}

    drop = [c for c in ("prompt", "messages", "chosen", "rejected", "completion") if c in ds.column_names]
    out = ds.map(convert, remove_columns=drop)
    out = out.filter(lambda row: _has_text(row["prompt"]))
    if len(out) == 0:
        raise NodeRunError("the prompt dataset has no usable prompts", field="prompts")
    if isinstance(out[0]["prompt"], list) and not getattr(tokenizer, "chat_template", None):
        raise NodeRunError("the prompts are chat messages but the tokenizer has no chat template",
                           field="tokenizer", hint="set a chat_template on model.load, or use plain-text prompts")
    return out


def _has_text(prompt: Any) -> bool:
    if isinstance(prompt, list):
        return any(str(m.get("content", "")).strip() for m in prompt)
    return bool(str(prompt or "").strip())


def _callback(ctx: Any, total: int) -> Any:
    from flowstudio.nodes.hf.checkpoints import mark_complete
    from flowstudio.nodes.training.common import check_finite_logs
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        cancelled = False

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
            for name, value in (logs or {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    ctx.metric(name, float(value), step=state.global_step)
            check_finite_logs(logs or {}, state.global_step, args.learning_rate)

        def on_save(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            if state.is_world_process_zero:  # the Trainer has written the whole checkpoint
                mark_complete(Path(args.output_dir) / f"checkpoint-{state.global_step}")

        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            ctx.progress(state.global_step, total, f"step {state.global_step}")
            if ctx.cancelled():
                self.cancelled = True
                control.should_training_stop = True
                control.should_save = True

    return Report()


def neutral_generation_config(model: Any) -> None:
    """Replace the model's generation_config with one that only knows its special tokens.

    TRL's GRPO samples with `generate`, which fills every field its own GenerationConfig leaves unset from
    `model.generation_config` (repetition_penalty, no_repeat_ngram_size, suppress_tokens, top_k, ...). Those
    would reshape the sampling distribution while GRPO's log-probs describe the plain tempered one."""
    from transformers import GenerationConfig

    old = getattr(model, "generation_config", None)
    keep = {name: getattr(old, name, None) for name in ("bos_token_id", "eos_token_id", "pad_token_id")}
    model.generation_config = GenerationConfig(**{k: v for k, v in keep.items() if v is not None})


def reward_model_function(model: Any, tokenizer: Any, device: str, max_length: int = 2048) -> Any:
    """The reward model as a GRPO reward function that scores exactly what `train.reward` trained on and
    `eval.reward_score` / PPO score: prompt + completion rendered like the training pairs (`scored_text`),
    read at `hf.scoring.scored_positions`."""
    from flowstudio.nodes.data.examples import scored_text
    from flowstudio.nodes.hf.scoring import reward_scores

    from .reward_functions import completion_text

    def reward_model(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
        texts = [scored_text(tokenizer, prompt, completion_text(completion))
                 for prompt, completion in zip(prompts, completions, strict=True)]
        return reward_scores(model, tokenizer, texts, device, max_length)

    return reward_model


def run_grpo(ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
    from flowstudio.nodes.data.storage import load_dataset_artifact
    from flowstudio.nodes.hf.checkpoints import newest_complete_checkpoint
    from flowstudio.nodes.hf.loading import (
        TRAINABLE_DTYPE,
        artifact_path,
        autocast_dtype,
        fp32_master_weights,
        load_causal_lm,
        load_tokenizer,
        model_artifact,
        save_model_dir,
        torch_device,
    )
    from flowstudio.nodes.training.common import check_finite_weights
    from trl import GRPOConfig, GRPOTrainer

    device = torch_device(ctx)
    rewards = list(inputs.get("rewards") or [])
    rm_input = inputs.get("reward_model")
    if rm_input is None and not rewards:
        raise NodeRunError("GRPO needs something to score completions", field="rewards",
                           hint="connect a reward model or reward.* nodes (regex, exact_match, length)")
    reward_funcs: list[Any] = []
    weights: list[float] = []
    processing: list[Any] = []
    if rm_input is not None:
        from transformers import AutoModelForSequenceClassification

        rm_path = artifact_path(rm_input, "reward model", "reward_model")
        rm = AutoModelForSequenceClassification.from_pretrained(rm_path, num_labels=1).to(device).eval()
        rm.requires_grad_(False)
        reward_funcs.append(reward_model_function(rm, load_tokenizer(rm_path), device))
        processing.append(None)
        weights.append(params.reward_model_weight)
    for spec in rewards:
        fn, weight = reward_function(spec)
        reward_funcs.append(fn)
        processing.append(None)
        weights.append(weight)

    ctx.progress(0, params.max_steps, "loading")
    tokenizer = load_tokenizer(artifact_path(inputs.tokenizer, "tokenizer", "tokenizer"))
    ds, fmt = load_dataset_artifact(inputs.prompts, field="prompts", ctx=ctx)
    train = grpo_dataset(ds, fmt, tokenizer, params.use_chat_template, params.max_prompt_length)
    lora = inputs.get("lora")
    meta = getattr(inputs.model, "meta", None) or {}
    model = load_causal_lm(artifact_path(inputs.model, "model", "model"), device=device,
                           dtype=str(meta.get("dtype", "auto")) if lora is not None else TRAINABLE_DTYPE)
    neutral_generation_config(model)
    peft_cfg = None
    if lora is not None:
        from flowstudio.nodes.models.lora import peft_config

        peft_cfg = peft_config(lora, model)

    ckpt_dir = Path(ctx.checkpoint_dir)
    args = GRPOConfig(
        output_dir=str(ckpt_dir), max_steps=params.max_steps, learning_rate=params.learning_rate,
        per_device_train_batch_size=params.per_device_batch_size, num_generations=params.num_generations,
        max_completion_length=params.max_completion_length, temperature=params.temperature, beta=params.beta,
        reward_weights=weights, seed=params.seed, data_seed=params.seed, use_cpu=device == "cpu",
        bf16=autocast_dtype(params.precision, device) is not None, activation_checkpointing=False, logging_steps=1, save_strategy="no", report_to=[],
        disable_dropout=True, dataloader_num_workers=0,
    )
    callback = _callback(ctx, params.max_steps)
    trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=args, train_dataset=train,
                          processing_class=tokenizer, reward_processing_classes=processing,
                          callbacks=[callback], peft_config=peft_cfg)
    fp32_master_weights(trainer.model)
    resume = newest_complete_checkpoint(ckpt_dir, ctx)  # newer half-written ones are removed
    if resume is not None:
        ctx.log(f"GRPO: resuming from {resume.name}")
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    check_finite_weights(trainer.model, int(trainer.state.global_step), params.learning_rate)
    if callback.cancelled:
        raise RunCancelled(f"GRPO stopped at step {trainer.state.global_step}/{params.max_steps}; "
                           "resume the run to continue from the checkpoint")

    trained = trainer.model
    if hasattr(trained, "merge_and_unload"):
        ctx.log("merging the LoRA adapter")
        trained = trained.merge_and_unload()
    ctx.log("saving the model")
    out = save_model_dir(trained, tokenizer, Path(ctx.work_dir) / "model")
    return {"model": model_artifact(out, source=f"train.grpo:{ctx.node_id}")}
