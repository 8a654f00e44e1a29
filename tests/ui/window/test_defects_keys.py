"""Issue 13's key and file defects: Ctrl+Y redoes on Linux, no key is listed for two commands, Ctrl+Shift+V
pastes with connections, quitting with Discard prints no QUndoStack error, and a shipped template opens
as an untitled copy that Save never writes over."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QCursor, QKeySequence
from PySide6.QtTest import QTest

from flowstudio.core.document import FlowDocument
from flowstudio.core.paths import templates_dir
from flowstudio.ui.window import actions as act
from tests.stubs import make_flow
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture

SK = QKeySequence.StandardKey
# Qt's X11 (GNOME) key scheme, where it differs from the generic one the offscreen platform uses
X11 = {SK.Redo: ["Ctrl+Shift+Z"], SK.Delete: ["Del", "Ctrl+D"], SK.Undo: ["Ctrl+Z"]}


def _activate(window, qtbot) -> None:
    """Window shortcuts fire only in the active window."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.canvas.setFocus()


@pytest.fixture
def linux_keys(monkeypatch):
    original = QKeySequence.keyBindings

    def bindings(key):
        return [QKeySequence(k) for k in X11[key]] if key in X11 else original(key)

    monkeypatch.setattr(QKeySequence, "keyBindings", staticmethod(bindings))


def test_on_linux_ctrl_y_redoes_and_no_key_belongs_to_two_commands(linux_keys, qtbot, home):
    window = support.make_window(qtbot)
    window.set_document(FlowDocument(make_flow([("c", "stub.const", {})], []), None, window.registry))
    window.add_node_at_center("stub.add")
    assert len(window.doc.flow.nodes) == 2
    _activate(window, qtbot)
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.doc.flow.nodes) == 1
    QTest.keyClick(window.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert len(window.doc.flow.nodes) == 2  # Ctrl+Y redid it
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(window.doc.flow.nodes) == 2  # and so does Ctrl+Shift+Z

    rows = dict(act.shortcut_rows(window.actions_))
    assert "Ctrl+Y" in rows["Redo"] and "Ctrl+Shift+Z" in rows["Redo"]
    assert rows["Duplicate"] == "Ctrl+D" and "Ctrl+D" not in rows["Delete"]
    owners: dict[str, list[str]] = {}
    for action in window.actions_.values():
        for seq in action.shortcuts():
            owners.setdefault(seq.toString(), []).append(action.text())
    assert {k: v for k, v in owners.items() if len(v) > 1} == {}
    docs = (Path(__file__).parents[3] / "docs" / "ui.md").read_text(encoding="utf-8")
    assert "| Redo | Ctrl+Y, Ctrl+Shift+Z " in docs and "| Ctrl+Shift+V |" in docs


def test_ctrl_shift_v_in_the_window_pastes_with_connections(window, qtbot):
    flow = make_flow([("c", "stub.const", {}), ("a", "stub.add", {})], [("c.value", "a.a")])
    window.set_document(FlowDocument(flow, None, window.registry))
    window.canvas.select_nodes(["a"])
    _activate(window, qtbot)
    window.canvas.copy()
    QCursor.setPos(window.canvas.viewport().mapToGlobal(QPoint(-50, -50)))
    QTest.keyClick(window.canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(window.doc.flow.nodes) == 3
    pasted = window.doc.flow.nodes[2].id
    assert {(e.source, e.target) for e in window.doc.flow.edges} == {("c.value", "a.a"), ("c.value", f"{pasted}.a")}
    QTest.keyClick(window.canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)  # plain paste: no edge
    assert len(window.doc.flow.nodes) == 4 and len(window.doc.flow.edges) == 2


QUIT_SCRIPT = textwrap.dedent("""
    import os
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    def on_message(kind, _context, text):
        if kind != QtMsgType.QtDebugMsg and "propagateSizeHints" not in text:
            print("QT-MESSAGE:", text, flush=True)

    qInstallMessageHandler(on_message)
    app = QApplication([])
    from flowstudio.core.document import FlowDocument
    from flowstudio.ui import theme
    from flowstudio.ui.window.main_window import MainWindow
    from tests.stubs import make_flow
    from tests.ui.test_main_window_support import ScriptedPrompts, test_registry

    theme.apply_theme("dark")
    prompts = ScriptedPrompts()
    prompts.unsaved = ["discard"]
    window = MainWindow(registry=test_registry(), prompts=prompts, autosave_ms=100, restore_layout=False)
    window.show()
    window.set_document(FlowDocument(make_flow([("c", "stub.const", {})], []), None, window.registry))
    window.add_node_at_center("stub.add")
    assert window.is_dirty()
    window.actions_["quit"].trigger()
    app.processEvents()
    assert prompts.asked == ["unsaved:test"] and not window.isVisible()
    del window
    app.quit()
    print("QUIT-OK", flush=True)
""")


def test_quitting_with_unsaved_edits_and_discard_prints_no_error(home, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FLOWSTUDIO_HOME=str(home), OMP_NUM_THREADS="1",
               PYTHONPATH=str(Path(__file__).parents[3]))
    done = subprocess.run([sys.executable, "-c", QUIT_SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "QUIT-OK" in done.stdout, out
    assert "RuntimeError" not in out and "already deleted" not in out and "Traceback" not in out, out
    assert "QT-MESSAGE" not in out, out


def test_a_shipped_template_opens_as_an_untitled_copy_that_save_does_not_overwrite(window, tmp_path):
    shipped = templates_dir() / "hello.flow.json"
    before = shipped.read_bytes()
    assert window.open_path(shipped)
    assert window.doc.path is None and "(unsaved)" in window.windowTitle()
    window.add_node_at_center("stub.const")
    target = tmp_path / "mine.flow.json"
    window.prompts.save_paths.append(target)
    window.actions_["save"].trigger()  # Ctrl+S
    assert window.prompts.asked[-1].startswith("save_as:")  # it asked where
    assert window.doc.path == target and target.is_file()
    assert shipped.read_bytes() == before
