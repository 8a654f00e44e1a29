"""Training nodes on TRL 1.x: supervised fine-tuning, a reward model, DPO. Optional LoRA through peft.

Each streams step/total progress and the trainer's metrics, stops with a checkpoint when the run is stopped
and resumes from it (see `_train_common`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.node import Node, Port, Ports, Resources
from flowstudio.core.ports import Dataset, LoraSpec, Metrics, Model, RewardModel, Tokenizer
from flowstudio.core.values import Artifact

from .common import TrainParams

MARGIN_ROWS = 64


class _Trainer(Node):
    category = "Training"
    resources = Resources(gpus=1, worker=True, memory_gb=2.0)

    @classmethod
    def check(cls, params: Any, flow_dir: Path | None) -> list[Any]:
        from .launch.configs import launch_problems

        return launch_problems(params)

    def launched(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any] | None:
        """launcher=accelerate: this node's outputs from `accelerate launch` (every rank runs this same
        `run`, see launch/launcher.py); None: train here."""
        from .launch.launcher import launch_node, wants_launch

        return launch_node(self, ctx, inputs, params) if wants_launch(ctx, params) else None


def _prepare(ctx: Any, inputs: Any, params: TrainParams) -> tuple[str, Path, dict[str, Any], Any]:
    """(device, base model dir, its meta, tokenizer) for any trainer node."""
    from flowstudio.nodes.hf.loading import artifact_path, load_tokenizer, torch_device

    from .common import check_cancel, input_model_dir, quiet_libraries

    check_cancel(ctx)
    quiet_libraries()
    device = torch_device(ctx)
    model_dir, meta = input_model_dir(inputs.model, ctx, device)
    trust = bool(meta.get("trust_remote_code"))
    tok_input = inputs.get("tokenizer")
    tok_path = artifact_path(tok_input, "tokenizer", "tokenizer") if tok_input is not None else model_dir
    tokenizer = load_tokenizer(tok_path, trust_remote_code=trust)
    from transformers import set_seed

    set_seed(params.seed)
    return device, model_dir, meta, tokenizer


def _preference_splits(ctx: Any, inputs: Any, tokenizer: Any) -> tuple[Any, Any]:
    """The train pairs and, when connected, the eval pairs, rendered for TRL's preference trainers."""
    from flowstudio.nodes.data.examples import preference_dataset
    from flowstudio.nodes.data.storage import load_dataset_artifact

    ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
    train = preference_dataset(ds, fmt, tokenizer)
    if inputs.get("eval_dataset") is None:
        return train, None
    eds, efmt = load_dataset_artifact(inputs.eval_dataset, "eval_dataset", ctx=ctx)
    return train, preference_dataset(eds, efmt, tokenizer, field="eval_dataset")


def _save_policy(trainer: Any, tokenizer: Any, out: Path, base_dir: Path, lora: bool) -> None:
    """Full model, or the adapter with `base_model_name_or_path` pointing at the absolute base directory."""
    import json

    main = trainer.is_world_process_zero()  # launcher=accelerate: rank 0 writes, the others wait for it
    if lora and main:
        trainer.model.save_pretrained(out)
        cfg_path = out / "adapter_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["base_model_name_or_path"] = str(base_dir)
        cfg_path.write_text(json.dumps(cfg, indent=2))
    elif not lora:
        trainer.save_model(str(out))  # every rank: FSDP gathers the weights; the Trainer writes on rank 0
    if main:
        tokenizer.save_pretrained(out)
    trainer.accelerator.wait_for_everyone()


