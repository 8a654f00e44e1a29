"""`flowstudio demo`: the RLHF pipeline (SFT → reward model → PPO) on the built-in models and data, sized for
a laptop CPU, with live progress, and a summary of what changed.

It runs the shipped `rlhf_ppo` template through the same Engine as `flowstudio run`, with smaller settings
(`DEMO_SETTINGS`), so what it prints is what that template measures: the reward model's mean score of the
SFT model's and the PPO model's answers to the same held-out prompts, the PPO policy's KL to the SFT model,
the SFT loss and the reward model's held-out accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flowstudio.core.errors import FlowStudioError

TEMPLATE = "rlhf_ppo.flow.json"

# node.param=value overrides that keep the template's recipe but fit a CPU in a few minutes.
DEMO_SETTINGS: dict[str, dict[str, str]] = {
    "builtin:smollm2-135m-instruct": {
        "sft.max_steps": "20", "sft.batch_size": "4", "sft.max_length": "160",
        "reward.max_steps": "30", "reward.max_length": "160", "reward.accuracy_rows": "64",
        "ppo.updates": "6", "ppo.batch_size": "8", "ppo.mini_batch_size": "4", "ppo.micro_batch_size": "4",
        "ppo.response_length": "24",
        "split.eval_rows": "16", "eval_sft.max_rows": "16", "eval_ppo.max_rows": "16",
        "eval_sft.max_new_tokens": "24", "eval_ppo.max_new_tokens": "24",
    },
    "builtin:tiny-llama": {  # a smoke run: the numbers move, the text is gibberish
        "sft.max_steps": "20", "reward.max_steps": "30", "ppo.updates": "8",
    },
}


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run SFT → reward model → PPO on the built-in models and data, then summarise",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="builtin:smollm2-135m-instruct", choices=sorted(DEMO_SETTINGS),
                   help="the base model (default: SmolLM2-135M-Instruct; builtin:tiny-llama is a one-minute "
                        "smoke run whose text is gibberish)")
    p.add_argument("--quick", action="store_const", const="builtin:tiny-llama", dest="model",
                   help="same as --model builtin:tiny-llama")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (as `flowstudio run --device`)")
    p.add_argument("--run-dir", type=Path, default=None, help="where the run is recorded (default: a new run dir)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=run)


def template_path() -> Path:
    from flowstudio.core.paths import templates_dir

    path = templates_dir() / TEMPLATE
    if not path.is_file():
        raise FlowStudioError(f"demo: the template {TEMPLATE} is not installed (reinstall FlowStudio)")
    return path


def demo_sets(model: str) -> list[str]:
    return [f"model.source={model}", *(f"{key}={value}" for key, value in DEMO_SETTINGS[model].items())]


def what_changed(summary: dict[str, Any]) -> dict[str, float | None]:
    """The figures the demo reports, read from the run summary (None when a node did not report one)."""
    nodes = summary.get("nodes", {})

    def metric(node: str, name: str) -> float | None:
        value = nodes.get(node, {}).get("metrics", {}).get(name)
        return float(value) if isinstance(value, int | float) else None

    before, after = metric("eval_sft", "mean_reward"), metric("eval_ppo", "mean_reward")
    return {
        "reward_sft_model": before,
        "reward_ppo_model": after,
        "reward_gain": None if before is None or after is None else after - before,
        "kl_ppo_to_sft": metric("ppo", "objective/kl"),
        "sft_train_loss": metric("sft", "train_loss"),
        "reward_model_eval_accuracy": metric("reward", "eval_accuracy"),
    }


def format_changes(model: str, changes: dict[str, float | None], run_dir: str) -> str:
    def fmt(value: float | None, spec: str = ".3f") -> str:
        return "n/a" if value is None else format(value, spec)

    gain = changes["reward_gain"]
    lines = [
        "",
        f"What changed (base model {model}; held-out prompts scored by the trained reward model):",
        f"  reward of the answers   SFT model {fmt(changes['reward_sft_model'])}  →  PPO model "
        f"{fmt(changes['reward_ppo_model'])}   ({'n/a' if gain is None else format(gain, '+.3f')})",
        f"  KL(PPO policy ‖ SFT)    {fmt(changes['kl_ppo_to_sft'])} nats per response (the price of that gain)",
        f"  SFT train loss          {fmt(changes['sft_train_loss'])}",
        f"  reward model accuracy   {fmt(changes['reward_model_eval_accuracy'], '.1%')} on held-out pairs",
        f"Run recorded in {run_dir}: open it in the app (Run history) or `flowstudio run --resume` it.",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import signal

    from flowstudio.cli.run import ProgressView, format_table, install_sigint
    from flowstudio.core.flow import load_flow
    from flowstudio.engine import Engine, RunOptions

    path = template_path()
    options = RunOptions(sets=demo_sets(args.model), device=args.device, run_dir=args.run_dir, source=str(path))
    print(f"FlowStudio demo: SFT → reward model → PPO on {args.model} ({path.name}); Ctrl-C stops.",
          file=sys.stderr)
    engine = Engine()
    previous = install_sigint(engine)
    try:
        result = engine.run(load_flow(path), path.parent, options, [ProgressView(sys.stderr)])
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        engine.close()
    summary = result.summary
    print(format_table(summary), file=sys.stderr)
    if summary["status"] == "cancelled":
        print(f"flowstudio demo: stopped; continue with: flowstudio run --resume {summary['run_dir']}",
              file=sys.stderr)
        return 130
    if summary["status"] != "succeeded":
        print(f"flowstudio demo: the run {summary['status']}; see {summary['run_dir']}", file=sys.stderr)
        return 1
    changes = what_changed(summary)
    if args.json:
        print(json.dumps({"model": args.model, "run_dir": summary["run_dir"], **changes}, indent=2))
    else:
        print(format_changes(args.model, changes, summary["run_dir"]))
    return 0
