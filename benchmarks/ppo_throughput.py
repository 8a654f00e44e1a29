"""PPO throughput: FlowStudio's `train.ppo` loop against TRL 0.11.4's PPOv2Trainer, the last PPO trainer TRL had.

Both sides get the same policy, the same prompt token ids (the built-in preference set's prompts), the same
reward model (the policy's backbone with a seeded random score head; the value model starts from it), and
the same shape: batch, response length, PPO epochs, minibatches and micro-batches, temperature 0.7,
β = 0.05, the same learning rate with linear decay, AdamW (eps 1e-5, weight decay 0.01), no grad clipping,
no missing-EOS penalty. TRL runs in its own venv (created once under ~/.cache/flowstudio-bench/, see
ANCHOR_PACKAGES) as a subprocess; `benchmarks/anchors/trl0114_ppo.py` is its script.

samples/s = episodes (prompt → response → PPO epochs) per second over the timed updates (the first update
of each side is a warm-up and not timed). objective = reward − β·KL (`objective/rlhf_reward`), the mean
over the last three updates of each side. Runs alternate ours / TRL `--repeats` times; ratios use the
median run of each side.

    python benchmarks/ppo_throughput.py                                   # tiny-llama, CPU, one thread
    python benchmarks/ppo_throughput.py --model builtin:smollm2-135m-instruct --device cuda
    python benchmarks/ppo_throughput.py --model random-llama-1b --device cuda   # random ~1B Llama (speed only)
    python benchmarks/ppo_throughput.py --append                          # add a section to RESULTS.md

On a GPU it also prints model FLOPs utilisation (useful model FLOPs / s / 989e12, H100/H200 dense bf16).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Figure, emit  # noqa: E402

ANCHOR_PACKAGES = ["torch==2.13.0", "trl==0.11.4", "transformers==4.46.3", "accelerate==1.0.1", "datasets<3.2",
                   "rich"]  # rich: imported by trl 0.11.4 but missing from its declared dependencies
ANCHOR_VENV = Path.home() / ".cache" / "flowstudio-bench" / "trl0114-venv"
ANCHOR_SCRIPT = Path(__file__).resolve().parent / "anchors" / "trl0114_ppo.py"
PEAK_FLOPS = 989e12  # H100/H200 dense bf16
RANDOM_1B = {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32,
             "num_key_value_heads": 4, "max_position_embeddings": 2048, "tie_word_embeddings": False}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="builtin:tiny-llama",
                   help="builtin:tiny-llama, builtin:smollm2-135m-instruct, a model dir, or random-llama-1b")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--updates", type=int, default=6, help="timed updates per run (after one warm-up update)")
    p.add_argument("--repeats", type=int, default=2, help="alternating runs of each side")
    p.add_argument("--batch", type=int, default=16, help="episodes per update")
    p.add_argument("--mini-batch", type=int, default=8)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--ppo-epochs", type=int, default=4)
    p.add_argument("--response-length", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=3e-5)
    p.add_argument("--skip-anchor", action="store_true", help="measure FlowStudio's PPO only")
    p.add_argument("--append", action="store_true", help="append a section to benchmarks/RESULTS.md")
    p.add_argument("--note", default="", help="words about the machine for RESULTS.md (e.g. 'busy: 7 test runs')")
    return p.parse_args()


# ------------------------------------------------------------------------------------------- inputs


def setup(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The policy dir, a reward model with a seeded random head, the tokenizer and the prompt token ids."""
    import torch
    from flowstudio.nodes.data.storage import builtin_dataset_path, read_data
    from flowstudio.nodes.hf.loading import load_tokenizer, resolve_model_source
    from flowstudio.nodes.rl.ppo import setup as ppo_setup
    from transformers import AutoModelForSequenceClassification

    if args.model == "random-llama-1b":
        model_dir = random_llama(work / "policy")
    else:
        model_dir = resolve_model_source(args.model, None)
    tok = load_tokenizer(model_dir)
    torch.manual_seed(0)
    rm = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, dtype=torch.float32)
    rm.config.pad_token_id = tok.pad_token_id
    rm_dir = work / "rm"
    rm.save_pretrained(rm_dir)
    tok.save_pretrained(rm_dir)
    del rm
    ds = read_data(builtin_dataset_path("preference"))
    prompts = [ppo_setup.policy_text(tok, p) for p in ds["prompt"]]
    ids = ppo_setup.tokenize_prompts(prompts, tok, 256)
    params = count_params(model_dir)
    return {"model_dir": model_dir, "rm_dir": rm_dir, "tok": tok, "prompts": prompts, "ids": ids, "params": params}


