"""The node contract: one declarative class per node type feeds every consumer.

The palette reads `title`, `category`, `icon`, `description`; the inspector builds its form from
`Params`; validation reads the ports and `Params`; the scheduler reads `resources` and
`cacheable`; the engine calls `run`; the exporter calls `export`.

    class SupervisedFineTune(Node):
        type = "train.sft"
        version = 1
        title = "SFT"
        category = "Training"
        icon = "mdi6.school"
        resources = Resources(gpus=1, worker=True)

        class Inputs(Ports):
            model = Port(Model, "The model to fine-tune")
            lora = Port(LoraSpec, "Train a LoRA adapter instead", optional=True)

        class Outputs(Ports):
            model = Port(Model)

        class Params(NodeParams):
            epochs: float = Field(1.0, gt=0, description="Passes over the data")

        def run(self, ctx, inputs, params):
            ...
            return {"model": Artifact("model", str(out_dir))}

Modules that declare nodes must not import torch, transformers or Qt at module level: heavy
imports go inside `run`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .ports import PortType

if TYPE_CHECKING:
    from .problems import Problem


# ----------------------------------------------------------------------------------------------- ports


@dataclass(frozen=True)
class Port:
    """One input or output of a node.

    optional: an input that may stay unconnected (the node gets None).
    multiple: an input that accepts several edges (the node gets a list, in edge order).
    """

    type: type[PortType]
    description: str = ""
    optional: bool = False
    multiple: bool = False
    name: str = ""

    def named(self, name: str) -> Port:
        return Port(self.type, self.description, self.optional, self.multiple, name)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type.name,
            "description": self.description,
            "optional": self.optional,
            "multiple": self.multiple,
        }


class Ports:
    """Declare ports as class attributes: `model = Port(Model, "...")`. Order is kept."""

    _ports: ClassVar[tuple[Port, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inherited = {p.name: p for p in cls._ports}
        for attr, value in list(vars(cls).items()):
            if isinstance(value, Port):
                inherited[attr] = value.named(attr)
        cls._ports = tuple(inherited.values())

    @classmethod
    def all(cls) -> tuple[Port, ...]:
        return cls._ports


# ---------------------------------------------------------------------------------------------- params


class NodeParams(BaseModel):
    """Base of every node's params model: unknown names are errors, values are checked on assignment,
    numbers are finite (as in the flow file)."""

    # defer_build: the validator of each node type is built when first used, not when the app imports the node
    # library (40 types, ~40 ms of start-up)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False,
                              defer_build=True)


def PathField(  # noqa: N802 - reads like pydantic's Field
    default: str = "",
    description: str = "",
    *,
    kind: str = "file",
    must_exist: bool = True,
    filters: str = "",
    **kwargs: Any,
) -> Any:
    """A local path param: the inspector shows a browse button; validation checks it exists.

    kind: "file", "dir" or "any". filters: a Qt file-dialog filter such as "Data (*.jsonl *.csv)".
    An empty value means "not set" and is only checked by the node itself.
    """
    extra = {"widget": "path", "path_kind": kind, "must_exist": must_exist, "filters": filters}
    return Field(default, description=description, json_schema_extra=extra, **kwargs)


def TextField(default: str = "", description: str = "", *, multiline: bool = True, code: bool = False,  # noqa: N802
              **kwargs: Any) -> Any:
    """A free-text param; multiline ones get a text editor in the inspector, code ones a monospace one."""
    extra = {"widget": "code" if code else ("multiline" if multiline else "line")}
    return Field(default, description=description, json_schema_extra=extra, **kwargs)


def ModelSourceField(default: str = "", description: str = "", **kwargs: Any) -> Any:  # noqa: N802
    """A model source: a built-in name, a local directory, a GGUF file or a cached hub id."""
    return Field(default, description=description, json_schema_extra={"widget": "model"}, **kwargs)


def param_widget(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The UI/validation hints (`widget`, `path_kind`, ...) attached to one params field."""
    extra = model.model_fields[name].json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


# ------------------------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resources:
    """What the scheduler reserves for a node.

    gpus: GPUs the node wants; it falls back to the CPU when none are available (unless requires_gpu).
    worker: run in a separate (spawned) worker process; nodes that load models should.
    memory_gb: a rough host-memory estimate, used to avoid running too many heavy nodes at once.
    isolated: a light node (it takes a light slot, not a heavy one) that still runs in a worker process,
        because the flow can make it slow or big (a data file, a regex, an expression, a template): there
        Stop and a kill always work, and running out of memory takes down the worker, not the engine or app.
    """

    gpus: int = 0
    worker: bool = False
    requires_gpu: bool = False
    memory_gb: float = 0.0
    isolated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"gpus": self.gpus, "worker": self.worker, "requires_gpu": self.requires_gpu,
                "memory_gb": self.memory_gb, "isolated": self.isolated}


