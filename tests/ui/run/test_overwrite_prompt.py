"""Run asks before a flow replaces files (issue 12): model.save with overwrite on and a target that exists.

The window runs the real model.load → model.save in a worker. The first run writes the model (nothing
to replace, so nothing is asked); the second asks, and "No" leaves every byte; "Replace" replaces it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flowstudio.core.registry import NodeRegistry
from tests.ui import test_main_window_support as support

home = support.home  # a fixture

RUN_TIMEOUT_MS = 180_000
ASKED = "confirm:Replace existing files?"


def listing(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _run(window, qtbot):  # noqa: ANN001, ANN202 - test helper
    with qtbot.waitSignal(window.run_bridge.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        window.actions_["run"].trigger()
    qtbot.waitUntil(lambda: not window.run_bridge.running)
    return blocker.args[0]


def test_run_asks_before_model_save_replaces_a_model_and_no_keeps_it(qtbot, home, tmp_path):
    from flowstudio.nodes.io.text import Output, TextInput
    from flowstudio.nodes.models.model import LoadModel, SaveModel

    prompts = support.ScriptedPrompts()
    window = support.make_window(qtbot, prompts, registry=NodeRegistry([LoadModel, SaveModel, TextInput, Output]))
    path = tmp_path / "project" / "save.flow.json"
    path.parent.mkdir()
    flow_text = path.parent / "notes.txt"
    flow_text.write_text("mine")
    support.write_flow(path, [("model", "model.load", {"source": "builtin:tiny-llama"}),
                              ("save", "model.save", {"path": "out", "overwrite": True})],
                       [("model.model", "save.model")])
    assert window.open_path(path)
    target = path.parent / "out"

    first = _run(window, qtbot)  # nothing there yet: nothing to ask
    assert first.ok, first.summary
    assert ASKED not in prompts.asked and (target / "model.safetensors").is_file()
    before, inode = listing(target), target.stat().st_ino

    prompts.confirms = [False]
    window.actions_["run"].trigger()
    assert prompts.asked[-1] == ASKED and not window.run_bridge.running
    assert "nothing was replaced" in window.status.run.text()
    assert listing(target) == before and target.stat().st_ino == inode
    assert flow_text.read_text() == "mine" and path.is_file()

    prompts.confirms = [True]
    again = _run(window, qtbot)
    assert again.ok, again.summary
    assert prompts.asked[-1] == ASKED
    assert target.stat().st_ino != inode and (target / "model.safetensors").is_file()  # a new directory
    assert sorted(p.name for p in path.parent.iterdir()) == ["notes.txt", "out", "save.flow.json"]


def test_path_dot_is_a_problem_before_anything_runs(qtbot, home, tmp_path):
    from flowstudio.nodes.io.text import Output, TextInput
    from flowstudio.nodes.models.model import LoadModel, SaveModel

    prompts = support.ScriptedPrompts()
    window = support.make_window(qtbot, prompts, registry=NodeRegistry([LoadModel, SaveModel, TextInput, Output]))
    path = tmp_path / "project" / "save.flow.json"
    path.parent.mkdir()
    support.write_flow(path, [("model", "model.load", {"source": "builtin:tiny-llama"}),
                              ("save", "model.save", {"path": ".", "overwrite": True})],
                       [("model.model", "save.model")])
    assert window.open_path(path)
    before = listing(path.parent)
    window.actions_["run"].trigger()
    assert not window.run_bridge.running and window.run_bridge.engine is None and prompts.asked == []
    found = [p for p in window.problems.problems if p.node_id == "save"]
    assert found and found[0].field == "path" and "flow's own directory" in found[0].message
    assert listing(path.parent) == before