def random_llama(out: Path) -> Path:
    """A randomly initialised ~1B Llama (TinyLlama-1.1B's shape) with tiny-llama's tokenizer: fine for speed."""
    import torch
    from flowstudio.nodes.hf.loading import load_tokenizer, resolve_model_source
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = load_tokenizer(resolve_model_source("builtin:tiny-llama", None))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, **RANDOM_1B)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def count_params(model_dir: Path) -> int:
    """Parameters in a model dir's safetensors files, read from their headers."""
    import math

    from safetensors import safe_open

    total = 0
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(f), "pt") as fh:
            total += sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())  # noqa: SIM118
    return total


# ------------------------------------------------------------------------------------------- our side


def bench_flowstudio(args: argparse.Namespace, env: dict[str, Any], rollout_batch: int = 0) -> dict[str, Any]:
    """`rollout_batch` 0 is the node's default (sample in chunks of the minibatch size)."""
    from flowstudio.nodes.hf.loading import load_causal_lm
    from flowstudio.nodes.rl.ppo import setup as ppo_setup
    from flowstudio.nodes.rl.ppo.trainer import PPOConfig, PPOTrainer

    tok = env["tok"]
    policy = load_causal_lm(env["model_dir"], dtype="float32", device=args.device)
    reference = load_causal_lm(env["model_dir"], dtype="float32", device=args.device).requires_grad_(False)
    rm = ppo_setup.load_scalar_model(env["rm_dir"], args.device, trainable=False)
    value = ppo_setup.load_scalar_model(env["rm_dir"], args.device, trainable=True)
    scorer = ppo_setup.reward_model_scorer(rm, tok, tok, args.device,
                                           {tuple(i): p for i, p in zip(env["ids"], env["prompts"], strict=True)})
    cfg = PPOConfig(updates=args.updates + 1, batch_size=args.batch, mini_batch_size=args.mini_batch,
                    micro_batch_size=args.micro_batch, ppo_epochs=args.ppo_epochs, learning_rate=args.learning_rate,
                    response_length=args.response_length, missing_eos_penalty=0.0, temperature=0.7, kl_coef=0.05,
                    rollout_batch_size=rollout_batch)
    trainer = PPOTrainer(cfg, policy, value, scorer, env["ids"], eos_id=tok.eos_token_id,
                         pad_id=ppo_setup.pad_id_for(tok), reference=reference, device=args.device)
    trainer.step()  # warm-up, not timed
    times = []
    for _ in range(args.updates):
        start = time.perf_counter()
        trainer.step()
        _sync(args.device)
        times.append(time.perf_counter() - start)
    return summarise(args, times, [h["objective/rlhf_reward"] for h in trainer.history],
                     [h["objective/kl"] for h in trainer.history])


# --------------------------------------------------------------------------------------------- anchor


def anchor_python() -> Path:
    """The anchor venv's interpreter, creating the venv on first use (a few minutes; cached)."""
    python = ANCHOR_VENV / "bin" / "python"
    check = "import trl, transformers; assert trl.__version__ == '0.11.4' and transformers.__version__ == '4.46.3'"
    if python.exists() and subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0:
        return python
    tmp = ANCHOR_VENV.with_name(ANCHOR_VENV.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"creating the TRL 0.11.4 anchor venv in {ANCHOR_VENV} (once) ...", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(tmp)], check=True)
    subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", *ANCHOR_PACKAGES], check=True)
    shutil.rmtree(ANCHOR_VENV, ignore_errors=True)
    tmp.rename(ANCHOR_VENV)
    return python


