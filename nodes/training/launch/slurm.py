"""A Slurm batch script that runs a training script with `accelerate launch` on one or several machines.

One Slurm task per machine starts `accelerate launch`, which starts one process per GPU there. The
machine rank comes from `$SLURM_NODEID`, the main address from the first host of `$SLURM_JOB_NODELIST`
(`scontrol show hostnames`), the machine count from `$SLURM_NNODES`; so the same file runs on 1 or N nodes
(`sbatch --nodes=N` overrides the default).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence


def render_sbatch(script: str = "flow.py", *, config_file: str = "accelerate/ddp.yaml", nodes: int = 1,
                  gpus_per_node: int = 8, job_name: str = "flowstudio", time_limit: str = "24:00:00",
                  partition: str = "", cpus_per_task: int = 0, port: int = 29500,
                  script_args: Sequence[str] = (), setup: Sequence[str] = ()) -> str:
    """The text of `slurm.sbatch`. `script` and `config_file` are paths relative to the directory the job
    is submitted from; `script_args` go after the script (and anything given to sbatch after the file name
    too); `setup` lines run first on each machine (e.g. `source .venv/bin/activate`)."""
    if nodes < 1 or gpus_per_node < 1:
        raise ValueError("nodes and gpus_per_node must be at least 1")
    # names may come from a flow file: only characters that cannot end a directive line or reach the shell
    job_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", job_name).strip("-.")[:64] or "flowstudio"
    partition = re.sub(r"[^A-Za-z0-9_,.-]+", "", partition)
    time_limit = re.sub(r"[^0-9:-]+", "", time_limit) or "24:00:00"
    directives = [f"--job-name={job_name}", f"--nodes={nodes}", "--ntasks-per-node=1",
                  f"--gpus-per-node={gpus_per_node}", f"--time={time_limit}", "--output=%x-%j.out"]
    if cpus_per_task:
        directives.append(f"--cpus-per-task={cpus_per_task}")
    if partition:
        directives.append(f"--partition={partition}")
    args = " ".join(shlex.quote(a) for a in script_args)
    lines = ["#!/bin/bash", *(f"#SBATCH {d}" for d in directives), "",
             "# Submit from the directory that holds the script: sbatch slurm.sbatch [SCRIPT ARGS...]",
             "# One task per machine runs `accelerate launch`, which starts one process per GPU there.",
             "set -euo pipefail", ""]
    lines += list(setup) + ([""] if setup else [])
    lines += [f"GPUS_PER_NODE=${{GPUS_PER_NODE:-{gpus_per_node}}}",
              "# no `| head`: under pipefail scontrol would die of SIGPIPE on a long node list",
              'HOSTNAMES=$(scontrol show hostnames "$SLURM_JOB_NODELIST")',
              "MAIN_PROCESS_IP=${HOSTNAMES%%$'\\n'*}",
              f"MAIN_PROCESS_PORT=${{MAIN_PROCESS_PORT:-{port}}}",
              "NUM_PROCESSES=$((SLURM_NNODES * GPUS_PER_NODE))",
              f"SCRIPT={shlex.quote(script)}",
              f"CONFIG_FILE=${{CONFIG:-{shlex.quote(config_file)}}}  # CONFIG=accelerate/zero3.yaml sbatch ... picks another",
              "export GPUS_PER_NODE MAIN_PROCESS_IP MAIN_PROCESS_PORT NUM_PROCESSES SCRIPT CONFIG_FILE", "",
              "# single quotes: $SLURM_NODEID is read on each machine, not here",
              "srun --kill-on-bad-exit=1 bash -c 'accelerate launch \\",
              '    --config_file "$CONFIG_FILE" \\',
              '    --num_machines "$SLURM_NNODES" \\',
              '    --num_processes "$NUM_PROCESSES" \\',
              '    --machine_rank "$SLURM_NODEID" \\',
              '    --main_process_ip "$MAIN_PROCESS_IP" \\',
              '    --main_process_port "$MAIN_PROCESS_PORT" \\',
              f"    \"$SCRIPT\" \"$@\"' bash {args + ' ' if args else ''}\"$@\"", ""]
    return "\n".join(lines)
