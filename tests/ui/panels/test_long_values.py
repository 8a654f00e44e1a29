"""Huge values in a flow file: the canvas and the inspector show them shortened (bounded text, bounded
time), never cut them on save, and open such a flow about as fast as a normal one.

Before: a 1 MB single-line param took 0.3 s to draw on the canvas and 220 s (a hung GUI) in the
inspector's text editor; QLineEdit silently kept only 32,767 characters of a one-line value."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from flowstudio.core.edits import SetParam
from flowstudio.core.flow import GroupSpec, save_flow
from flowstudio.ui.canvas.group_item import MAX_TITLE_CHARS as MAX_FRAME_TITLE_CHARS
from flowstudio.ui.canvas.node_item import MAX_SUMMARY_CHARS, MAX_TIP_CHARS, MAX_TITLE_CHARS
from flowstudio.ui.panels.long_text import PREVIEW_CHARS
from tests.stubs import make_flow
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture

MEGA = "x" * 1_000_000  # one line, no spaces: the worst case for text layout
BOUND = PREVIEW_CHARS + 40  # a preview plus its "… (N more characters)"


def write(path: Path, value: str) -> Path:
    flow = make_flow([("f", "test.form", {"run_name": value, "prompt": value, "base_model": value}),
                      ("c", "stub.const", {"value": 1.0})], [])
    flow.nodes[0].title = value or None
    flow.description = value
    flow.groups = [GroupSpec(id="frame", title=value, nodes=["f"])]
    save_flow(flow, path)
    return path


def open_and_show(window, path: Path) -> float:
    """Seconds to open the flow, draw it, show the flow's info and then the node in the inspector."""
    start = time.perf_counter()
    assert window.open_path(path, ask=False)
    QApplication.processEvents()
    window.repaint()
    window.canvas.select_nodes(["f"])
    QApplication.processEvents()
    window.repaint()
    seconds = time.perf_counter() - start
    window.canvas.select_nodes([])
    QApplication.processEvents()
    return seconds


@pytest.mark.timeout(120)
def test_a_megabyte_value_opens_about_as_fast_as_a_normal_flow(window, tmp_path):
    normal = write(tmp_path / "normal.flow.json", "short value")
    huge = write(tmp_path / "huge.flow.json", MEGA)
    open_and_show(window, normal)  # warm up fonts, icons and the form
    normal_s = min(open_and_show(window, normal) for _ in range(3))
    huge_s = min(open_and_show(window, huge) for _ in range(3))
    assert huge_s < 10 * normal_s + 0.05, f"normal {normal_s:.3f}s, 1 MB values {huge_s:.3f}s"


def test_the_canvas_and_the_inspector_show_bounded_text(window, tmp_path):
    assert window.open_path(write(tmp_path / "huge.flow.json", MEGA))
    item = window.canvas.canvas_scene.nodes["f"]
    assert len(item.title) <= MAX_TITLE_CHARS
    assert all(len(value) <= MAX_SUMMARY_CHARS for _, value in item.params)
    assert len(item.toolTip()) <= MAX_TIP_CHARS
    assert len(window.canvas.canvas_scene.groups["frame"].toolTip()) <= MAX_FRAME_TITLE_CHARS

    ins = window.inspector
    assert ins.flow_description.isReadOnly() and len(ins.flow_description.toPlainText()) <= BOUND
    window.canvas.select_nodes(["f"])
    line = ins.editor("run_name").focus_widget()
    text = ins.editor("prompt").focus_widget()
    assert line.isReadOnly() and len(line.text()) <= BOUND and "more characters" in line.text()
    assert text.isReadOnly() and len(text.toPlainText()) <= BOUND
    assert "too long to edit here" in line.toolTip()
    assert ins.title_edit.isReadOnly() and len(ins.title_edit.text()) <= BOUND
    assert not ins.editor("base_model").picker.isEnabled()


def test_shortened_values_are_never_written_back(window, qtbot, tmp_path):
    path = write(tmp_path / "huge.flow.json", MEGA)
    assert window.open_path(path)
    window.canvas.select_nodes(["f"])
    ins = window.inspector
    for widget in (ins.editor("run_name").focus_widget(), ins.editor("prompt").focus_widget(), ins.title_edit):
        widget.setFocus()
        qtbot.keyClicks(widget, "typed")  # read-only: nothing reaches the document
    assert not window.is_dirty()
    window.controller.push(SetParam("f", "epochs", 5))
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saved = json.loads(path.read_text(encoding="utf-8"))
    node = saved["nodes"][0]
    assert node["params"]["run_name"] == MEGA and node["params"]["prompt"] == MEGA and node["title"] == MEGA
    assert saved["description"] == MEGA and node["params"]["epochs"] == 5


def test_a_value_made_short_again_is_editable_again(window, tmp_path):
    assert window.open_path(write(tmp_path / "huge.flow.json", MEGA))
    window.canvas.select_nodes(["f"])
    window.controller.push(SetParam("f", "run_name", "short"))
    window.controller.push(SetParam("f", "prompt", "short\ntext"))
    line = window.inspector.editor("run_name").focus_widget()
    text = window.inspector.editor("prompt").focus_widget()
    assert not line.isReadOnly() and line.text() == "short"
    assert not text.isReadOnly() and text.toPlainText() == "short\ntext"
    window.controller.undo_stack.undo()
    window.controller.undo_stack.undo()
    assert line.isReadOnly() and text.isReadOnly()
    assert window.doc.flow.node("f").params["run_name"] == MEGA


def test_renaming_on_the_canvas_without_a_change_keeps_a_long_title_whole(window, qtbot, tmp_path):
    assert window.open_path(write(tmp_path / "huge.flow.json", MEGA))
    editors = window.canvas.interaction.editors
    window.canvas.select_nodes(["f"])
    editor = editors.rename_selected()
    assert editor is not None and len(editor.text()) <= MAX_TITLE_CHARS
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    frame = editors.edit_group_title(window.canvas.canvas_scene.groups["frame"])
    qtbot.keyClick(frame, Qt.Key.Key_Return)
    assert window.doc.flow.node("f").title == MEGA and window.doc.flow.groups[0].title == MEGA
    assert not window.is_dirty()
