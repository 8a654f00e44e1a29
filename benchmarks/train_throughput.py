"""SFT tokens/s: the `train.sft` node against plain TRL SFTTrainer scripts.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_throughput.py [--model builtin:tiny-llama] [--steps 60]
        [--lora] [--repeats 3] [--batch-size 8] [--max-length 256]
    python benchmarks/train_throughput.py --model builtin:smollm2-135m-instruct   # on a GPU: bf16, fused, MFU
    python benchmarks/train_throughput.py --model random-llama-1b                 # random ~1B Llama (speed only)

Two comparisons, every side on the same model, data (builtin sft-chat minus 40 held-out rows, assistant-only
loss), steps, batch, max_length, learning rate (1e-3, linear) and seed:

1. parity — the node with `fast = false` against a plain TRL script with the same SFTConfig values
   (activation checkpointing off, padded batches). Goal: ratio >= 0.97.
2. fast vs TRL's defaults — the node as it ships (`fast = true`: padding-free batches, plus fused AdamW and
   Liger kernels on a GPU) against a plain TRL script that leaves every speed setting at TRL's default
   (activation checkpointing on, padded batches, plain AdamW). Goal: >= 1.3x tokens/s at an eval loss within
   2 % (not worse).

tokens/s is TRL's own `num_tokens / train_runtime` on every side (the training loop, not loading; pad tokens
are not counted). Runs alternate between the sides; ratios use the median run of each side. On a GPU it also
prints model FLOPs utilisation: tokens/s x 6 x parameters / 989e12 (H100/H200 dense bf16).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Figure, emit  # noqa: E402

PEAK_FLOPS = 989e12  # H100/H200 dense bf16
EVAL_ROWS = 40


def settings(args: argparse.Namespace, out: str, device: str, trl_defaults: bool = False) -> dict:
    """SFTConfig values of the plain scripts: the node's (`fast = false`) values, or with `trl_defaults` every
    speed setting left at TRL's default (activation checkpointing, padded batches, plain AdamW)."""
    cpu = device == "cpu"
    values = {"output_dir": out, "max_steps": args.steps, "learning_rate": 1e-3, "lr_scheduler_type": "linear",
              "per_device_train_batch_size": args.batch_size, "per_device_eval_batch_size": args.batch_size,
              "gradient_accumulation_steps": 1, "max_length": args.max_length, "logging_steps": 10, "seed": 42,
              "data_seed": 42, "report_to": [], "save_strategy": "no", "use_cpu": cpu, "bf16": (not cpu),
              "fp16": False, "assistant_only_loss": True, "packing": False, "disable_tqdm": True}
    if not trl_defaults:
        values.update({"gradient_checkpointing": False, "activation_checkpointing": False})
    return values


def split_data() -> tuple[Any, Any]:
    import datasets

    from flowstudio.core.paths import assets_dir

    ds = datasets.Dataset.from_json(str(assets_dir() / "data" / "sft_chat.jsonl"))
    return ds.select(range(len(ds) - EVAL_ROWS)), ds.select(range(len(ds) - EVAL_ROWS, len(ds)))


