"""The launcher params and the shipped accelerate configs: accelerate reads each config as the strategy it
names, bad choices are refused before anything runs (node, field, fix), and the Slurm script runs
`accelerate launch` once per machine with that machine's rank."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from flowstudio.nodes import node_types
from flowstudio.nodes.training.launch.configs import CONFIG_NAMES, config_path, deepspeed_installed
from flowstudio.nodes.training.launch.slurm import render_sbatch
from flowstudio.nodes.training.trainers import DirectPreference, RewardModelTrain, SupervisedFineTune

from flowstudio.core.errors import NodeRunError
from flowstudio.core.registry import NodeRegistry
from flowstudio.core.validation import validate_flow
from tests.stubs import make_flow

no_deepspeed = pytest.mark.skipif(deepspeed_installed(), reason="DeepSpeed is installed here")


def test_accelerate_reads_each_shipped_config_as_its_strategy() -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {}
    for name in CONFIG_NAMES:
        cfg = load_config_from_file(str(config_path(name)))
        kinds[name] = (str(cfg.distributed_type), cfg.mixed_precision, cfg.num_machines)
        if name == "fsdp2":
            assert cfg.fsdp_config["fsdp_version"] == 2
            assert cfg.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # a plain HF model on save
        if name.startswith("zero"):
            assert cfg.deepspeed_config["zero_stage"] == int(name[-1])
            assert "gradient_accumulation_steps" not in cfg.deepspeed_config  # "auto": from the trainer's args
    assert kinds == {"ddp": ("DistributedType.MULTI_GPU", "no", 1), "fsdp2": ("DistributedType.FSDP", "no", 1),
                     "zero2": ("DistributedType.DEEPSPEED", "no", 1),
                     "zero3": ("DistributedType.DEEPSPEED", "no", 1)}


def test_every_trainer_has_the_launcher_params() -> None:
    for cls in (SupervisedFineTune, RewardModelTrain, DirectPreference):
        params = cls.Params()
        assert (params.launcher, params.num_processes, params.accelerate_config) == ("single", 2, "ddp")
        assert cls.Params(launcher="accelerate", num_processes=4, accelerate_config="file",
                          accelerate_config_file="/x.yaml").num_processes == 4


def problems_of(params: dict, tmp_path: Path) -> list:
    flow = make_flow([("sft", "train.sft", params)], [])
    return [p for p in validate_flow(flow, NodeRegistry(node_types()), tmp_path)
            if p.node_id == "sft" and p.field in ("accelerate_config", "accelerate_config_file")]


@no_deepspeed
@pytest.mark.parametrize("choice", ["zero2", "zero3"])
def test_deepspeed_without_deepspeed_is_refused_before_the_run(choice: str, tmp_path: Path) -> None:
    [problem] = problems_of({"launcher": "accelerate", "accelerate_config": choice}, tmp_path)
    assert problem.field == "accelerate_config" and "needs DeepSpeed, which is not installed" in problem.message
    assert "pip install deepspeed" in problem.hint and "ddp or fsdp2" in problem.hint
    # launcher=single ignores the choice
    assert problems_of({"launcher": "single", "accelerate_config": choice}, tmp_path) == []


@no_deepspeed
def test_deepspeed_without_deepspeed_fails_a_direct_run_with_node_field_and_fix(run_node, tiny_llama) -> None:
    with pytest.raises(NodeRunError) as err:
        run_node(SupervisedFineTune, {"model": tiny_llama}, launcher="accelerate", accelerate_config="zero3")
    assert str(err.value).startswith("train.sft: accelerate_config zero3")
    assert err.value.field == "accelerate_config" and "pip install deepspeed" in err.value.hint


def test_a_user_config_file_is_checked(tmp_path: Path) -> None:
    base = {"launcher": "accelerate", "accelerate_config": "file"}
    [empty] = problems_of(base, tmp_path)
    assert empty.field == "accelerate_config_file" and "is empty" in empty.message
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    [no_type] = problems_of({**base, "accelerate_config_file": str(bad)}, tmp_path)
    assert "has no distributed_type" in no_type.message
    good = tmp_path / "mine.yaml"
    good.write_text(config_path("ddp").read_text())
    assert problems_of({**base, "accelerate_config_file": str(good)}, tmp_path) == []
    if not deepspeed_installed():
        ds = tmp_path / "ds.yaml"
        ds.write_text(config_path("zero2").read_text())
        [needs] = problems_of({**base, "accelerate_config_file": str(ds)}, tmp_path)
        assert "uses DeepSpeed" in needs.message and "pip install deepspeed" in needs.hint


def test_a_user_config_that_would_run_commands_is_refused(tmp_path: Path) -> None:
    """A shared flow may point at a config file: TPU pods and command keys run what the file says."""
    base = {"launcher": "accelerate", "accelerate_config": "file"}
    for name, text in (("tpu.yaml", "distributed_type: TPU\ntpu_use_cluster: true\n"),
                       ("cmd.yaml", "distributed_type: MULTI_GPU\ncommands: ['touch /tmp/pwned']\n")):
        path = tmp_path / name
        path.write_text(text)
        [refused] = problems_of({**base, "accelerate_config_file": str(path)}, tmp_path)
        assert refused.field == "accelerate_config_file" and "not supported" in refused.message


def test_too_many_processes_for_this_cpu_is_refused(run_node, tiny_llama) -> None:
    with pytest.raises(NodeRunError) as err:
        run_node(SupervisedFineTune, {"model": tiny_llama}, launcher="accelerate", num_processes=64)
    assert err.value.field == "num_processes" and "on a CPU with" in str(err.value)


FAKE_SRUN = """#!/bin/bash
# runs the task once per machine, as Slurm does, with that machine's SLURM_NODEID
while [[ "$1" == --* ]]; do shift; done
for ((i = 0; i < SLURM_NNODES; i++)); do SLURM_NODEID=$i "$@"; done
"""
# a long node list: a reader that stops after the first line would make it die of SIGPIPE under pipefail
FAKE_SCONTROL = """#!/bin/bash
[ "$1 $2" = "show hostnames" ] && printf 'gpu-%s\\n' a b $(seq 1 50000)
"""
FAKE_ACCELERATE = """#!/bin/bash
echo "$*" >> "$CALLS"
"""


@pytest.mark.parametrize("nodes", [1, 2])
def test_the_sbatch_script_launches_once_per_machine_with_its_rank(nodes: int, tmp_path: Path) -> None:
    text = render_sbatch("flow.py", config_file="accelerate/fsdp2.yaml", nodes=nodes, gpus_per_node=4,
                         script_args=["--max-steps", "10", "it's"], setup=["export FROM_SETUP=1"])
    assert f"#SBATCH --nodes={nodes}" in text and "#SBATCH --gpus-per-node=4" in text
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL), ("accelerate", FAKE_ACCELERATE)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    script = tmp_path / "slurm.sbatch"
    script.write_text(text)
    calls = tmp_path / "calls.txt"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_NNODES": str(nodes), "SLURM_JOB_NODELIST": "gpu-[a-b]",
           "CALLS": str(calls)}
    subprocess.run(["bash", str(script), "--seed", "3"], env=env, check=True, cwd=tmp_path, timeout=30)
    lines = calls.read_text().splitlines()
    assert lines == [f"launch --config_file accelerate/fsdp2.yaml --num_machines {nodes} --num_processes {4 * nodes} "
                     f"--machine_rank {rank} --main_process_ip gpu-a --main_process_port 29500 flow.py "
                     "--max-steps 10 it's --seed 3" for rank in range(nodes)]


def test_a_job_name_from_a_flow_file_cannot_reach_the_shell(tmp_path: Path) -> None:
    text = render_sbatch("flow.py", job_name='RLHF with PPO\ntouch "$HOME/pwned"; #', partition="gpu\nrm -rf /")
    assert "#SBATCH --job-name=RLHF-with-PPO-touch-HOME-pwned" in text
    assert "pwned\"" not in text and "rm -rf" not in text
    assert subprocess.run(["bash", "-n", "-c", text]).returncode == 0
