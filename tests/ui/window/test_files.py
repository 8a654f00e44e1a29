"""Files: save, save as, open, recent files, the unsaved-changes prompt and the window title."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from flowstudio.core.edits import SetParam, SetTitle
from flowstudio.ui.window.recent_files import recent_files
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture

CTRL = Qt.KeyboardModifier.ControlModifier


def _flow_file(tmp_path: Path) -> Path:
    return support.write_flow(tmp_path / "adder.flow.json", [("one", "stub.const", {"value": 2.0}),
                                                             ("adder", "stub.add", {"bias": 1.0})],
                              [("one.value", "adder.a")])


def test_save_close_reopen_gives_the_same_flow(window, qtbot, tmp_path):
    assert window.open_path(_flow_file(tmp_path))
    window.controller.push(SetParam("adder", "bias", 7.5))
    window.controller.push(SetTitle("one", "Two"))
    window.canvas.select_nodes(["one"])
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_D, CTRL)  # duplicate: a node and a new id
    edited = window.doc.flow.to_json_dict()
    assert len(edited["nodes"]) == 3
    target = tmp_path / "out" / "saved.flow.json"
    window.prompts.save_paths.append(target)
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, CTRL | Qt.KeyboardModifier.ShiftModifier)  # Save As
    assert json.loads(target.read_text()) == edited
    assert not window.is_dirty()
    assert window.close_flow()
    assert window.stack.currentWidget() is window.start_page
    window.close()

    again = support.make_window(qtbot)
    again.prompts.open_paths.append(target)
    again.open_flow()
    assert again.doc.flow.to_json_dict() == edited
    assert again.doc.path == target
    assert recent_files()[0] == target.resolve()


def test_title_shows_the_file_and_a_modified_marker(window, tmp_path, qtbot):
    path = _flow_file(tmp_path)
    window.open_path(path)
    assert window.windowTitle() == "adder.flow.json[*] — FlowStudio"
    assert not window.isWindowModified()
    window.controller.push(SetParam("adder", "bias", 3.0))
    assert window.isWindowModified()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, CTRL)  # Save
    assert not window.isWindowModified()
    assert json.loads(path.read_text())["nodes"][1]["params"]["bias"] == 3.0
    window.controller.undo_stack.undo()  # back before the save: modified again
    assert window.isWindowModified()


def test_unsaved_changes_prompt_on_new_open_and_close(window, tmp_path):
    path = _flow_file(tmp_path)
    window.open_path(path)
    window.controller.push(SetParam("adder", "bias", 9.0))
    prompts = window.prompts
    prompts.unsaved.append("cancel")
    window.new_flow()
    assert window.doc.path == path and window.doc.flow.node("adder").params["bias"] == 9.0
    prompts.unsaved.append("cancel")
    window.close()
    assert window.isVisible()  # the close was cancelled
    prompts.unsaved.append("save")
    window.new_flow()
    assert json.loads(path.read_text())["nodes"][1]["params"]["bias"] == 9.0
    assert window.doc.path is None and window.doc.flow.nodes == []
    window.controller.push(window.doc.remove_nodes_edit([]))
    prompts.unsaved.append("discard")
    prompts.open_paths.append(path)
    window.open_flow()
    assert window.doc.path == path
    assert prompts.asked.count("unsaved:adder.flow.json") == 3


def test_saving_a_new_flow_asks_for_a_name_and_adds_the_suffix(window, tmp_path):
    window.new_flow()
    window.add_node_at_center("stub.const")
    window.prompts.save_paths.append(tmp_path / "mine")
    assert window.save()
    assert (tmp_path / "mine.flow.json").exists()
    assert window.windowTitle().startswith("mine.flow.json")
    window.prompts.save_paths.append(None)  # Save As cancelled: nothing changes
    assert not window.save_as()


def test_recent_files_menu(window, tmp_path):
    path = _flow_file(tmp_path)
    window.open_path(path)
    window.close_flow()
    window.fill_recent_menu()
    names = [a.text() for a in window.recent_menu.actions() if not a.isSeparator()]
    assert names == ["adder.flow.json", "Clear Recent Flows"]
    window.recent_menu.actions()[0].trigger()
    assert window.doc.path == path
    window.fill_recent_menu()
    window.recent_menu.actions()[-1].trigger()
    assert recent_files() == []


def test_a_broken_file_is_reported_not_opened(window, tmp_path):
    bad = tmp_path / "bad.flow.json"
    bad.write_text("{not json")
    assert not window.open_path(bad)
    assert "not JSON" in window.prompts.errors[0]
    assert not window.has_flow


def test_a_flow_file_dropped_on_the_window_opens(window, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    path = _flow_file(tmp_path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    at = QPointF(window.width() / 2, window.height() / 2)
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(at, *args)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(at, *args))
    qtbot.waitUntil(lambda: window.doc.path == path, timeout=2000)


def test_revert_to_saved(window, tmp_path):
    path = _flow_file(tmp_path)
    window.open_path(path)
    assert not window.actions_["revert"].isEnabled()
    window.controller.push(SetParam("adder", "bias", 9.0))
    assert window.actions_["revert"].isEnabled()
    window.prompts.confirms.append(False)
    window.actions_["revert"].trigger()
    assert window.doc.flow.node("adder").params["bias"] == 9.0  # cancelled
    window.prompts.confirms.append(True)
    window.actions_["revert"].trigger()
    assert window.doc.flow.node("adder").params["bias"] == 1.0
    assert not window.is_dirty() and not window.actions_["revert"].isEnabled()