def plain_trl(args: argparse.Namespace, model_dir: Path, device: str, trl_defaults: bool = False) -> dict[str, float]:
    """The script a user would write by hand."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    train, held_out = split_data()
    peft_cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM") \
        if args.lora else None
    with tempfile.TemporaryDirectory() as out:
        trainer = SFTTrainer(model=model, args=SFTConfig(**settings(args, out, device, trl_defaults)),
                             train_dataset=train, eval_dataset=held_out, processing_class=tok, peft_config=peft_cfg)
        result = trainer.train()
        eval_loss = trainer.evaluate()["eval_loss"]
    tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
    return {"tok_s": tokens / result.metrics["train_runtime"], "eval_loss": eval_loss}


def flowstudio_node(args: argparse.Namespace, model_dir: Path, device: str, fast: bool) -> dict[str, float]:
    from flowstudio.nodes.data.datasets import LoadData
    from flowstudio.nodes.hf.loading import model_artifact
    from flowstudio.nodes.training.trainers import SupervisedFineTune

    from flowstudio.core.node import PortValues
    from flowstudio.engine.context import LocalContext

    with tempfile.TemporaryDirectory() as root:
        r = Path(root)
        train, held_out = split_data()
        data = {}
        for name, part in (("train", train), ("eval", held_out)):
            part.to_json(str(r / f"{name}.jsonl"))
            data[name] = LoadData().run(LocalContext(name, r / name, r / f"{name}c"), PortValues({}),
                                        LoadData.Params(source=str(r / f"{name}.jsonl")))["dataset"]
        inputs = {"model": model_artifact(model_dir), "dataset": data["train"], "eval_dataset": data["eval"]}
        if args.lora:
            inputs["lora"] = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "auto", "bias": "none"}
        params = SupervisedFineTune.Params(max_steps=args.steps, learning_rate=1e-3, batch_size=args.batch_size,
                                           max_length=args.max_length, logging_steps=10, seed=42, fast=fast)
        ctx = LocalContext("sft", r / "w", r / "c", device=device)
        out = SupervisedFineTune().run(ctx, PortValues(inputs), params)
    m = out["metrics"]
    return {"tok_s": m["num_tokens"] / m["train_runtime"], "eval_loss": m["eval_loss"]}


SIDES = {  # name -> how to run it
    "node, fast = false": lambda a, d, dev: flowstudio_node(a, d, dev, fast=False),
    "plain TRL, same settings": lambda a, d, dev: plain_trl(a, d, dev),
    "node, fast = true (default)": lambda a, d, dev: flowstudio_node(a, d, dev, fast=True),
    "plain TRL, TRL's defaults": lambda a, d, dev: plain_trl(a, d, dev, trl_defaults=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-llama",
                        help="builtin:tiny-llama, builtin:smollm2-135m-instruct, a model dir, or random-llama-1b")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lora", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from flowstudio.nodes.hf.loading import resolve_model_source
    from ppo_throughput import count_params, random_llama

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = random_llama(Path(tmp) / "m") if args.model == "random-llama-1b" else \
            resolve_model_source(args.model, Path.cwd())
        n_params = count_params(model_dir)
        warm = argparse.Namespace(**{**vars(args), "steps": 2})
        for run in SIDES.values():  # imports, first-call allocations
            run(warm, model_dir, device)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in SIDES}
        for i in range(args.repeats):
            t = time.perf_counter()
            for name, run in SIDES.items():
                runs[name].append(run(args, model_dir, device))
            print(f"repeat {i + 1}: " + ", ".join(f"{n} {r[-1]['tok_s']:,.0f}" for n, r in runs.items())
                  + f" tok/s ({time.perf_counter() - t:.1f}s)", file=sys.stderr)
    what = f"{args.model}{' + LoRA r=8' if args.lora else ''} ({n_params / 1e6:.1f} M params), {args.steps} " \
           f"steps, batch {args.batch_size}, max_length {args.max_length}, {device}, torch threads " \
           f"{torch.get_num_threads()}"
    print(f"SFT throughput ({what})")
    print(f"{'':30}{'median tok/s':>14}{'eval loss':>11}   all runs (tok/s)")
    med = {}
    for name, rs in runs.items():
        med[name] = sorted(rs, key=lambda r: r["tok_s"])[(len(rs) - 1) // 2]
        print(f"{name:30}{med[name]['tok_s']:>14,.0f}{med[name]['eval_loss']:>11.4f}   "
              + ", ".join(f"{r['tok_s']:,.0f}" for r in rs))
    parity = med["node, fast = false"]["tok_s"] / med["plain TRL, same settings"]["tok_s"]
    fast = med["node, fast = true (default)"]["tok_s"] / med["plain TRL, TRL's defaults"]["tok_s"]
    loss = med["node, fast = true (default)"]["eval_loss"] / med["plain TRL, TRL's defaults"]["eval_loss"]
    print(f"parity node / plain TRL at the same settings: {parity:.3f} (goal >= 0.97)")
    print(f"fast node / TRL's defaults: {fast:.2f}x tokens/s (goal >= 1.3), eval loss ratio {loss:.4f} "
          "(goal <= 1.02)")
    figures = [
        Figure("SFT tokens/s, node (fast off) / plain TRL script, same settings", parity, "x",
               anchor="plain TRL SFTTrainer script", goal=">= 0.97", met=parity >= 0.97),
        Figure("SFT tokens/s, node (fast, default) / TRL's default settings", fast, "x",
               anchor="plain TRL SFTTrainer, TRL's default speed settings", goal=">= 1.3", met=fast >= 1.3),
        Figure("SFT eval loss, node (fast) / TRL's defaults", loss, "x", anchor="plain TRL SFTTrainer",
               goal="<= 1.02", met=loss <= 1.02),
    ]
    if device == "cuda":
        for name, m in med.items():
            mfu = m["tok_s"] * 6 * n_params / PEAK_FLOPS
            print(f"MFU {name}: {100 * mfu:.1f} %")
            figures.append(Figure(f"SFT MFU, {name}", 100 * mfu, "%"))
    emit("train_throughput", figures, notes=what)


if __name__ == "__main__":
    main()