def stage_for_transformers_446(src: Path, dst: Path) -> Path:
    """A view of a model dir that transformers 4.46 loads the same way: the weights linked, config.json with
    `rope_theta` at the top level (transformers 5 nests it in `rope_parameters`, which 4.46 ignores)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in Path(src).iterdir():
        if f.name != "config.json" and f.is_file():
            (dst / f.name).symlink_to(f.resolve())
    cfg = json.loads((Path(src) / "config.json").read_text(encoding="utf-8"))
    rope = cfg.get("rope_parameters") or {}
    if "rope_theta" in rope:
        cfg.setdefault("rope_theta", rope["rope_theta"])
    cfg.setdefault("torch_dtype", cfg.get("dtype", "float32"))
    (dst / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    return dst


def bench_anchor(args: argparse.Namespace, env: dict[str, Any], work: Path, python: Path) -> dict[str, Any]:
    tok = env["tok"]
    stage = work / "anchor"
    shutil.rmtree(stage, ignore_errors=True)
    tok_dir = stage / "tokenizer"
    tok.save_pretrained(tok_dir)
    spec = {
        "model_dir": str(stage_for_transformers_446(env["model_dir"], stage / "policy")),
        "rm_dir": str(stage_for_transformers_446(env["rm_dir"], stage / "rm")),
        "tokenizer_file": str(tok_dir / "tokenizer.json"),
        "special_tokens": {k: getattr(tok, k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")
                           if getattr(tok, k, None) is not None},
        "prompt_ids": env["ids"], "device": args.device, "threads": args.threads, "seed": 0,
        "shape": {"batch": args.batch, "mini_batch": args.mini_batch, "micro_batch": args.micro_batch,
                  "ppo_epochs": args.ppo_epochs, "response_length": args.response_length,
                  "updates": args.updates + 1, "learning_rate": args.learning_rate, "temperature": 0.7,
                  "kl_coef": 0.05},
    }
    (stage / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    child_env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
                 "HF_HUB_OFFLINE": "1", "PYTHONPATH": "", "ACCELERATE_MIXED_PRECISION": "bf16" if args.device ==
                 "cuda" else "no"}
    proc = subprocess.run([str(python), str(ANCHOR_SCRIPT), str(stage / "spec.json"), str(stage / "result.json")],
                          env=child_env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"the TRL 0.11.4 anchor failed:\n{proc.stderr[-4000:]}")
    result = json.loads((stage / "result.json").read_text(encoding="utf-8"))
    times = result["update_seconds"][1:]  # the first update is the warm-up
    logs = result["logs"]
    return summarise(args, times, [e["objective/rlhf_reward"] for e in logs], [e["objective/kl"] for e in logs])


# ------------------------------------------------------------------------------------------- summary


def summarise(args: argparse.Namespace, times: list[float], objective: list[float], kl: list[float]) -> dict:
    total = sum(times)
    return {"samples_per_s": args.batch * len(times) / total, "s_per_update_median": statistics.median(times),
            "objective": statistics.fmean(objective[-3:]), "kl": statistics.fmean(kl[-3:]),
            "updates_timed": len(times)}


def useful_flops_per_update(args: argparse.Namespace, env: dict[str, Any]) -> float:
    """Model FLOPs of one update that both implementations must do (2N per token forward, 6N forward+backward):
    generation, reference + value + reward forwards at rollout, policy + value trained for every PPO epoch."""
    n = env["params"]
    seq = statistics.fmean(len(i) for i in env["ids"]) + args.response_length
    b, t = args.batch, args.response_length
    return b * t * 2 * n + b * seq * 3 * 2 * n + args.ppo_epochs * b * seq * 2 * 6 * n


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def main() -> None:
    args = parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(args.threads)
    python = None if args.skip_anchor else anchor_python()
    ours: list[dict[str, Any]] = []
    ours64: list[dict[str, Any]] = []  # with TRL's rollout batch (64) instead of the node's default
    theirs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = setup(args, work)
        for i in range(args.repeats):
            ours.append(bench_flowstudio(args, env))
            ours64.append(bench_flowstudio(args, env, rollout_batch=64))
            line = (f"repeat {i + 1}: FlowStudio {ours[-1]['samples_per_s']:.2f} samples/s, with rollout batch 64 "
                    f"{ours64[-1]['samples_per_s']:.2f}")
            if python is not None:
                theirs.append(bench_anchor(args, env, work, python))
                line += f", TRL 0.11.4 {theirs[-1]['samples_per_s']:.2f} samples/s"
            print(line, file=sys.stderr)
    shape = (f"batch {args.batch}, {args.response_length} new tokens, {args.ppo_epochs} PPO epochs × minibatch "
             f"{args.mini_batch} (micro {args.micro_batch}), lr {args.learning_rate:g}")
    med = _median_run(ours)
    print(f"model {args.model} ({env['params'] / 1e6:.1f} M params) on {args.device}, {args.threads} thread(s); {shape}")
    _print_side("FlowStudio train.ppo", ours, med)
    med64 = _median_run(ours64)
    _print_side("  rollout batch 64", ours64, med64)
    figures = [Figure("PPO samples/s, FlowStudio", med["samples_per_s"], "samples/s")]
    ratio = None
    if theirs:
        anchor = _median_run(theirs)
        _print_side("TRL 0.11.4 PPOv2", theirs, anchor)
        ratio = med["samples_per_s"] / anchor["samples_per_s"]
        ratio64 = med64["samples_per_s"] / anchor["samples_per_s"]
        best = max(r["samples_per_s"] for r in theirs)
        print(f"best runs: FlowStudio / TRL {max(r['samples_per_s'] for r in ours) / best:.2f} at the node's "
              f"defaults, {max(r['samples_per_s'] for r in ours64) / best:.2f} with rollout batch 64")
        print(f"ratio FlowStudio / TRL 0.11.4 samples/s: {ratio:.2f} at the node's defaults, {ratio64:.2f} with "
              f"TRL's rollout batch (goal >= 1.0, then >= 1.5); objective (reward - beta*KL, last 3 updates): "
              f"{med['objective']:.4f} / {med64['objective']:.4f} vs {anchor['objective']:.4f}")
        figures += [Figure("PPO samples/s, FlowStudio / TRL 0.11.4 PPOv2Trainer", ratio, "x",
                           anchor="TRL 0.11.4 PPOv2Trainer, same model, prompts, RM and shape", goal=">= 1.5",
                           met=ratio >= 1.5),
                    Figure("PPO samples/s, FlowStudio with rollout batch 64 / TRL 0.11.4", ratio64, "x",
                           anchor="TRL 0.11.4 PPOv2Trainer (local_rollout_forward_batch_size 64)", goal=">= 1.5",
                           met=ratio64 >= 1.5),
                    Figure("PPO objective (reward - beta*KL), FlowStudio", med["objective"]),
                    Figure("PPO objective (reward - beta*KL), TRL 0.11.4", anchor["objective"])]
    if args.device == "cuda":
        flops = useful_flops_per_update(args, env) / args.batch
        for name, side in (("FlowStudio", med), ("TRL 0.11.4", _median_run(theirs) if theirs else None)):
            if side is not None:
                mfu = side["samples_per_s"] * flops / PEAK_FLOPS
                print(f"MFU {name}: {100 * mfu:.1f} % of {PEAK_FLOPS / 1e12:.0f} TFLOP/s")
                figures.append(Figure(f"PPO MFU, {name}", 100 * mfu, "%"))
    machine = f"{platform.machine()} {args.device}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    emit("ppo_throughput", figures, notes=f"{args.model}; {shape}", machine=machine)
    if args.append:
        append_results(args, shape, {"FlowStudio `train.ppo` (node defaults)": ours,
                                     "FlowStudio, `rollout_batch_size` 64": ours64,
                                     "TRL 0.11.4 PPOv2Trainer": theirs}, env, machine)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run (of an even number, the upper of the middle two)."""
    return sorted(runs, key=lambda r: r["samples_per_s"])[len(runs) // 2]


def _print_side(name: str, runs: list[dict[str, Any]], med: dict[str, Any]) -> None:
    print(f"{name:22} samples/s median {med['samples_per_s']:.2f} (runs: "
          + ", ".join(f"{r['samples_per_s']:.2f}" for r in runs)
          + f"), s/update {med['s_per_update_median']:.3f}, objective {med['objective']:.4f}, KL {med['kl']:.4f}")


def append_results(args: argparse.Namespace, shape: str, sides: dict[str, list[dict]], env: dict[str, Any],
                   machine: str) -> None:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["", f"### PPO against TRL 0.11.4's PPOv2Trainer ({when})", "",
             f"`python benchmarks/ppo_throughput.py --model {args.model} --device {args.device}`: {shape}; "
             f"{env['params'] / 1e6:.1f} M params; {args.updates} timed updates per run, {args.repeats} alternating "
             f"runs per side. Machine: {machine}. {args.note}", "",
             "| | samples/s (median; runs) | s / update | reward − β·KL (last 3 updates) | KL |", "|---|---|---|---|---|"]
    for name, runs in sides.items():
        if runs:
            m = _median_run(runs)
            lines.append(f"| {name} | {m['samples_per_s']:.2f}; " + ", ".join(f"{r['samples_per_s']:.2f}" for r in runs)
                         + f" | {m['s_per_update_median']:.3f} | {m['objective']:.4f} | {m['kl']:.4f} |")
    theirs = sides.get("TRL 0.11.4 PPOv2Trainer")
    if theirs:
        anchor = _median_run(theirs)["samples_per_s"]
        lines += ["", "Ratios to TRL 0.11.4 (samples/s, medians; goal ≥ 1.0, then ≥ 1.5): " + "; ".join(
            f"{name} **{_median_run(runs)['samples_per_s'] / anchor:.2f}×**" for name, runs in sides.items()
            if runs is not theirs and runs) + "."]
    path = Path(__file__).with_name("RESULTS.md")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
