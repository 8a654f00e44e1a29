"""Resume from the window: Stop, then Run → Resume (or Run → resume / start over) continues from the checkpoint.

The first test drives the real SFT template (tiny-llama, CPU) through the window's own engine; the
others use the stub trainer (checkpoints every step) of the test registry.
"""

from __future__ import annotations

import shutil

from PySide6.QtWidgets import QMenu, QToolBar

from flowstudio.core.document import FlowDocument
from flowstudio.core.paths import templates_dir
from flowstudio.core.registry import default_registry
from flowstudio.engine.events import NodeProgress
from tests.stubs import make_flow
from tests.ui import test_main_window_support as support

home = support.home  # a fixture

RUN_TIMEOUT_MS = 120_000
STEPS = 40  # room for Stop to arrive on a loaded machine: it crosses the bridge, the engine and the worker


class Steps:
    """Records a node's progress steps from the bridge; presses Stop once it reaches `stop_at`."""

    def __init__(self, window, node: str) -> None:
        self.window, self.node = window, node
        self.steps: list[int] = []
        self.stop_at: int | None = None
        window.run_bridge.event.connect(self._on_event)

    def _on_event(self, event) -> None:
        if isinstance(event, NodeProgress) and event.node == self.node:
            self.steps.append(event.step)
            if self.stop_at is not None and event.step >= self.stop_at:
                self.stop_at = None
                self.window.actions_["stop"].trigger()

    def take(self) -> list[int]:
        steps, self.steps = self.steps, []
        return steps


def _until_finished(window, qtbot, trigger):
    with qtbot.waitSignal(window.run_bridge.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        trigger()
    qtbot.waitUntil(lambda: not window.run_bridge.running, timeout=RUN_TIMEOUT_MS)
    return blocker.args[0]


def _stopped_run(window, qtbot, steps: Steps, at: int):
    steps.stop_at = at
    result = _until_finished(window, qtbot, window.actions_["run"].trigger)
    assert result.status == "cancelled", result.summary
    return result


def test_stop_then_resume_the_sft_template_continues_from_its_checkpoint(qtbot, home):
    prompts = support.ScriptedPrompts()
    window = support.make_window(qtbot, prompts, registry=default_registry())
    assert window.open_template(templates_dir() / "sft_lora.flow.json", ask=False)
    doc = window.doc
    for node, name, value in [("model", "source", "builtin:tiny-llama"), ("sft", "max_steps", STEPS),
                              ("sft", "logging_steps", 2), ("sft", "learning_rate", 0.005)]:
        doc.apply(doc.set_param_edit(node, name, value))
    resume = window.actions_["resume"]
    assert not resume.isEnabled()  # nothing to resume yet
    assert resume in window.findChild(QToolBar, "MainToolbar").actions()
    assert resume in window.findChild(QMenu, "menu_run").actions()

    steps = Steps(window, "sft")
    stopped = _stopped_run(window, qtbot, steps, at=3)
    assert stopped.summary["nodes"]["sft"]["status"] == "cancelled"
    first_steps = steps.take()
    assert first_steps[0] in (0, 1) and first_steps[-1] < STEPS  # a fresh start, stopped part-way
    assert resume.isEnabled() and window.actions_["run"].isEnabled()

    resumed = _until_finished(window, qtbot, resume.trigger)
    assert resumed.ok, resumed.summary
    assert resumed.run_dir == stopped.run_dir  # continued in the same run directory
    after = steps.take()
    assert after and after[0] > 1, after  # from the checkpoint, not from step 1
    assert after[0] >= first_steps[-1] - 1 and after[-1] == STEPS
    sft = resumed.summary["nodes"]["sft"]
    assert sft["metrics"]["steps"] == STEPS
    lineage = sft["outputs"]["model"]["meta"]["lineage"]
    assert [s["status"] for s in lineage] == ["stopped", "finished"]
    assert lineage[1]["start_step"] == after[0] and lineage[1]["resumed_from"] == f"checkpoint-{after[0]}"
    assert resumed.summary["nodes"]["model"]["status"] == "cached"  # finished nodes are reused
    assert "resume_run" not in prompts.asked
    assert not resume.isEnabled()  # the run succeeded: nothing left to resume


TRAIN_FLOW = ([("m", "stub.model", {}), ("t", "stub.train", {"steps": 40, "step_seconds": 0.03})],
              [("m.model", "t.model")])


def test_run_after_a_stop_asks_to_resume_or_start_over(qtbot, home):
    prompts = support.ScriptedPrompts()
    window = support.make_window(qtbot, prompts)
    window.set_document(FlowDocument(make_flow(*TRAIN_FLOW), None, window.registry))
    assert not window.actions_["resume"].isEnabled()
    steps = Steps(window, "t")
    first = _stopped_run(window, qtbot, steps, at=3)
    assert steps.take()[0] == 1 and "resume_run" not in prompts.asked

    prompts.resumes = ["cancel"]  # neither: nothing starts
    window.actions_["run"].trigger()
    assert prompts.asked[-1] == "resume_run" and not window.run_bridge.running
    assert window.actions_["resume"].isEnabled()

    prompts.resumes = ["restart"]  # start over: a new run from step 1, stopped again
    steps.stop_at = 3
    again = _until_finished(window, qtbot, window.actions_["run"].trigger)
    assert again.status == "cancelled" and again.run_dir != first.run_dir
    assert steps.take()[0] == 1

    prompts.resumes = ["resume"]  # resume: continues the last (stopped) run from its checkpoint
    resumed = _until_finished(window, qtbot, window.actions_["run"].trigger)
    assert resumed.ok, resumed.summary
    assert resumed.run_dir == again.run_dir
    assert steps.take()[0] > 1
    assert prompts.asked.count("resume_run") == 3
    assert not window.actions_["resume"].isEnabled()

    window.actions_["run"].trigger()  # the last run succeeded: Run just runs
    qtbot.waitUntil(lambda: not window.run_bridge.running, timeout=RUN_TIMEOUT_MS)
    assert prompts.asked.count("resume_run") == 3


def test_resume_is_off_while_running_for_other_flows_and_once_the_run_folder_is_gone(qtbot, home):
    prompts = support.ScriptedPrompts()
    window = support.make_window(qtbot, prompts)
    doc = FlowDocument(make_flow(*TRAIN_FLOW), None, window.registry)
    window.set_document(doc)
    resume = window.actions_["resume"]
    steps = Steps(window, "t")
    steps.stop_at = 2
    window.actions_["run"].trigger()
    assert window.run_bridge.running and not resume.isEnabled()
    qtbot.waitUntil(lambda: not window.run_bridge.running, timeout=RUN_TIMEOUT_MS)
    stopped = window.run_presenter.result
    assert stopped.status == "cancelled" and resume.isEnabled()

    window.set_document(FlowDocument(make_flow(*TRAIN_FLOW), None, window.registry))  # another flow
    assert not resume.isEnabled()
    window.set_document(doc)  # back to the stopped one
    assert resume.isEnabled()

    shutil.rmtree(stopped.run_dir)
    window.run_seam.refresh()
    assert not resume.isEnabled()
    window.actions_["run"].trigger()  # nothing to resume: no question, a fresh run
    assert "resume_run" not in prompts.asked and window.run_bridge.running
    qtbot.waitUntil(lambda: not window.run_bridge.running, timeout=RUN_TIMEOUT_MS)
    assert steps.take()[-1] == 40 and window.run_presenter.result.ok
