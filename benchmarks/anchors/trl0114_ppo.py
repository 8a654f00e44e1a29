"""The anchor of `benchmarks/ppo_throughput.py`: TRL 0.11.4's PPOv2Trainer, the last PPO trainer TRL shipped.

Runs in its own venv (torch 2.13.0, trl 0.11.4, transformers 4.46.3, accelerate 1.0.1; created by
`ppo_throughput.py`), never in FlowStudio's. Reads a JSON spec (model and reward-model directories already
made loadable by transformers 4.46, tokenizer file and special tokens, prompt token ids, the PPO shape) and
writes a JSON result: the wall time of every update (from one `on_step_end` to the next) and TRL's logged
metrics per update.

    python trl0114_ppo.py SPEC.json RESULT.json
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from typing import Any


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    import torch

    torch.set_num_threads(int(spec["threads"]))
    from datasets import Dataset
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        PreTrainedTokenizerFast,
        TrainerCallback,
    )
    from trl import PPOv2Config, PPOv2Trainer

    tok = PreTrainedTokenizerFast(tokenizer_file=spec["tokenizer_file"], **spec["special_tokens"])
    tok.padding_side = "left"
    cuda = spec["device"] == "cuda"
    dtype = torch.float32  # trained weights are float32 on both sides; bf16 only as autocast on a GPU

    def causal() -> Any:
        return AutoModelForCausalLM.from_pretrained(spec["model_dir"], torch_dtype=dtype)

    def scalar() -> Any:
        return AutoModelForSequenceClassification.from_pretrained(spec["rm_dir"], num_labels=1, torch_dtype=dtype)

    shape = spec["shape"]
    stamps: list[float] = []
    logged: list[dict[str, float]] = []

    class Timer(TrainerCallback):
        def on_train_begin(self, *a: Any, **k: Any) -> None:
            stamps.append(time.perf_counter())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **k: Any) -> None:
            logged.append({key: float(v) for key, v in (logs or {}).items() if isinstance(v, (int, float))})

    prompts = Dataset.from_dict({"input_ids": spec["prompt_ids"]})
    with tempfile.TemporaryDirectory() as out:
        cfg = PPOv2Config(
            output_dir=out, exp_name="anchor", seed=spec["seed"], report_to=[], save_strategy="no",
            logging_steps=1, disable_tqdm=True, use_cpu=not cuda, bf16=cuda,
            per_device_train_batch_size=shape["micro_batch"],
            gradient_accumulation_steps=shape["mini_batch"] // shape["micro_batch"],
            num_mini_batches=shape["batch"] // shape["mini_batch"],
            local_rollout_forward_batch_size=64,  # TRL's default: the whole batch is sampled at once
            total_episodes=shape["batch"] * shape["updates"], num_ppo_epochs=shape["ppo_epochs"],
            response_length=shape["response_length"], learning_rate=shape["learning_rate"],
            temperature=shape["temperature"], kl_coef=shape["kl_coef"], stop_token="eos",
            missing_eos_penalty=None, num_sample_generations=0,
            adam_epsilon=1e-5, weight_decay=0.01,  # FlowStudio's AdamW: eps 1e-5, torch's default decay
        )
        trainer = PPOv2Trainer(config=cfg, tokenizer=tok, policy=causal(), ref_policy=causal(),
                               reward_model=scalar(), value_model=scalar(), train_dataset=prompts,
                               eval_dataset=prompts.select(range(min(4, len(prompts)))), callbacks=[Timer()])
        trainer.train()
    times = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    result = {"update_seconds": times, "logs": [entry for entry in logged if "objective/rlhf_reward" in entry]}
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
