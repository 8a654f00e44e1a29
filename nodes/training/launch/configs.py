"""The accelerate configs FlowStudio ships (DDP, FSDP2, DeepSpeed ZeRO-2/3) and the checks on a choice.

The YAML files in `configs/` are ordinary `accelerate launch --config_file` files (modelled on TRL's
`examples/accelerate_configs`); `flowstudio export` copies them beside an exported script. They leave
`num_processes` and mixed precision to the launcher's flags and the trainer's arguments.
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path
from typing import Any

CONFIG_NAMES: tuple[str, ...] = ("ddp", "fsdp2", "zero2", "zero3")
DEEPSPEED_HINT = ("install DeepSpeed on a machine with CUDA GPUs (`pip install deepspeed`), or choose "
                  "accelerate_config ddp or fsdp2")


# distributed types a training node can launch; TPU pods and command keys would run what the file says
LAUNCHABLE = frozenset({"NO", "MULTI_CPU", "MULTI_GPU", "MULTI_XPU", "MULTI_NPU", "FSDP", "DEEPSPEED"})
RUNS_COMMANDS = frozenset({"commands", "command_file", "tpu_env"})


def config_path(name: str) -> Path:
    """The shipped YAML file of one of CONFIG_NAMES."""
    if name not in CONFIG_NAMES:
        raise ValueError(f"unknown accelerate config {name!r}; one of: {', '.join(CONFIG_NAMES)}")
    return Path(str(resources.files(__package__).joinpath("configs", f"{name}.yaml")))


def config_text(name: str) -> str:
    return config_path(name).read_text(encoding="utf-8")


def read_config(path: Path) -> dict[str, Any]:
    """A config file as a dict ({} when it is not a YAML/JSON mapping)."""
    import json

    import yaml

    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def deepspeed_installed() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def config_problem(choice: str, user_file: str) -> tuple[str, str, str] | None:
    """(message, field, hint) when the chosen config cannot be used here, else None."""
    if choice == "file":
        if not user_file:
            return ("accelerate_config is 'file' but accelerate_config_file is empty", "accelerate_config_file",
                    "set accelerate_config_file to an `accelerate config` YAML file, or choose ddp / fsdp2 / "
                    "zero2 / zero3")
        path = Path(user_file)
        if not path.is_file():
            return (f"accelerate_config_file {user_file} does not exist", "accelerate_config_file",
                    "point it at an existing accelerate config YAML file")
        try:
            data = read_config(path)
        except Exception as exc:  # noqa: BLE001 - any parse error is the user's file's problem
            return (f"accelerate_config_file {user_file} is not a YAML mapping ({exc})".splitlines()[0],
                    "accelerate_config_file", "write it with `accelerate config --config_file FILE`")
        if not data.get("distributed_type"):
            return (f"accelerate_config_file {user_file} has no distributed_type", "accelerate_config_file",
                    "write it with `accelerate config --config_file FILE` (distributed_type: MULTI_GPU, FSDP "
                    "or DEEPSPEED)")
        kind = str(data.get("distributed_type")).upper()
        risky = sorted(str(k) for k, v in data.items() if v and (str(k).startswith("tpu_") or k in RUNS_COMMANDS))
        if kind not in LAUNCHABLE or risky:  # a shared flow may name this file: no config that runs commands
            what = f"distributed_type {kind}" if kind not in LAUNCHABLE else "keys " + ", ".join(map(str, risky))
            return (f"accelerate_config_file {user_file}: {what} is not supported", "accelerate_config_file",
                    "use distributed_type " + " / ".join(sorted(LAUNCHABLE)) + " without TPU or command keys")
        if kind == "DEEPSPEED" and not deepspeed_installed():
            return (f"accelerate_config_file {user_file} uses DeepSpeed, which is not installed",
                    "accelerate_config_file", DEEPSPEED_HINT)
        return None
    if choice in ("zero2", "zero3") and not deepspeed_installed():
        return (f"accelerate_config {choice} (DeepSpeed ZeRO-{choice[-1]}) needs DeepSpeed, which is not "
                "installed", "accelerate_config", DEEPSPEED_HINT)
    return None


def chosen_config(choice: str, user_file: str) -> Path:
    """The config file to launch with (call `config_problem` first)."""
    return Path(user_file).resolve() if choice == "file" else config_path(choice)


def launch_problems(params: Any) -> list[Any]:
    """Validation problems of the launcher params (before anything runs): none for launcher=single."""
    from flowstudio.core.problems import Problem

    if getattr(params, "launcher", "single") != "accelerate":
        return []
    problem = config_problem(params.accelerate_config, params.accelerate_config_file)
    if problem is None:
        return []
    message, field, hint = problem
    return [Problem("bad_value", message, field=field, hint=hint)]
