"""Autosave and crash recovery: a killed app's edits are offered back on the next start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from flowstudio.core.edits import SetParam
from flowstudio.ui.window.recovery import pending_recoveries, recovery_dir
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture

REPO = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent("""
    import sys, time
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from flowstudio.core.edits import SetParam, SetTitle
    from flowstudio.ui.app import make_window
    from flowstudio.ui.window.recovery import recovery_dir
    window = make_window(restore_layout=False)
    window.show()
    window.open_path(sys.argv[1])
    window.controller.push(SetParam("greeting", "text", "Edited before the crash"))
    window.controller.push(SetTitle("result", "Answer"))
    window.add_node_at_center("io.text")
    deadline = time.time() + 20
    while not list(recovery_dir().glob("*.recovery.json")) and time.time() < deadline:
        app.processEvents()
        time.sleep(0.02)
    print("AUTOSAVED", window.doc.flow.to_json_text().replace("\\n", " "), flush=True)
    while True:  # wait to be killed
        app.processEvents()
        time.sleep(0.05)
""")


def _flow_file(tmp_path: Path) -> Path:
    return support.write_flow(tmp_path / "adder.flow.json", [("one", "stub.const", {"value": 2.0}),
                                                             ("adder", "stub.add", {"bias": 1.0})],
                              [("one.value", "adder.a")])


def test_killing_the_app_after_edits_offers_the_autosave_on_restart(qtbot, home, tmp_path):
    path = support.write_flow(tmp_path / "hello.flow.json", [("greeting", "io.text", {"text": "Hi"}),
                                                              ("result", "io.output", {})],
                              [("greeting.text", "result.value")])
    original = path.read_text()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FLOWSTUDIO_HOME=str(home), FLOWSTUDIO_AUTOSAVE_MS="200")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(path)], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.startswith("AUTOSAVED"), child.stderr.read() if child.poll() is not None else line
        edited = json.loads(line.removeprefix("AUTOSAVED "))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert path.read_text() == original  # the crash happened before any save

    prompts = support.ScriptedPrompts()
    prompts.restores.append("restore")
    window = support.make_window(qtbot, prompts)
    assert window.offer_recovery()
    assert prompts.asked == ["restore:hello"]
    assert window.doc.flow.to_json_dict() == edited
    assert window.doc.path == path.resolve()
    assert window.is_dirty() and window.isWindowModified()
    # saving the restored flow writes it to the original file and leaves nothing to recover
    window.save()
    assert json.loads(path.read_text()) == edited
    window.autosaver.save_now()
    assert list(recovery_dir().glob("*.recovery.json")) == []


def test_autosave_writes_after_changes_and_a_save_removes_it(window, qtbot, tmp_path):
    window.open_path(_flow_file(tmp_path))
    assert not window.autosaver.file.exists()
    window.controller.push(SetParam("adder", "bias", 5.0))
    qtbot.waitUntil(window.autosaver.file.exists, timeout=3000)
    data = json.loads(window.autosaver.file.read_text())
    assert data["flow"]["nodes"][1]["params"]["bias"] == 5.0
    assert data["pid"] == os.getpid()
    assert pending_recoveries() == []  # our own process is alive: nothing to offer
    window.save()
    assert not window.autosaver.file.exists()


def test_undo_back_to_the_saved_state_removes_the_recovery_file(window, qtbot, tmp_path):
    window.open_path(_flow_file(tmp_path))
    window.controller.push(SetParam("adder", "bias", 5.0))
    qtbot.waitUntil(window.autosaver.file.exists, timeout=3000)
    window.controller.undo_stack.undo()
    assert not window.autosaver.file.exists()


def _orphan(home: Path, original: Path | None, saved_at: float, name: str = "lost") -> Path:
    from flowstudio.core.flow import Flow

    file = home / "recovery" / f"{name}.recovery.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    dead_pid = 2**22 + 12345  # above the default pid_max
    file.write_text(json.dumps({"format": 1, "original_path": str(original) if original else None, "name": name,
                                "pid": dead_pid, "saved_at": saved_at, "flow": Flow(name=name).to_json_dict()}))
    return file


def test_a_recovery_older_than_the_saved_file_is_not_offered(home, tmp_path):
    path = _flow_file(tmp_path)
    stale = _orphan(home, path, time.time() - 60)
    assert pending_recoveries() == []
    assert not stale.exists()


def test_discard_and_later_answers(qtbot, home):
    keep = _orphan(home, None, time.time() - 5, "keep")
    drop = _orphan(home, None, time.time(), "drop")
    prompts = support.ScriptedPrompts()
    prompts.restores += ["discard", "later"]
    window = support.make_window(qtbot, prompts)
    assert not window.offer_recovery()
    assert prompts.asked == ["restore:drop", "restore:keep"]  # newest first
    assert not drop.exists() and keep.exists()


def test_closing_the_window_cleanly_removes_the_recovery_file(window, qtbot, tmp_path):
    window.open_path(_flow_file(tmp_path))
    window.controller.push(SetParam("adder", "bias", 5.0))
    qtbot.waitUntil(window.autosaver.file.exists, timeout=3000)
    window.prompts.unsaved.append("discard")
    window.close()
    assert not window.isVisible()
    assert not window.autosaver.file.exists()
    assert pending_recoveries() == []


def test_the_status_bar_says_when_changes_were_backed_up(window, qtbot, tmp_path):
    window.open_path(_flow_file(tmp_path))
    assert window.status.backup.text() == ""
    window.controller.push(SetParam("adder", "bias", 5.0))
    qtbot.waitUntil(lambda: window.status.backup.text().startswith("Backed up"), timeout=3000)
    window.save()
    assert window.status.backup.text() == ""
