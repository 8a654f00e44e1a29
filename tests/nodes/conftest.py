"""Shared fixtures for node tests: the tiny Llama every fast test trains, demo data, a run context."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowstudio.core.values import Artifact


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """The machine is shared: torch on one thread, whatever OMP_NUM_THREADS says."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_llama_dir() -> Path:
    """builtin:tiny-llama's model directory (model + tokenizer files), built once per session."""
    from flowstudio.nodes.hf.builtin_models import builtin_model_dir

    return builtin_model_dir("tiny-llama")


@pytest.fixture(scope="session")
def tiny_llama(tiny_llama_dir: Path) -> Artifact:
    """builtin:tiny-llama as the Model artifact `model.load` outputs."""
    from flowstudio.nodes.hf.loading import model_artifact

    return model_artifact(tiny_llama_dir, source="builtin:tiny-llama")


@pytest.fixture()
def make_ctx(tmp_path: Path) -> Callable[..., Any]:
    """`make_ctx("node_id", events=list)`: a LocalContext with its own work and checkpoint dirs."""
    from flowstudio.engine.context import LocalContext

    def make(node_id: str = "node", events: list[dict[str, Any]] | None = None, **kwargs: Any) -> LocalContext:
        default_sink = events.append if events is not None else (lambda event: None)
        sink = kwargs.pop("sink", default_sink)
        return LocalContext(node_id=node_id, work_dir=tmp_path / node_id / "work",
                            checkpoint_dir=kwargs.pop("checkpoint_dir", tmp_path / node_id / "ckpt"),
                            flow_dir=kwargs.pop("flow_dir", tmp_path), sink=sink, **kwargs)

    return make


@pytest.fixture()
def run_node(make_ctx: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """`run_node(NodeClass, inputs={...}, node_id=..., ctx=None, **params)`: run a node directly, return its outputs."""
    from flowstudio.core.node import PortValues

    def run(cls: Any, inputs: dict[str, Any] | None = None, node_id: str | None = None, ctx: Any = None,
            **params: Any) -> dict[str, Any]:
        context = ctx if ctx is not None else make_ctx(node_id or cls.type.replace(".", "_"))
        return cls().run(context, PortValues(inputs or {}), cls.Params(**params))

    return run