class SupervisedFineTune(_Trainer):
    type = "train.sft"
    title = "SFT"
    icon = "mdi6.school"
    description = ("Supervised fine-tuning with TRL's SFTTrainer on chat messages, prompt/completion, QA or text "
                   "data. Loss on the answers only (completion_only), optional packing and LoRA.")

    class Inputs(Ports):
        model = Port(Model, "The model to fine-tune")
        dataset = Port(Dataset, "Training data (messages, prompt/completion, QA, text)")
        eval_dataset = Port(Dataset, "Held-out data: eval loss before, during and after training", optional=True)
        lora = Port(LoraSpec, "Train a LoRA adapter instead of all weights", optional=True)
        tokenizer = Port(Tokenizer, "Use this tokenizer instead of the model's own", optional=True)

    class Outputs(Ports):
        model = Port(Model, "The fine-tuned model (a LoRA adapter when lora is connected)")
        metrics = Port(Metrics, "train_loss, eval_loss_start, eval_loss, steps, ...")

    class Params(TrainParams):
        completion_only: bool = Field(True, description="Compute the loss on answers (assistant turns / "
                                      "completions) only, not on prompts")
        packing: bool = Field(False, description="Pack several short examples into each sequence (faster)")
        fast: bool = Field(True, description="Padding-free batches (when the model keeps packed examples "
                           "apart), fused AdamW and Liger kernels on a GPU: faster, same loss")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        if (launched := self.launched(ctx, inputs, params)) is not None:
            return launched
        from flowstudio.nodes.data.examples import sft_dataset
        from flowstudio.nodes.data.storage import load_dataset_artifact
        from flowstudio.nodes.hf.loading import fp32_master_weights, load_causal_lm, model_artifact
        from flowstudio.nodes.models.lora import peft_config
        from trl import SFTConfig, SFTTrainer

        from .common import (
            final_metrics,
            fingerprint,
            fit_embeddings,
            make_callback,
            phase,
            prepare_resume,
            quiet_trainer,
            run_training,
            training_kwargs,
            weights_dtype,
        )

        device, model_dir, meta, tok = _prepare(ctx, inputs, params)
        ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
        train_ds, extra_cfg = sft_dataset(ds, fmt, tok, params.completion_only)
        eval_ds = None
        if inputs.get("eval_dataset") is not None:
            eds, efmt = load_dataset_artifact(inputs.eval_dataset, "eval_dataset", ctx=ctx)
            eval_ds, _ = sft_dataset(eds, efmt, tok, params.completion_only, field="eval_dataset")
        resume, lineage = prepare_resume(ctx, fingerprint(params, inputs))
        trust = bool(meta.get("trust_remote_code"))
        lora = inputs.get("lora")
        model = load_causal_lm(model_dir, weights_dtype(meta, lora), "cpu", trust)
        fit_embeddings(model, tok, ctx)
        peft_cfg = peft_config(lora, model) if lora else None
        from .fast import fast_settings

        fast_cfg, collator, fast_log = fast_settings(model, tok, device, enabled=params.fast, packing=params.packing)
        for line in fast_log:
            ctx.log(line)
        args = SFTConfig(**training_kwargs(params, ctx, device, eval_ds is not None), packing=params.packing,
                         **extra_cfg, **fast_cfg)
        callback = make_callback(ctx)
        trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                             processing_class=tok, peft_config=peft_cfg, callbacks=[callback],
                             data_collator=collator)
        quiet_trainer(trainer)
        fp32_master_weights(trainer.model)
        extra: dict[str, float] = {}
        if eval_ds is not None:
            if "eval_loss_start" not in lineage:
                lineage["eval_loss_start"] = float(trainer.evaluate()["eval_loss"])
            extra["eval_loss_start"] = lineage["eval_loss_start"]
            ctx.metric("eval_loss", extra["eval_loss_start"], 0)
        result = run_training(trainer, ctx, callback, resume, lineage)
        if eval_ds is not None:
            extra["eval_loss"] = float(trainer.evaluate()["eval_loss"])
        extra["steps"] = float(trainer.state.global_step)
        out = Path(ctx.work_dir) / "model"
        phase(ctx, trainer, "saving")
        _save_policy(trainer, tok, out, model_dir, lora is not None)
        metrics = final_metrics(callback, result, extra, ctx, trainer.state.global_step)
        return {"model": model_artifact(out, source=meta.get("source", ""), dtype=meta.get("dtype", "auto"),
                                        trust_remote_code=trust, base=str(model_dir) if lora else None,
                                        lineage=lineage["segments"], trained_by=self.type),
                "metrics": metrics}


