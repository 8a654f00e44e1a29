"""The launcher files of an export: accelerate configs (DDP, FSDP2, ZeRO-2, ZeRO-3), a Slurm script, README.

The configs are the ones the engine launches training nodes with (`nodes/training/launch/configs/`, modelled
on TRL's `examples/accelerate_configs`), so the script and the app launch alike.
"""

from __future__ import annotations

from .script import comment_text

RUFF = """# The rules FlowStudio's own code (copied into flowlib/) is checked with; as in FlowStudio's checkout,
# the node library sorts with the third-party imports and the core as first-party.
line-length = 110
target-version = "py311"

[lint]
select = ["E", "F", "W", "I", "UP", "B", "SIM"]
ignore = ["E501"]

[lint.isort]
known-first-party = ["flowlib.core", "flowlib.runtime"]
known-third-party = ["flowlib.nodes", "accelerate"]  # not the accelerate/ config folder here
"""


def files(name: str, trains: bool) -> dict[str, str]:
    """accelerate/*.yaml, slurm.sbatch and ruff.toml."""
    from flowstudio.nodes.training.launch.configs import CONFIG_NAMES, config_text
    from flowstudio.nodes.training.launch.slurm import render_sbatch

    out = {f"accelerate/{key}.yaml": config_text(key) for key in CONFIG_NAMES}
    out["slurm.sbatch"] = render_sbatch("flow.py", config_file="accelerate/ddp.yaml", job_name=name or "flow",
                                        script_args=["--output-dir", "outputs"])
    out["ruff.toml"] = RUFF
    return out


def readme(name: str, nodes: list[tuple[str, str, str]], warnings: list[str], copied: list[str]) -> str:
    lines = [f"# {comment_text(name)} (exported from FlowStudio)", "",
             "`flow.py` runs this flow without FlowStudio: one function per node, the params as constants at the "
             "top. `flowlib/` holds the node code it runs, copied from FlowStudio.", "",
             "## Run", "", "```sh", "pip install -r requirements.txt",
             "python flow.py                                   # outputs/ and the final metrics as JSON",
             "python flow.py --output-dir run2 --seed 1 --max-steps 100",
             "python flow.py --help                            # every option",
             "```", "", "## Several GPUs, one machine (accelerate)", "", "```sh",
             "accelerate launch --config_file accelerate/ddp.yaml --num_processes 4 flow.py",
             "accelerate launch --config_file accelerate/fsdp2.yaml --num_processes 4 flow.py",
             "accelerate launch --config_file accelerate/zero2.yaml --num_processes 4 flow.py  # or zero3.yaml; pip install deepspeed",
             "```", "",
             "Training nodes run on every process (the Transformers/TRL trainers split the batches); the other nodes "
             "run on the main process and the others read their results. Keep the global batch size with "
             "per-device batch size x processes x gradient accumulation.", "",
             "## A cluster (Slurm)", "", "```sh", "sbatch --nodes=2 slurm.sbatch",
             "CONFIG=accelerate/zero3.yaml GPUS_PER_NODE=4 sbatch --nodes=4 slurm.sbatch",
             "```", "", "The output directory must be on a filesystem every machine sees.", "",
             "## Nodes", ""]
    lines += [f"- `{comment_text(node_id)}` ({node_type}): {note}" for node_id, node_type, note in nodes]
    if copied:
        lines += ["", "Built-in data copied here: " + ", ".join(f"`{c}`" for c in copied) + "."]
    if warnings:
        lines += ["", "## Before you run it", ""] + [f"- {comment_text(w)}" for w in warnings]
    return "\n".join(lines) + "\n"
