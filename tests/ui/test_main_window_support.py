"""Shared pieces for the main-window tests: a node type with every kind of param, scripted answers
for the window's questions, and fixtures (a private FlowStudio home, a shown window).

Import the fixtures into a test module with `from tests.ui.test_main_window_support import home, window`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field

from flowstudio.core.node import ModelSourceField, Node, NodeParams, PathField, Port, Ports, TextField
from flowstudio.core.ports import Model, Number, Text
from flowstudio.core.registry import NodeRegistry
from tests.stubs import STUB_TYPES


class FormNode(Node):
    """A node whose params use every editor the inspector has."""

    type = "test.form"
    title = "Form"
    category = "Testing"
    icon = "mdi6.school"
    description = "Every kind of param."

    class Inputs(Ports):
        model = Port(Model, "The model")
        extra = Port(Text, optional=True)

    class Outputs(Ports):
        score = Port(Number)

    class Params(NodeParams):
        learning_rate: float = Field(2e-5, gt=0, le=1, description="Step size of the optimizer")
        epochs: int = Field(3, ge=1, le=100, description="Passes over the data")
        packing: bool = Field(False, description="Pack short examples together")
        scheduler: Literal["linear", "cosine", "constant"] = Field("linear", description="Learning-rate schedule")
        run_name: str = Field("run", description="A name for the run")
        prompt: str = TextField("Hello", "The prompt")
        data_dir: str = PathField("", "Where the data is", kind="dir")
        base_model: str = ModelSourceField("builtin:tiny-llama", "The model to start from")
        max_steps: int | None = Field(None, description="Stop after this many steps")


class VariablesNode(Node):
    """Inputs that depend on a param, like a prompt template's variables."""

    type = "test.vars"
    title = "Variables"
    category = "Testing"

    class Params(NodeParams):
        names: str = Field("a", description="Comma-separated input names")

    @classmethod
    def input_ports(cls, params: Any = None) -> tuple[Port, ...]:
        raw = (params or {}).get("names", "a")
        names = [n.strip() for n in str(raw).split(",") if n.strip().isidentifier()]
        return tuple(Port(Text, optional=True).named(n) for n in names)


def test_registry() -> NodeRegistry:
    from flowstudio.nodes.io.text import Output, TextInput

    return NodeRegistry([*STUB_TYPES, FormNode, VariablesNode, TextInput, Output])


test_registry.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


class ScriptedPrompts:
    """Answers the window's questions from queues; records what was asked."""

    def __init__(self) -> None:
        self.unsaved: list[str] = []  # "save" | "discard" | "cancel"
        self.restores: list[str] = []  # "restore" | "discard" | "later"
        self.save_paths: list[Path | None] = []
        self.open_paths: list[Path | None] = []
        self.templates: list[Path | None] = []
        self.confirms: list[bool] = []
        self.resumes: list[str] = []  # "resume" | "restart" | "cancel"
        self.asked: list[str] = []
        self.errors: list[str] = []

    def unsaved_changes(self, parent: Any, name: str) -> str:
        self.asked.append(f"unsaved:{name}")
        return self.unsaved.pop(0)

    def restore_recovery(self, parent: Any, entry: Any) -> str:
        self.asked.append(f"restore:{entry.name}")
        return self.restores.pop(0)

    def confirm(self, parent: Any, title: str, text: str, action: str) -> bool:
        self.asked.append(f"confirm:{title}")
        return self.confirms.pop(0)

    def resume_run(self, parent: Any, text: str) -> str:
        self.asked.append("resume_run")
        return self.resumes.pop(0)

    def open_path(self, parent: Any, start: str, filters: str) -> Path | None:
        self.asked.append("open")
        return self.open_paths.pop(0)

    def save_path(self, parent: Any, suggested: str, filters: str) -> Path | None:
        self.asked.append(f"save_as:{Path(suggested).name}")
        return self.save_paths.pop(0)

    def choose_template(self, parent: Any, make_gallery: Callable[[], Any]) -> Path | None:
        gallery = make_gallery()  # built for real, so its construction is exercised
        gallery.deleteLater()
        return self.templates.pop(0)

    def error(self, parent: Any, title: str, text: str) -> None:
        self.errors.append(f"{title}: {text}")

    def info(self, parent: Any, title: str, text: str) -> None:
        self.asked.append(f"info:{title}")

    def show_shortcuts(self, parent: Any, rows: list[tuple[str, str]]) -> None:
        self.asked.append(f"shortcuts:{len(rows)}")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private FlowStudio home (settings, recovery files) and an empty Hugging Face cache."""
    path = tmp_path / "home"
    monkeypatch.setenv("FLOWSTUDIO_HOME", str(path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return path


def make_window(qtbot: Any, prompts: ScriptedPrompts | None = None, autosave_ms: int = 100,
                registry: NodeRegistry | None = None) -> Any:
    from flowstudio.ui import theme
    from flowstudio.ui.window.main_window import MainWindow

    theme.apply_theme("dark")
    window = MainWindow(registry=registry or test_registry(), prompts=prompts or ScriptedPrompts(),
                        autosave_ms=autosave_ms, restore_layout=False)
    qtbot.addWidget(window, before_close_func=forget_changes)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    return window


def forget_changes(window: Any) -> None:
    """Before pytest-qt closes a window: nothing unsaved, so closing asks nothing."""
    window.autosaver.discard()
    window._recovered = False
    window.controller.undo_stack.setClean()


@pytest.fixture
def window(qtbot: Any, home: Path) -> Any:
    return make_window(qtbot)


def write_flow(path: Path, nodes: list[tuple[str, str, dict]], edges: list[tuple[str, str]] = ()) -> Path:
    from flowstudio.core.flow import save_flow
    from tests.stubs import make_flow

    flow = make_flow(nodes, list(edges))
    flow.name = path.name.removesuffix(".flow.json")
    save_flow(flow, path)
    return path
