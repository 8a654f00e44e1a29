"""Where FlowStudio keeps things, and how relative paths in flows are resolved."""

from __future__ import annotations

import os
import re
from pathlib import Path

BUILTIN_PREFIX = "builtin:"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
"""A Hugging Face hub id (`org/name`); such a source is looked up in the local HF cache only."""


def is_builtin_reference(value: str) -> bool:
    """`builtin:NAME` names something FlowStudio ships (a model, a demo dataset), not a path."""
    return value.strip().startswith(BUILTIN_PREFIX)


def is_hub_id(value: str) -> bool:
    """Whether a model source reads as a hub id (`org/name`, not `./x`, `~/x` or a `.gguf` file)."""
    value = value.strip()
    return bool(HUB_ID.match(value)) and not value.startswith((".", "~")) and not value.lower().endswith(".gguf")


def resolve_user_path(value: str, flow_dir: Path | None) -> Path:
    """A path from a param: `~` expanded; relative paths are relative to the flow file's directory."""
    path = Path(os.path.expanduser(value))
    if not path.is_absolute() and flow_dir is not None:
        path = flow_dir / path
    return path


def data_dir() -> Path:
    """The user's FlowStudio data directory (runs, cache, built-in models). FLOWSTUDIO_HOME overrides."""
    env = os.environ.get("FLOWSTUDIO_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("flowstudio", appauthor=False))


def runs_dir() -> Path:
    return data_dir() / "runs"


def cache_dir() -> Path:
    return data_dir() / "cache"


def models_dir() -> Path:
    """Built-in models (tiny-llama, converted SmolLM2) are materialised here once."""
    return data_dir() / "models"


def package_dir(name: str) -> Path:
    """Directory of a data package shipped inside flowstudio (`templates`, `assets`)."""
    from importlib.resources import files

    return Path(str(files(f"flowstudio.{name}")))


def templates_dir() -> Path:
    return package_dir("templates")


def assets_dir() -> Path:
    return package_dir("assets")


def hf_hub_cache_dir() -> Path:
    """The local Hugging Face hub cache, by huggingface_hub's rules (HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE,
    HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub), read from the environment at each call."""
    def expand(value: str) -> str:
        return os.path.expandvars(os.path.expanduser(value))

    home = expand(os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"))
    hub = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(expand(hub))
