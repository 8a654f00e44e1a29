"""A deterministic scripted chat model for agent tests: a real node type whose Model output is served by
`scripted_chat_model` (through the `chat_backend` plugin hook) instead of transformers.

The script lives in the model directory (`script.json`), and every conversation the model is shown is
appended to `seen.jsonl` there, so tests can check what came back to the model, even across processes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from flowstudio.core.node import Node, NodeParams, Port, Ports
from flowstudio.core.ports import Model
from flowstudio.core.values import Artifact

BACKEND = "tests.nodes.chains.scripted_model:scripted_chat_model"


class ScriptedChatModel:
    def __init__(self, directory: Path, native_tools: bool, replies: list[str]) -> None:
        self.directory = directory
        self.native_tools = native_tools
        self.replies = list(replies)
        self.turn = 0

    def respond(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        with (self.directory / "seen.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"messages": messages, "tools": tools}) + "\n")
        reply = self.replies[self.turn] if self.turn < len(self.replies) else "I have nothing more to say."
        self.turn += 1
        return reply


def scripted_chat_model(artifact: Artifact, **kwargs: Any) -> ScriptedChatModel:
    directory = Path(artifact.path)
    script = json.loads((directory / "script.json").read_text(encoding="utf-8"))
    return ScriptedChatModel(directory, bool(script["native_tools"]), script["replies"])


def seen(directory: Path | str) -> list[dict[str, Any]]:
    """The conversations the scripted model was shown, in order."""
    path = Path(directory) / "seen.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


class ScriptedModel(Node):
    type = "test.scripted_model"
    title = "Scripted chat model"
    category = "Test"
    cacheable = False

    class Outputs(Ports):
        model = Port(Model)

    class Params(NodeParams):
        replies: list[str] = Field(default_factory=list, description="The model's replies, in order")
        native_tools: bool = Field(False, description="Act like a model whose chat template takes tools")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        directory = Path(ctx.work_dir) / "scripted"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "script.json").write_text(json.dumps(params.model_dump()), encoding="utf-8")
        (directory / "seen.jsonl").unlink(missing_ok=True)
        return {"model": Artifact("model", str(directory), {"chat_backend": BACKEND})}
