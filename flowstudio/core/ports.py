"""Port types: what may flow along an edge, and which connections are allowed.

Port types are classes so that compatibility is plain subclassing: a `PreferenceDataset`
is a `Dataset`, so it may feed any Dataset input; a `RewardModel` is not a `Model`.
`Any` inputs accept everything. Third-party packages add types by subclassing `PortType`.
"""

from __future__ import annotations

from typing import ClassVar


class PortType:
    """Base of all port types. Subclasses are never instantiated; they are type tags."""

    name: ClassVar[str] = "PortType"
    color: ClassVar[str] = "#9e9e9e"
    description: ClassVar[str] = ""
    # Light values are plain JSON (text, numbers, messages); the rest are artifacts on disk.
    light: ClassVar[bool] = False

    _registry: ClassVar[dict[str, type[PortType]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        PortType._registry[cls.name] = cls


def port_type(name: str) -> type[PortType]:
    """Look up a port type by its name (as written in `flowstudio nodes --json`)."""
    try:
        return PortType._registry[name]
    except KeyError:
        raise KeyError(f"unknown port type {name!r}") from None


def all_port_types() -> list[type[PortType]]:
    return list(PortType._registry.values())


def is_compatible(source: type[PortType], target: type[PortType]) -> bool:
    """Whether an output of type `source` may feed an input of type `target`."""
    if target is Any or source is Any:
        return True
    return issubclass(source, target)


class Any(PortType):
    color = "#bdbdbd"
    description = "Anything; the node checks the value at run time."


class Model(PortType):
    color = "#7e57c2"
    description = "A causal language model (a model directory on disk)."


class Tokenizer(PortType):
    color = "#26a69a"
    description = "A tokenizer (a tokenizer directory on disk)."


class RewardModel(PortType):
    color = "#ef6c00"
    description = "A sequence-classification model that scores text; not a generator."


class Dataset(PortType):
    color = "#42a5f5"
    description = "A dataset (a `datasets` directory on disk) with a detected format."


class PreferenceDataset(Dataset):
    color = "#1e88e5"
    description = "A dataset of chosen/rejected pairs."


class LoraSpec(PortType):
    color = "#ec407a"
    description = "LoRA adapter settings (rank, alpha, dropout, target modules)."
    light = True


class Text(PortType):
    color = "#d4e157"
    description = "A piece of text."
    light = True


class Messages(PortType):
    color = "#c0ca33"
    description = "A chat: a list of {role, content} messages."
    light = True


class Number(PortType):
    color = "#ffca28"
    description = "A number."
    light = True


class Tool(PortType):
    color = "#8d6e63"
    description = "A callable tool an agent may use (calculator, python, ...)."
    light = True


class RewardFunction(PortType):
    color = "#ff8a65"
    description = "A rule that scores completions (for GRPO)."
    light = True


class Metrics(PortType):
    color = "#78909c"
    description = "Named numbers measured by a node."
    light = True


class Table(PortType):
    color = "#90a4ae"
    description = "Rows of results (a JSONL file on disk)."
