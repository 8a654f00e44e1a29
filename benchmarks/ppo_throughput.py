"""PPO throughput: updates/s and samples/s of FlowStudio's PPO, beside TRL's RLOO trainer as the anchor.

Same policy, same prompts (the built-in preference set), same reward model (the policy's backbone with a
seeded random score head), same completion length and number of completions per step.

- PPO "update": sample `--batch` responses, score them, then `--ppo-epochs` passes over minibatches of
  `--mini-batch` (policy + value model, gradient accumulation over micro-batches).
- RLOO "step": `--batch` completions (`--batch / 2` prompts × 2 generations), one optimizer step
  (TRL's defaults: num_iterations=1, β=0.05 with a reference model).
samples/s = completions generated and trained on per second, the comparable number.

    python benchmarks/ppo_throughput.py                           # tiny-llama on the CPU, one thread
    python benchmarks/ppo_throughput.py --model builtin:smollm2-135m-instruct --device cuda
    python benchmarks/ppo_throughput.py --append                  # add the numbers to benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="builtin:tiny-llama")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--updates", type=int, default=6, help="timed PPO updates / RLOO steps (after one warm-up)")
    p.add_argument("--batch", type=int, default=16, help="completions per update / step")
    p.add_argument("--mini-batch", type=int, default=8)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--ppo-epochs", type=int, default=4)
    p.add_argument("--response-length", type=int, default=32)
    p.add_argument("--skip-rloo", action="store_true")
    p.add_argument("--append", action="store_true", help="append a row to benchmarks/RESULTS.md under 'PPO'")
    return p.parse_args()


def setup(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch
    from flowstudio.nodes.data.storage import builtin_dataset_path, read_data
    from flowstudio.nodes.hf.loading import load_tokenizer, resolve_model_source
    from transformers import AutoModelForSequenceClassification

    model_dir = resolve_model_source(args.model, None)
    tok = load_tokenizer(model_dir)
    torch.manual_seed(0)
    rm = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    rm.config.pad_token_id = tok.pad_token_id
    rm_dir = work / "rm"
    rm.save_pretrained(rm_dir)
    tok.save_pretrained(rm_dir)
    ds = read_data(builtin_dataset_path("preference"))
    prompts = [p if isinstance(p, str) else tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
               for p in ds["prompt"]]
    return {"model_dir": model_dir, "rm_dir": rm_dir, "tok": tok, "prompts": prompts}


def bench_ppo(args: argparse.Namespace, env: dict[str, Any]) -> dict[str, float]:
    from flowstudio.nodes.hf.loading import load_causal_lm
    from flowstudio.nodes.rl.ppo import setup as ppo_setup
    from flowstudio.nodes.rl.ppo.trainer import PPOConfig, PPOTrainer

    tok = env["tok"]
    policy = load_causal_lm(env["model_dir"], device=args.device)
    reference = load_causal_lm(env["model_dir"], device=args.device).requires_grad_(False)
    rm = ppo_setup.load_scalar_model(env["rm_dir"], args.device, trainable=False)
    value = ppo_setup.load_scalar_model(env["rm_dir"], args.device, trainable=True)
    ids = ppo_setup.tokenize_prompts(env["prompts"], tok, 256)
    scorer = ppo_setup.reward_model_scorer(rm, tok, tok, args.device,
                                           {tuple(i): p for i, p in zip(ids, env["prompts"], strict=True)})
    cfg = PPOConfig(updates=args.updates + 1, batch_size=args.batch, mini_batch_size=args.mini_batch,
                    micro_batch_size=args.micro_batch, ppo_epochs=args.ppo_epochs, learning_rate=1e-5,
                    response_length=args.response_length, missing_eos_penalty=0.0)
    trainer = PPOTrainer(cfg, policy, value, scorer, ids, eos_id=tok.eos_token_id, pad_id=ppo_setup.pad_id_for(tok),
                         reference=reference, device=args.device)
    trainer.step()  # warm-up
    times, tokens = [], []
    for _ in range(args.updates):
        start = time.perf_counter()
        m = trainer.step()
        _sync(args.device)
        times.append(time.perf_counter() - start)
        tokens.append(m["response/length"] * args.batch)
    total = sum(times)
    return {"updates_per_s": len(times) / total, "samples_per_s": args.batch * len(times) / total,
            "tokens_per_s": sum(tokens) / total, "s_per_update_median": statistics.median(times)}


def bench_rloo(args: argparse.Namespace, env: dict[str, Any], work: Path) -> dict[str, float] | str:
    try:
        from trl import RLOOConfig, RLOOTrainer
    except ImportError:
        return "RLOO is not in the installed trl"
    import datasets
    from flowstudio.nodes.hf.loading import load_causal_lm
    from transformers import AutoModelForSequenceClassification, TrainerCallback

    step_times: list[float] = []

    class Timer(TrainerCallback):
        t0 = 0.0

        def on_step_begin(self, *a: Any, **k: Any) -> None:
            Timer.t0 = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            _sync(args.device)
            step_times.append(time.perf_counter() - Timer.t0)

    cfg = RLOOConfig(output_dir=str(work / "rloo"), max_steps=args.updates + 1, per_device_train_batch_size=args.batch,
                     num_generations=2, max_completion_length=args.response_length, temperature=0.7,
                     learning_rate=1e-5, use_cpu=args.device == "cpu", bf16=False, activation_checkpointing=False,
                     logging_steps=1, save_strategy="no", report_to=[], disable_dropout=True, seed=0)
    trainer = RLOOTrainer(
        model=load_causal_lm(env["model_dir"], device=args.device),
        reward_funcs=AutoModelForSequenceClassification.from_pretrained(env["rm_dir"], num_labels=1),
        args=cfg, train_dataset=datasets.Dataset.from_list([{"prompt": p} for p in env["prompts"]]),
        processing_class=env["tok"], reward_processing_classes=env["tok"], callbacks=[Timer()])
    trainer.train()
    timed = step_times[1:]  # drop the warm-up step
    total = sum(timed)
    return {"updates_per_s": len(timed) / total, "samples_per_s": args.batch * len(timed) / total,
            "s_per_update_median": statistics.median(timed)}


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def main() -> None:
    args = parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = setup(args, work)
        ppo = bench_ppo(args, env)
        rloo = "skipped" if args.skip_rloo else bench_rloo(args, env, work)
    shape = (f"batch {args.batch}, {args.response_length} new tokens, PPO {args.ppo_epochs} epochs × "
             f"minibatch {args.mini_batch} (micro {args.micro_batch})")
    print(f"model {args.model} on {args.device} ({args.threads} thread(s)); {shape}")
    print("PPO  (FlowStudio): " + ", ".join(f"{k} {v:.3f}" for k, v in ppo.items()))
    print("RLOO (TRL):        " + (", ".join(f"{k} {v:.3f}" for k, v in rloo.items()) if isinstance(rloo, dict)
                                   else rloo))
    if args.append:
        append_results(args, shape, ppo, rloo)


def append_results(args: argparse.Namespace, shape: str, ppo: dict[str, float], rloo: dict[str, float] | str) -> None:
    path = Path(__file__).with_name("RESULTS.md")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = []
    if "\n## PPO\n" not in "\n" + text:
        lines += ["", "## PPO", "",
                  "`benchmarks/ppo_throughput.py`: FlowStudio's PPO beside TRL's RLOO on the same model, prompts "
                  "and reward model. samples/s = completions generated and trained on per second.", ""]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rloo_text = (f"RLOO {rloo['updates_per_s']:.3f} steps/s, {rloo['samples_per_s']:.2f} samples/s"
                 if isinstance(rloo, dict) else f"RLOO: {rloo}")
    lines.append(f"- {when}, {platform.machine()} {args.device} ({args.threads} thread(s)), {args.model}, {shape}: "
                 f"PPO {ppo['updates_per_s']:.3f} updates/s, {ppo['samples_per_s']:.2f} samples/s, "
                 f"{ppo['tokens_per_s']:.1f} response tokens/s; {rloo_text}")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
