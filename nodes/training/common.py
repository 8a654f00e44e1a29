"""What every training node shares: common params, TrainingArguments, live progress, stop/resume, OOM errors.

Stop and resume: the trainer writes its checkpoints into `ctx.checkpoint_dir`. When the user stops a run the
callback asks the trainer to save and stop at the end of the current step, and the node raises `RunCancelled`.
The next run of the same node (same params and inputs: a fingerprint file guards this) resumes from the last
checkpoint, restoring weights/adapter, optimizer, scheduler and RNG. `lineage.json` in the checkpoint dir
records each segment (start step, end step, checkpoint, how it ended); the output model's meta carries it.
Only complete checkpoints are resumed (`nodes/hf/checkpoints.py`: the callback marks each one in `on_save`;
newer half-written ones are removed with a log line).

Divergence: a logged loss or grad_norm that is NaN/inf, or a trained weight that is not finite at the end,
fails the node with a NodeRunError naming learning_rate, so no NaN model is saved or cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError, RunCancelled
from flowstudio.core.node import NodeParams, PathField
from flowstudio.core.values import Artifact, to_jsonable

OOM_HINT = ("lower batch_size (raise grad_accumulation to keep the effective batch), connect a model.lora node, "
            "lower max_length, or turn on gradient_checkpointing")
NUMERIC_LOGS_SKIP = {"total_flos", "eval_model_preparation_time", "eval_runtime", "eval_samples_per_second",
                     "eval_steps_per_second"}
DIVERGED_HINT = ("lower learning_rate (about 1e-5 to 5e-5 for all weights, 1e-4 to 5e-4 with LoRA), add warmup "
                 "(warmup_ratio 0.05), or train in fp32 (precision)")


class TrainParams(NodeParams):
    """Params every trainer node has (each node adds its own)."""

    epochs: float = Field(1.0, gt=0, description="Passes over the training data (ignored when max_steps > 0)")
    max_steps: int = Field(0, ge=0, description="Stop after this many optimizer steps (0: use epochs)")
    learning_rate: float = Field(2e-5, gt=0, description="Peak learning rate (LoRA usually wants ~1e-4 to 5e-4)")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts",
                          "polynomial"] = Field("linear", description="Learning-rate schedule after warmup")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Share of steps spent warming up the learning rate")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    batch_size: int = Field(4, ge=1, description="Examples per device per step")
    grad_accumulation: int = Field(1, ge=1, description="Steps to accumulate before each update "
                                   "(effective batch = batch_size x grad_accumulation)")
    max_length: int = Field(512, ge=8, description="Longest sequence in tokens (longer ones are truncated)")
    gradient_checkpointing: bool = Field(False, description="Recompute activations to save memory (slower)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="auto: bf16 (or fp16) on "
                                                                 "capable GPUs, fp32 on CPU")
    seed: int = Field(42, description="Seed for initialisation, shuffling and dropout")
    logging_steps: int = Field(5, ge=1, description="Report train metrics every N steps")
    eval_steps: int = Field(0, ge=0, description="Evaluate every N steps (0: before and after training only)")
    save_steps: int = Field(0, ge=0, description="Also keep a checkpoint every N steps (a stop always saves one)")
    # launcher=accelerate: see nodes/training/launch (the same run() in every rank, under `accelerate launch`)
    launcher: Literal["single", "accelerate"] = Field("single", description="single: train in this node's "
                                                      "worker process; accelerate: `accelerate launch` it in "
                                                      "num_processes processes (one per GPU; gloo on a CPU)")
    num_processes: int = Field(2, ge=1, le=64, description="Processes for launcher=accelerate; batch_size is per "
                               "process (global batch = batch_size x grad_accumulation x num_processes)")
    accelerate_config: Literal["ddp", "fsdp2", "zero2", "zero3", "file"] = Field(
        "ddp", description="For launcher=accelerate: DDP, FSDP2, DeepSpeed ZeRO-2/3 (need deepspeed), or "
        "file: accelerate_config_file")
    accelerate_config_file: str = PathField("", "An `accelerate config` YAML file, for accelerate_config=file",
                                            filters="accelerate config (*.yaml *.yml *.json)")


def precision_kwargs(precision: str, device: str) -> dict[str, Any]:
    import torch

    if device == "cpu":
        if precision in ("bf16", "fp16"):
            # bf16 autocast works on CPU; fp16 does not
            return {"use_cpu": True, "bf16": precision == "bf16", "fp16": False}
        return {"use_cpu": True, "bf16": False, "fp16": False}
    if precision == "auto":
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16}
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def weights_dtype(meta: Mapping[str, Any], lora: Any) -> str:
    """The dtype to load a model that is about to be trained: float32 when all its weights are trained
    (they are the optimizer's master weights); with LoRA the frozen base keeps the model's dtype (the
    adapters are made float32 by `fp32_master_weights`). Compute precision is `precision`, under autocast."""
    from flowstudio.nodes.hf.loading import TRAINABLE_DTYPE

    return str(meta.get("dtype", "auto")) if lora else TRAINABLE_DTYPE


def training_kwargs(params: TrainParams, ctx: Any, device: str, has_eval: bool) -> dict[str, Any]:
    """Keyword arguments shared by SFTConfig / RewardConfig / DPOConfig."""
    kwargs: dict[str, Any] = {
        "output_dir": str(ctx.checkpoint_dir),
        "num_train_epochs": params.epochs,
        "max_steps": params.max_steps if params.max_steps > 0 else -1,
        "learning_rate": params.learning_rate,
        "lr_scheduler_type": params.lr_scheduler,
        "warmup_steps": params.warmup_ratio,  # a float < 1 is a share of the total steps
        "weight_decay": params.weight_decay,
        "per_device_train_batch_size": params.batch_size,
        "per_device_eval_batch_size": params.batch_size,
        "gradient_accumulation_steps": params.grad_accumulation,
        "max_length": params.max_length,
        "activation_checkpointing": params.gradient_checkpointing,
        "seed": params.seed,
        "data_seed": params.seed,
        "logging_steps": params.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps" if params.save_steps else "no",
        "save_steps": params.save_steps or 500,
        "save_total_limit": 3,
        "eval_strategy": "steps" if (has_eval and params.eval_steps) else "no",
        "eval_steps": params.eval_steps or None,
        "report_to": [],
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "ddp_find_unused_parameters": False,  # launcher=accelerate: every parameter takes part in each step
        "remove_unused_columns": True,
    }
    kwargs.update(precision_kwargs(params.precision, device))
    return kwargs


def check_finite_logs(logs: Mapping[str, Any], step: int, learning_rate: float) -> None:
    """Raise NodeRunError when a logged loss or gradient norm is NaN or infinite: the training diverged, and
    what it would save is not a model."""
    for name, value in logs.items():
        if (name == "loss" or name.endswith("_loss") or name == "grad_norm") and isinstance(value, int | float) \
                and not isinstance(value, bool) and not math.isfinite(value):
            if step <= 1:  # logged from the weights before the first update: the input model is broken
                raise NodeRunError(f"{name} is {value} before training started: the input model computes NaN "
                                   "or infinite values", field="model",
                                   hint="check the input model (e.g. one trained to NaN, or fp16 that overflows)")
            raise NodeRunError(f"training diverged: {name} became {value} at step {step} "
                               f"(learning_rate {learning_rate:g}); the model was not saved",
                               hint=DIVERGED_HINT, field="learning_rate")


def check_finite_weights(model: Any, step: int, learning_rate: float) -> None:
    """Raise NodeRunError when a trained weight is NaN or infinite (a divergence after the last logged step:
    the Trainer averages NaN step losses away in its logs, so the weights are the last word)."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad and not bool(torch.isfinite(param).all()):
                raise NodeRunError(f"training diverged: weight {name} is not finite after step {step} "
                                   f"(learning_rate {learning_rate:g}); the model was not saved",
                                   hint=DIVERGED_HINT, field="learning_rate")


def phase(ctx: Any, trainer: Any, message: str) -> None:
    """Progress of a phase after (or around) the training steps: the step stays the training step (so a
    progress bar or a "stop at step N" reads the same), the message names the phase and its own count."""
    ctx.progress(int(trainer.state.global_step), int(trainer.state.max_steps or 0) or None, message)


def make_callback(ctx: Any) -> Any:
    """A TrainerCallback that streams progress and metrics to `ctx`, stops (with a checkpoint) on cancel, fails
    the node when the loss is no longer finite, and marks each checkpoint complete once it is written."""
    from flowstudio.nodes.hf.checkpoints import mark_complete
    from transformers import TrainerCallback

    class FlowStudioCallback(TrainerCallback):
        def __init__(self) -> None:
            self.stopped_at: int | None = None
            self.logs: dict[str, float] = {}

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ctx.progress(state.global_step, state.max_steps, "training")

        def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # evaluation batches: "12/40 evaluating" instead of silence at the last training step
            loader = kwargs.get("eval_dataloader")
            total = len(loader) if loader is not None and hasattr(loader, "__len__") else None
            done = getattr(self, "eval_batches", 0)
            self.eval_batches = 1 if total and done >= total else done + 1
            count = f"{self.eval_batches}/{total}" if total else str(self.eval_batches)
            ctx.progress(state.global_step, state.max_steps or None, f"evaluating {count}")

        def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.eval_batches = 0

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ctx.progress(state.global_step, state.max_steps)
            if ctx.cancelled() and self.stopped_at is None:
                self.stopped_at = state.global_step
                control.should_training_stop = True
                control.should_save = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
                   **kwargs: Any) -> None:
            for name, value in (logs or {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool) and name not in NUMERIC_LOGS_SKIP:
                    self.logs[name] = float(value)
                    ctx.metric(name, float(value), state.global_step)
            check_finite_logs(logs or {}, state.global_step, args.learning_rate)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # called after the Trainer wrote the whole checkpoint (see nodes/hf/checkpoints.py)
            if state.is_world_process_zero:
                mark_complete(Path(args.output_dir) / f"checkpoint-{state.global_step}")

    return FlowStudioCallback()


def fingerprint(params: NodeParams, inputs: Mapping[str, Any]) -> str:
    data = {"params": params.model_dump(mode="json"),
            "inputs": {k: to_jsonable(v) for k, v in sorted(inputs.items())}}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:20]