class RewardModelTrain(_Trainer):
    type = "train.reward"
    title = "Reward model"
    icon = "mdi6.scale-balance"
    description = ("Train a reward model with TRL's RewardTrainer: a sequence-classification head scores "
                   "texts, trained on chosen/rejected pairs with the loss -log sigmoid(r(chosen) - r(rejected)). "
                   "Reports pairwise accuracy on the training and eval pairs.")

    class Inputs(Ports):
        model = Port(Model, "The base model the reward model starts from")
        dataset = Port(Dataset, "Preference pairs (chosen/rejected, optionally prompt)")
        eval_dataset = Port(Dataset, "Held-out pairs: eval accuracy", optional=True)
        lora = Port(LoraSpec, "Train a LoRA adapter (merged into the saved reward model)", optional=True)
        tokenizer = Port(Tokenizer, "Use this tokenizer instead of the model's own", optional=True)

    class Outputs(Ports):
        reward_model = Port(RewardModel, "The reward model")
        metrics = Port(Metrics, "train_accuracy, eval_accuracy, eval_margin, ...")

    class Params(TrainParams):
        learning_rate: float = Field(1e-4, gt=0, description="Peak learning rate")
        center_rewards: float = Field(0.0, ge=0, description="Weight of the penalty keeping rewards centred on 0")
        accuracy_rows: int = Field(500, ge=1, description="Pairs scored for the accuracy metrics (per split)")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        if (launched := self.launched(ctx, inputs, params)) is not None:
            return launched
        import torch
        from flowstudio.nodes.hf.loading import fp32_master_weights, require_safe_weights, save_model_dir
        from flowstudio.nodes.models.lora import peft_config
        from transformers import AutoModelForSequenceClassification
        from trl import RewardConfig, RewardTrainer

        from .common import (
            final_metrics,
            fingerprint,
            fit_embeddings,
            make_callback,
            phase,
            prepare_resume,
            quiet_trainer,
            run_training,
            training_kwargs,
        )

        device, model_dir, meta, tok = _prepare(ctx, inputs, params)
        train_ds, eval_ds = _preference_splits(ctx, inputs, tok)
        resume, lineage = prepare_resume(ctx, fingerprint(params, inputs))
        trust = bool(meta.get("trust_remote_code"))
        require_safe_weights(model_dir, bool(meta.get("allow_pickle_weights")))
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, num_labels=1, trust_remote_code=trust, dtype=torch.float32)  # trained: float32 weights
        fit_embeddings(model, tok, ctx)
        model.config.pad_token_id = tok.pad_token_id
        lora = inputs.get("lora")
        peft_cfg = peft_config(lora, model, task_type="SEQ_CLS") if lora else None
        args = RewardConfig(**training_kwargs(params, ctx, device, eval_ds is not None),
                            center_rewards_coefficient=params.center_rewards or None)
        callback = make_callback(ctx)
        trainer = RewardTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                                processing_class=tok, peft_config=peft_cfg, callbacks=[callback])
        quiet_trainer(trainer)
        fp32_master_weights(trainer.model)
        result = run_training(trainer, ctx, callback, resume, lineage)
        if lora:
            phase(ctx, trainer, "merging LoRA")
        trained = trainer.model.merge_and_unload() if lora else trainer.model
        trained.eval()
        extra = {"steps": float(trainer.state.global_step)}
        for name, split in (("train", train_ds), ("eval", eval_ds)):
            if split is not None:
                acc, margin = _pair_accuracy(trained, tok, split, params, next(trained.parameters()).device,
                                             lambda i, n, name=name: phase(ctx, trainer, f"{name} accuracy {i}/{n}"))
                extra[f"{name}_accuracy"], extra[f"{name}_margin"] = acc, margin
                ctx.metric(f"{name}_accuracy", acc, trainer.state.global_step)
        out = Path(ctx.work_dir) / "reward_model"
        phase(ctx, trainer, "saving")
        if trainer.is_world_process_zero():  # launcher=accelerate: rank 0 writes, the others wait for it
            save_model_dir(trained, tok, out)
        trainer.accelerator.wait_for_everyone()
        return {"reward_model": Artifact("reward_model", str(out.resolve()),
                                         {"base": str(model_dir), "trust_remote_code": trust,
                                          "lineage": lineage["segments"]}),
                "metrics": final_metrics(callback, result, extra, ctx, trainer.state.global_step)}


def _pair_accuracy(model: Any, tok: Any, ds: Any, params: Any, device: Any,
                   progress: Any = None) -> tuple[float, float]:
    """Share of pairs where r(chosen) > r(rejected), and the mean r(chosen) - r(rejected); `progress(done,
    total)` counts the texts scored (two per pair)."""
    from flowstudio.nodes.data.examples import pair_texts
    from flowstudio.nodes.hf.scoring import reward_scores

    rows = ds.select(range(min(params.accuracy_rows, len(ds)))).to_list()
    pairs = [pair_texts(r, tok) for r in rows]
    n = len(pairs)
    report = progress or (lambda done, total: None)
    report(0, 2 * n)
    chosen = reward_scores(model, tok, [c for c, _ in pairs], device, params.max_length, params.batch_size,
                           progress=lambda done, _t: report(done, 2 * n))
    rejected = reward_scores(model, tok, [r for _, r in pairs], device, params.max_length, params.batch_size,
                             progress=lambda done, _t: report(n + done, 2 * n))
    diffs = [c - r for c, r in zip(chosen, rejected, strict=True)]
    return sum(d > 0 for d in diffs) / len(diffs), sum(diffs) / len(diffs)


