"""SFT tokens/s: the `train.sft` node against a plain TRL SFTTrainer script with the same settings.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_throughput.py [--model builtin:tiny-llama] [--steps 60]
        [--lora] [--repeats 3] [--batch-size 8] [--max-length 256]

Both sides train the same model on the same data (builtin sft-chat, assistant-only loss) with the same
SFTConfig values; each side's tokens/s is TRL's own `num_tokens / train_runtime` (the training loop only,
not loading). Runs alternate node / plain / node / plain ... and the best of each is compared, because
the shared CPU is noisy; the ratio is printed for the best and for the median run of each. Goal: ratio
(node / plain) >= 0.97.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def settings(args: argparse.Namespace, out: str, device: str) -> dict:
    cpu = device == "cpu"
    return {"output_dir": out, "max_steps": args.steps, "learning_rate": 1e-3, "lr_scheduler_type": "linear",
            "per_device_train_batch_size": args.batch_size, "gradient_accumulation_steps": 1,
            "max_length": args.max_length, "logging_steps": 10, "seed": 42, "report_to": [],
            "save_strategy": "no", "gradient_checkpointing": False, "activation_checkpointing": False,
            "use_cpu": cpu, "bf16": (not cpu), "fp16": False, "assistant_only_loss": True, "packing": False,
            "disable_tqdm": True}


def plain_trl(args: argparse.Namespace, model_dir: Path, device: str) -> tuple[float, float]:
    """The script a user would write by hand: returns (tokens/s, seconds)."""
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from flowstudio.core.paths import assets_dir

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32 if device == "cpu" else torch.bfloat16)
    ds = datasets.Dataset.from_json(str(assets_dir() / "data" / "sft_chat.jsonl"))
    peft_cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM") \
        if args.lora else None
    with tempfile.TemporaryDirectory() as out:
        trainer = SFTTrainer(model=model, args=SFTConfig(**settings(args, out, device)), train_dataset=ds,
                             processing_class=tok, peft_config=peft_cfg)
        result = trainer.train()
    tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
    return tokens / result.metrics["train_runtime"], result.metrics["train_runtime"]


def flowstudio_node(args: argparse.Namespace, model_dir: Path, device: str) -> tuple[float, float]:
    from flowstudio.nodes.data.datasets import LoadData
    from flowstudio.nodes.hf.loading import model_artifact
    from flowstudio.nodes.training.trainers import SupervisedFineTune

    from flowstudio.core.node import PortValues
    from flowstudio.engine.context import LocalContext

    with tempfile.TemporaryDirectory() as root:
        r = Path(root)
        data = LoadData().run(LocalContext("d", r / "d", r / "dc"), PortValues({}),
                              LoadData.Params(source="builtin:sft-chat"))["dataset"]
        inputs = {"model": model_artifact(model_dir), "dataset": data}
        if args.lora:
            inputs["lora"] = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "auto", "bias": "none"}
        params = SupervisedFineTune.Params(max_steps=args.steps, learning_rate=1e-3, batch_size=args.batch_size,
                                           max_length=args.max_length, logging_steps=10, seed=42)
        ctx = LocalContext("sft", r / "w", r / "c", device=device)
        out = SupervisedFineTune().run(ctx, PortValues(inputs), params)
    m = out["metrics"]
    return m["num_tokens"] / m["train_runtime"], m["train_runtime"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-llama")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lora", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from flowstudio.nodes.hf.loading import resolve_model_source

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model_dir = resolve_model_source(args.model, Path.cwd())
    # warm both paths once (imports, first-call allocations), then alternate
    flowstudio_node(argparse.Namespace(**{**vars(args), "steps": 2}), model_dir, device)
    plain_trl(argparse.Namespace(**{**vars(args), "steps": 2}), model_dir, device)
    node_runs, plain_runs = [], []
    for i in range(args.repeats):
        t = time.perf_counter()
        node_runs.append(flowstudio_node(args, model_dir, device))
        plain_runs.append(plain_trl(args, model_dir, device))
        print(f"repeat {i + 1}: node {node_runs[-1][0]:,.0f} tok/s, plain TRL {plain_runs[-1][0]:,.0f} tok/s "
              f"({time.perf_counter() - t:.1f}s)", file=sys.stderr)
    node, plain = max(r[0] for r in node_runs), max(r[0] for r in plain_runs)
    what = f"{args.model}{' + LoRA r=8' if args.lora else ''}, {args.steps} steps, batch {args.batch_size}, " \
           f"max_length {args.max_length}, {device}, torch threads {torch.get_num_threads()}"
    print(f"SFT throughput ({what})")
    print(f"{'':24}{'best tok/s':>12}{'median':>10}   all runs (tok/s)")
    for name, runs in (("train.sft node", node_runs), ("plain TRL SFTTrainer", plain_runs)):
        values = [r[0] for r in runs]
        print(f"{name:24}{max(values):>12,.0f}{statistics.median(values):>10,.0f}   "
              + ", ".join(f"{v:,.0f}" for v in values))
    med_node, med_plain = statistics.median(r[0] for r in node_runs), statistics.median(r[0] for r in plain_runs)
    print(f"ratio node / plain: {node / plain:.3f} best of each, {med_node / med_plain:.3f} median of each "
          "(goal >= 0.97)")


if __name__ == "__main__":
    main()