def prepare_resume(ctx: Any, fp: str) -> tuple[str | None, dict[str, Any]]:
    """`_prepare_resume`; under launcher=accelerate rank 0 cleans up and writes first, then the others read."""
    with main_process_first(ctx):
        return _prepare_resume(ctx, fp)


def _prepare_resume(ctx: Any, fp: str) -> tuple[str | None, dict[str, Any]]:
    """The checkpoint to resume from (None: start fresh) and the lineage so far: the newest complete one
    (newer ones a kill left half written are removed)."""
    from flowstudio.nodes.hf.checkpoints import newest_complete_checkpoint

    ckpt_dir = Path(ctx.checkpoint_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    lineage_file = ckpt_dir / "lineage.json"
    lineage: dict[str, Any] = {"fingerprint": fp, "segments": []}
    same_job = False
    if lineage_file.exists():
        old = json.loads(lineage_file.read_text(encoding="utf-8"))
        segments = old.get("segments") or [{}]
        if old.get("fingerprint") == fp and segments[-1].get("status") != "finished":
            lineage, same_job = old, True
        else:
            if old.get("fingerprint") != fp:
                ctx.log("params or inputs changed since the last checkpoint: starting fresh")
            for child in ckpt_dir.glob("checkpoint-*"):
                shutil.rmtree(child, ignore_errors=True)
    else:
        for child in ckpt_dir.glob("checkpoint-*"):  # not ours: no lineage says what made them
            shutil.rmtree(child, ignore_errors=True)
    # a stopped run, or one that failed after a periodic checkpoint (save_steps), continues from its last one
    found = newest_complete_checkpoint(ckpt_dir, ctx) if same_job else None
    last = str(found) if found is not None else None
    if last:
        ctx.log(f"resuming from {Path(last).name}")
    _write_lineage(ctx, lineage)
    return last, lineage


def _write_lineage(ctx: Any, lineage: dict[str, Any]) -> None:
    if not on_main_process(ctx):  # launcher=accelerate: rank 0 keeps the books
        return
    path = Path(ctx.checkpoint_dir) / "lineage.json"
    path.write_text(json.dumps(lineage, indent=2), encoding="utf-8")


def on_main_process(ctx: Any) -> bool:
    """False only in the ranks other than 0 of launcher=accelerate (`launch/rank_context.py`)."""
    return bool(getattr(ctx, "is_main_process", True))


def main_process_first(ctx: Any) -> contextlib.AbstractContextManager[Any]:
    """Under launcher=accelerate rank 0 runs the block first, the other ranks after it; else just the block."""
    first = getattr(ctx, "main_process_first", None)
    return first() if first is not None else contextlib.nullcontext()


def is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def quiet_trainer(trainer: Any) -> Any:
    """Drop the callbacks that print to stdout/stderr: progress reaches the user as events instead."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def quiet_libraries() -> None:
    """No progress bars from datasets / transformers / huggingface_hub on the console."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def run_training(trainer: Any, ctx: Any, callback: Any, resume: str | None, lineage: dict[str, Any]) -> Any:
    """trainer.train() with resume, lineage bookkeeping, RunCancelled on stop and a clear OOM error."""
    quiet_trainer(trainer)
    start = int(Path(resume).name.split("-")[-1]) if resume else 0
    segment: dict[str, Any] = {"start_step": start, "resumed_from": Path(resume).name if resume else None}
    try:
        allow_distributed_wrap(trainer)
        result = trainer.train(resume_from_checkpoint=resume)
        check_finite_weights(trainer.model, int(trainer.state.global_step), trainer.args.learning_rate)
    except Exception as err:
        state = getattr(trainer, "state", None)
        segment.update(end_step=int(getattr(state, "global_step", start) or start), status="failed")
        lineage["segments"].append(segment)
        _write_lineage(ctx, lineage)
        if is_oom(err):
            raise NodeRunError(f"out of memory while training: {str(err).splitlines()[0][:200]}",
                               hint=OOM_HINT, field="batch_size") from None
        raise
    step = int(trainer.state.global_step)
    if callback.stopped_at is not None:
        segment.update(end_step=step, status="stopped", checkpoint=f"checkpoint-{step}")
        lineage["segments"].append(segment)
        _write_lineage(ctx, lineage)
        raise RunCancelled(f"stopped at step {step} of {trainer.state.max_steps}; checkpoint saved in "
                           f"{Path(ctx.checkpoint_dir) / f'checkpoint-{step}'} (run again to resume)")
    segment.update(end_step=step, status="finished")
    lineage["segments"].append(segment)
    _write_lineage(ctx, lineage)
    return result


def allow_distributed_wrap(trainer: Any) -> None:
    """Under launcher=accelerate, let trainer.train() wrap the model in DDP even after a trainer.evaluate().

    evaluate() prepares the model "for evaluation" (no DDP wrapper) and accelerate marks it prepared, so train()
    then skips the wrapping: no gradient all-reduce, every rank trains its own copy on half the data (measured:
    step-1 grad_norm 3.45 against 3.30 single-process). Dropping the mark restores the wrapping."""
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is None or accelerator.num_processes <= 1:
        return
    model = trainer.model
    if getattr(model, "_is_accelerate_prepared", False) and trainer.model_wrapped is model:
        model._is_accelerate_prepared = False
        accelerator._models[:] = [m for m in accelerator._models if m is not model]


def check_cancel(ctx: Any) -> None:
    if ctx.cancelled():
        raise RunCancelled("stopped before training started")


def final_metrics(callback: Any, result: Any, extra: Mapping[str, float], ctx: Any = None,
                  step: int | None = None) -> dict[str, float]:
    """The node's Metrics output: last logged values, the trainer's summary and the node's own measures."""
    if ctx is not None:
        for name, value in extra.items():
            ctx.metric(name, float(value), step)
    metrics = {k: v for k, v in callback.logs.items() if not k.startswith("train_")}
    metrics.update({k: float(v) for k, v in (result.metrics or {}).items()
                    if isinstance(v, int | float) and k not in NUMERIC_LOGS_SKIP})
    metrics.update({k: float(v) for k, v in extra.items()})
    return metrics


def lineage_meta(lineage: dict[str, Any]) -> list[dict[str, Any]]:
    return list(lineage.get("segments", []))


def input_model_dir(model: Any, ctx: Any, device: str) -> tuple[Path, dict[str, Any]]:
    """The directory of the input model as a full model (an adapter is merged into work_dir/base first)."""
    from flowstudio.nodes.hf.loading import (
        artifact_path,
        is_adapter_dir,
        load_causal_lm,
        load_tokenizer,
        save_model_dir,
    )

    path = artifact_path(model, "model", "model")
    meta = dict(model.meta or {}) if isinstance(model, Artifact) else {}
    if is_adapter_dir(path):
        base = Path(ctx.work_dir) / "base"
        with main_process_first(ctx):  # launcher=accelerate: rank 0 merges, the others find it done
            if not (base / "config.json").exists():
                ctx.log("the input model is a LoRA adapter: merging it into a full model first")
                merged = load_causal_lm(path, "float32", "cpu", bool(meta.get("trust_remote_code")))
                save_model_dir(merged, load_tokenizer(path), base)
        path = base
    return path.resolve(), meta


def fit_embeddings(model: Any, tokenizer: Any, ctx: Any) -> None:
    """Grow the embedding matrix when the connected tokenizer has more tokens than the model knows."""
    size = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > size:
        ctx.log(f"the tokenizer has {len(tokenizer)} tokens, the model {size}: resizing the embeddings")
        model.resize_token_embeddings(len(tokenizer))
    if getattr(model.config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