class DirectPreference(_Trainer):
    type = "train.dpo"
    title = "DPO"
    icon = "mdi6.thumbs-up-down"
    description = ("Direct preference optimisation with TRL's DPOTrainer on chosen/rejected pairs. The reference "
                   "model is a frozen copy of the input (with LoRA: the base with the adapter disabled). Reports "
                   "the chosen-over-rejected log-prob margin before and after.")

    class Inputs(Ports):
        model = Port(Model, "The policy to train (usually an SFT model)")
        dataset = Port(Dataset, "Preference pairs (chosen/rejected, optionally prompt)")
        eval_dataset = Port(Dataset, "Held-out pairs", optional=True)
        lora = Port(LoraSpec, "Train a LoRA adapter instead of all weights", optional=True)
        tokenizer = Port(Tokenizer, "Use this tokenizer instead of the model's own", optional=True)

    class Outputs(Ports):
        model = Port(Model, "The trained policy (a LoRA adapter when lora is connected)")
        metrics = Port(Metrics, "margin_start, margin, rewards/accuracies, ...")

    class Params(TrainParams):
        learning_rate: float = Field(5e-6, gt=0, description="Peak learning rate (LoRA: ~5e-5 to 5e-4)")
        beta: float = Field(0.1, gt=0, description="Strength of the pull towards the reference model")
        loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = Field("sigmoid", description="sigmoid is the "
                                                                         "DPO paper's loss")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        if (launched := self.launched(ctx, inputs, params)) is not None:
            return launched
        from flowstudio.nodes.hf.loading import fp32_master_weights, load_causal_lm, model_artifact
        from flowstudio.nodes.models.lora import peft_config
        from trl import DPOConfig, DPOTrainer

        from .common import (
            final_metrics,
            fingerprint,
            fit_embeddings,
            make_callback,
            phase,
            prepare_resume,
            quiet_trainer,
            run_training,
            training_kwargs,
            weights_dtype,
        )

        device, model_dir, meta, tok = _prepare(ctx, inputs, params)
        train_ds, eval_ds = _preference_splits(ctx, inputs, tok)
        resume, lineage = prepare_resume(ctx, fingerprint(params, inputs))
        trust = bool(meta.get("trust_remote_code"))
        lora = inputs.get("lora")
        model = load_causal_lm(model_dir, weights_dtype(meta, lora), "cpu", trust)
        fit_embeddings(model, tok, ctx)
        peft_cfg = peft_config(lora, model) if lora else None
        if "margin_start" not in lineage:
            lineage["margin_start"] = _logprob_margin(model, tok, train_ds, params, "cpu")
        ctx.metric("margin", lineage["margin_start"], 0)
        args = DPOConfig(**training_kwargs(params, ctx, device, eval_ds is not None), beta=params.beta,
                         loss_type=[params.loss_type])
        callback = make_callback(ctx)
        trainer = DPOTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                             processing_class=tok, peft_config=peft_cfg, callbacks=[callback])
        quiet_trainer(trainer)
        fp32_master_weights(trainer.model)
        result = run_training(trainer, ctx, callback, resume, lineage)
        trainer.model.eval()
        margin = _logprob_margin(trainer.model, tok, train_ds, params, next(trainer.model.parameters()).device,
                                 lambda i, n: phase(ctx, trainer, f"log-prob margin {i}/{n}"))
        ctx.metric("margin", margin, trainer.state.global_step)
        out = Path(ctx.work_dir) / "model"
        phase(ctx, trainer, "saving")
        _save_policy(trainer, tok, out, model_dir, lora is not None)
        extra = {"margin_start": lineage["margin_start"], "margin": margin, "steps": float(trainer.state.global_step)}
        return {"model": model_artifact(out, source=meta.get("source", ""), dtype=meta.get("dtype", "auto"),
                                        trust_remote_code=trust, base=str(model_dir) if lora else None,
                                        lineage=lineage["segments"], trained_by=self.type),
                "metrics": final_metrics(callback, result, extra, ctx, trainer.state.global_step)}


def _logprob_margin(model: Any, tok: Any, ds: Any, params: Any, device: Any, progress: Any = None) -> float:
    """Mean over pairs of log p(chosen | prompt) - log p(rejected | prompt); `progress(done, total)` per pair."""
    from flowstudio.nodes.data.examples import prompt_and_completions
    from flowstudio.nodes.hf.scoring import completion_logprob

    rows = ds.select(range(min(MARGIN_ROWS, len(ds)))).to_list()
    margins = []
    for row in rows:
        prompt, chosen, rejected = prompt_and_completions(row, tok)
        margins.append(completion_logprob(model, tok, prompt, chosen, device, params.max_length)
                       - completion_logprob(model, tok, prompt, rejected, device, params.max_length))
        if progress is not None:
            progress(len(margins), len(rows))
    return sum(margins) / len(margins)