# --------------------------------------------------------------------------------------------- context


class RunContext(Protocol):
    """What a running node may use. The engine implements it; nodes never talk to the UI directly."""

    node_id: str
    work_dir: Path  # this node's own output directory (becomes artifacts)
    checkpoint_dir: Path  # survives a stop, so a resumed run continues from here
    flow_dir: Path  # directory of the flow file; relative paths in params are resolved against it
    device: str  # "cpu" or "cuda" (GPUs are selected with CUDA_VISIBLE_DEVICES)
    seed: int | None

    def progress(self, step: int, total: int | None = None, message: str = "") -> None: ...
    def log(self, line: str) -> None: ...
    def metric(self, name: str, value: float, step: int | None = None) -> None: ...
    def stream(self, text: str) -> None: ...  # generated tokens, as they come
    def cancelled(self) -> bool: ...


class PortValues(Mapping[str, Any]):
    """A node's input values: `inputs.model` or `inputs["model"]` (a port named like a Mapping method,
    e.g. `values`, is read by attribute too; `inputs.get(...)` still works unless a port is named `get`)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattribute__(self, name: str) -> Any:
        # A port wins over a Mapping method of the same name, so `inputs.values` reads a port called `values`.
        if not name.startswith("_"):
            values = object.__getattribute__(self, "_values")
            if name in values:
                return values[name]
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"no input port named {name!r}")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PortValues({self._values!r})"


# ------------------------------------------------------------------------------------------------ node


class Node:
    """Base class of every node type. Subclass, fill in the class attributes, implement `run`."""

    type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    title: ClassVar[str] = ""
    category: ClassVar[str] = "Other"
    icon: ClassVar[str] = "mdi6.cube-outline"
    description: ClassVar[str] = ""
    legacy_ids: ClassVar[tuple[str, ...]] = ()
    resources: ClassVar[Resources] = Resources()
    cacheable: ClassVar[bool] = True
    # Nodes that execute code taken from the flow file (tool.python) run only with the user's consent.
    runs_user_code: ClassVar[bool] = False

    class Inputs(Ports):
        pass

    class Outputs(Ports):
        pass

    class Params(NodeParams):
        pass

    @classmethod
    def code_risk(cls, params: Mapping[str, Any]) -> str | None:
        """Why running this node with these (raw, flow-file) params may execute code that FlowStudio did
        not write, or None. A flow with any such node runs only with the user's consent (`--allow-code`,
        the app's prompt). Override for params that open the door (trust_remote_code, pickle weights)."""
        return "runs code written in the flow file" if cls.runs_user_code else None

    @classmethod
    def overwrites(cls, params: Mapping[str, Any], flow_dir: Path | None) -> list[str]:
        """What existing files running this node with these (raw) params would replace, one line each;
        the app asks before a run that replaces anything. Override in nodes that write user paths."""
        return []

    # -- declaration helpers (override for ports that depend on params, e.g. template variables)

    @classmethod
    def input_ports(cls, params: Mapping[str, Any] | None = None) -> tuple[Port, ...]:
        return cls.Inputs.all()

    @classmethod
    def output_ports(cls, params: Mapping[str, Any] | None = None) -> tuple[Port, ...]:
        return cls.Outputs.all()

    @classmethod
    def is_cacheable(cls, params: NodeParams) -> bool:
        """Whether this node's results may come from the cache (e.g. not when sampling unseeded)."""
        return cls.cacheable

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        """Node-specific checks before a run (missing local files, ...). Params are already valid."""
        return []

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return cls.Params().model_dump(mode="json")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The whole declaration as JSON (for `flowstudio nodes --json` and plugins' docs)."""
        return {
            "type": cls.type,
            "version": cls.version,
            "title": cls.title,
            "category": cls.category,
            "icon": cls.icon,
            "description": cls.description,
            "legacy_ids": list(cls.legacy_ids),
            "inputs": [p.to_json() for p in cls.input_ports()],
            "outputs": [p.to_json() for p in cls.output_ports()],
            "params": cls.Params.model_json_schema(),
            "resources": cls.resources.to_json(),
            "cacheable": cls.cacheable,
            "runs_user_code": cls.runs_user_code,
        }

    # -- behaviour

    def run(self, ctx: RunContext, inputs: PortValues, params: Any) -> dict[str, Any]:
        """Compute the outputs (by port name) from the inputs and params."""
        raise NotImplementedError(f"node type {self.type!r} does not implement run()")


def find_port(ports: tuple[Port, ...], name: str) -> Port | None:
    for port in ports:
        if port.name == name:
            return port
    return None
