"""The main window: docks, menus, toolbar, shortcuts, history and the Run seam."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from flowstudio.core.edits import SetParam
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture

CTRL = Qt.KeyboardModifier.ControlModifier


def _menu_texts(menu) -> list[str]:
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def test_docks_menus_and_toolbar(window):
    assert {"palette", "inspector", "problems", "history", "run", "devices", "dataset_preview"} <= set(window.docks)
    assert _menu_texts(window.menuBar()) == ["File", "Edit", "View", "Run", "Help"]
    assert {"New Flow", "Open…", "Open Recent", "Save", "Save As…", "Quit"} <= set(_menu_texts(window.menus["file"]))
    assert {"Undo", "Redo", "Copy", "Paste", "Delete"} <= set(_menu_texts(window.menus["edit"]))
    assert window.actions_["save"].shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    assert window.actions_["open"].shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert QKeySequence(QKeySequence.StandardKey.Undo) in window.actions_["@undo"].shortcuts()
    assert len(window.toolbar.actions()) > 8
    # no flow open (the start page): nothing to run or stop
    assert not window.actions_["run"].isEnabled() and not window.actions_["stop"].isEnabled()


def test_run_actions_call_an_attached_runner(window):
    class Runner:
        def __init__(self) -> None:
            self.calls: list = []

        def run(self, doc, targets) -> None:
            self.calls.append(("run", doc, targets))

        def stop(self) -> None:
            self.calls.append(("stop",))

    runner = Runner()
    window.new_flow()
    window.attach_runner(runner)
    assert window.actions_["run"].isEnabled()
    assert not window.actions_["stop"].isEnabled()
    window.actions_["run"].trigger()
    window.set_running(True)  # what the bridge reports
    assert not window.actions_["run"].isEnabled() and window.actions_["stop"].isEnabled()
    window.actions_["stop"].trigger()
    window.set_running(False)
    window.canvas.select_nodes([window.add_node_at_center("stub.const")])
    window.actions_["run_selected"].trigger()
    assert runner.calls == [("run", window.doc, None), ("stop",), ("run", window.doc, ["const"])]


def test_history_lists_edits_and_clicking_goes_back(window, qtbot, tmp_path):
    window.open_path(support.write_flow(tmp_path / "h.flow.json", [("adder", "stub.add", {"bias": 0.0})]))
    for value in (1.0, 2.0, 3.0):
        window.controller.push(SetParam("adder", "bias", value))
    view = window.history.view
    assert view.model().rowCount() == 4  # "Opened" + three edits
    index = view.model().index(1, 0)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())
    assert window.doc.flow.node("adder").params["bias"] == 1.0


def test_canvas_shortcuts_do_not_fire_inside_text_fields(window, qtbot):
    window.new_flow()
    node_id = window.add_node_at_center("stub.add")
    window.canvas.select_nodes([node_id])
    title = window.inspector.title_edit
    title.setFocus()
    qtbot.keyClicks(title, "ab")
    qtbot.keyClick(title, Qt.Key.Key_Backspace)
    qtbot.keyClick(title, Qt.Key.Key_A, CTRL)
    qtbot.keyClick(title, Qt.Key.Key_Delete)
    assert window.doc.flow.node(node_id) is not None  # Delete edited the text, not the graph
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete)
    assert window.doc.flow.node(node_id) is None


def test_find_focuses_the_palette_search(window, qtbot):
    window.new_flow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_F, CTRL)
    assert QApplication.focusWidget() is window.palette.search


def test_shortcuts_dialog_rows(window):
    window.actions_["shortcuts"].trigger()
    assert window.prompts.asked[-1].startswith("shortcuts:")
    count = int(window.prompts.asked[-1].split(":")[1])
    assert count >= 20


def test_the_start_page_disables_flow_actions(window):
    assert not window.actions_["save"].isEnabled()
    window.new_flow()
    assert window.actions_["save"].isEnabled()
    window.close_flow()
    assert not window.actions_["save"].isEnabled()
    assert window.inspector.empty.isVisibleTo(window.inspector)


def test_docs_list_every_shortcut(window):
    """docs/ui.md keeps up with the actions: each action's first shortcut is in its table."""
    from pathlib import Path

    from flowstudio.ui.window.actions import shortcut_rows

    text = (Path(__file__).resolve().parents[3] / "docs" / "ui.md").read_text()
    missing = [(name, keys) for name, keys in shortcut_rows(window.actions_) if keys.split(", ")[0] not in text]
    assert missing == []


def test_menu_actions_drive_the_canvas(window, tmp_path):
    window.open_path(support.write_flow(tmp_path / "m.flow.json", [("a", "stub.const", {}), ("b", "stub.add", {})],
                                        [("a.value", "b.a")]))
    window.actions_["select_all"].trigger()
    assert sorted(window.canvas.selected_node_ids()) == ["a", "b"]
    window.actions_["duplicate"].trigger()
    assert len(window.doc.flow.nodes) == 4
    window.actions_["@undo"].trigger()
    assert len(window.doc.flow.nodes) == 2
    window.actions_["@redo"].trigger()
    assert len(window.doc.flow.nodes) == 4
    window.canvas.select_nodes(["a"])
    window.actions_["delete"].trigger()
    assert window.doc.flow.node("a") is None


def test_the_app_never_imports_torch(tmp_path):
    """A fresh process opens the richest template in the window; no ML library gets imported."""
    import os
    import subprocess
    import sys

    code = ("import sys\n"
            "from flowstudio.ui.panels.param_widgets import humanize\n"  # a Qt module first must work too
            "from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "from flowstudio.ui.app import make_window\n"
            "from flowstudio.core.paths import templates_dir\n"
            "richest = max(templates_dir().glob('*.flow.json'), key=lambda p: p.stat().st_size)\n"
            "w = make_window(richest, 'dark', restore_layout=False, template=True)\n"
            "for node in w.doc.flow.nodes:\n"
            "    w.canvas.select_nodes([node.id])\n"  # every node's form is built
            "    assert w.inspector.node_id == node.id\n"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FLOWSTUDIO_HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in result.stdout, result.stderr[-2000:]


def test_find_action_runs_a_command_by_name(window, qtbot):
    from flowstudio.ui import theme

    def popups() -> list:
        return [w for w in QApplication.topLevelWidgets() if w.objectName() == "ActionSearch" and w.isVisible()]

    window.new_flow()
    window.canvas.setFocus()
    assert popups() == []
    qtbot.keyClick(window.canvas, Qt.Key.Key_P, CTRL | Qt.KeyboardModifier.ShiftModifier)
    (search,) = popups()
    qtbot.keyClicks(search.search, "toggle theme")
    assert search.visible_names() == ["Toggle Theme"]
    before = theme.current_theme()
    qtbot.keyClick(search.search, Qt.Key.Key_Return)
    assert theme.current_theme() != before
    window.set_theme("dark")


def test_reset_panel_layout_brings_panels_back(window):
    window.docks["inspector"].setFloating(True)
    window.docks["palette"].hide()
    window.actions_["reset_layout"].trigger()
    assert not window.docks["inspector"].isFloating()
    assert window.docks["palette"].isVisible()
    assert window.dockWidgetArea(window.docks["inspector"]) == Qt.DockWidgetArea.RightDockWidgetArea
