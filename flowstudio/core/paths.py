"""Where FlowStudio keeps things, and how relative paths in flows are resolved."""

from __future__ import annotations

import os
from pathlib import Path

BUILTIN_PREFIX = "builtin:"


def is_builtin_reference(value: str) -> bool:
    """`builtin:NAME` names something FlowStudio ships (a model, a demo dataset), not a path."""
    return value.strip().startswith(BUILTIN_PREFIX)


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
