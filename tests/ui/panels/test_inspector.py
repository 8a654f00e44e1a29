"""The inspector: a form from the params model; edits are undoable SetParams; bad values shown at the field."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QSpinBox

from flowstudio.core.document import FlowDocument
from flowstudio.ui.panels.param_widgets import FloatSpinBox, format_number
from tests.stubs import make_flow
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture

CTRL = Qt.KeyboardModifier.ControlModifier


def _open_form(window, params: dict | None = None) -> None:
    flow = make_flow([("f", "test.form", params or {}), ("c", "stub.const", {})], [])
    window.set_document(FlowDocument(flow, None, window.registry))
    window.canvas.select_nodes(["f"])
    assert window.inspector.node_id == "f"


def _type_into(qtbot, widget, text: str) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, Qt.Key.Key_A, CTRL)
    qtbot.keyClicks(widget, text)


def test_form_has_an_editor_per_param_kind(window, home, tmp_path):
    cache = tmp_path / "hf-cache" / "models--acme--tiny-chat" / "snapshots" / "abc123"
    cache.mkdir(parents=True)
    _open_form(window)
    ins = window.inspector
    assert isinstance(ins.editor("learning_rate").focus_widget(), QDoubleSpinBox)
    assert isinstance(ins.editor("epochs").focus_widget(), QSpinBox)
    assert isinstance(ins.editor("packing").focus_widget(), QCheckBox)
    combo = ins.editor("scheduler").focus_widget()
    assert isinstance(combo, QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == ["linear", "cosine", "constant"]
    assert isinstance(ins.editor("run_name").focus_widget(), QLineEdit)
    assert isinstance(ins.editor("prompt").focus_widget(), QPlainTextEdit)
    assert ins.editor("data_dir").button.toolTip() == "Browse…"
    choices = ins.editor("base_model").picker.choices()
    assert choices[:2] == ["builtin:tiny-llama", "builtin:smollm2-135m-instruct"]
    assert "acme/tiny-chat" in choices
    # the model's description is the tooltip, with the bounds
    tip = ins.editor("learning_rate").toolTip()
    assert "Step size of the optimizer" in tip and "> 0" in tip and "≤ 1" in tip
    # learning rates are shown in scientific notation, not rounded to 0.00
    assert ins.editor("learning_rate").focus_widget().text() == "2e-5"


def test_typing_in_a_spin_box_is_one_undo_step_and_undo_restores(window, qtbot):
    _open_form(window)
    stack = window.controller.undo_stack
    before = stack.count()
    spin = window.inspector.editor("learning_rate").focus_widget()
    _type_into(qtbot, spin, "3e-4")
    assert window.doc.flow.node("f").params["learning_rate"] == 3e-4
    assert stack.count() == before + 1  # four keystrokes, one SetParam step
    assert stack.command(stack.count() - 1).text() == "Set f.learning_rate"  # the SetParam's label
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)  # Edit > Undo
    assert "learning_rate" not in window.doc.flow.node("f").params  # back to the file's state
    assert spin.text() == "2e-5"  # the form follows undo (shows the default again)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert spin.text() == format_number(3e-4)


def test_arrow_keys_step_within_the_models_bounds(window, qtbot):
    _open_form(window, {"epochs": 99})
    spin = window.inspector.editor("epochs").focus_widget()
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert window.doc.flow.node("f").params["epochs"] == 100  # le=100
    lr = window.inspector.editor("learning_rate").focus_widget()
    lr.setFocus()
    qtbot.keyClick(lr, Qt.Key.Key_Up)
    assert window.doc.flow.node("f").params["learning_rate"] == 3e-5  # steps by the leading digit
    qtbot.keyClick(lr, Qt.Key.Key_Down)
    qtbot.keyClick(lr, Qt.Key.Key_Down)
    qtbot.keyClick(lr, Qt.Key.Key_Down)
    assert window.doc.flow.node("f").params["learning_rate"] == 9e-6  # never reaches 0 (gt=0)


def test_an_out_of_bounds_value_stays_visible_with_the_message(window, qtbot):
    _open_form(window)
    spin = window.inspector.editor("learning_rate").focus_widget()
    _type_into(qtbot, spin, "-1")
    assert spin.text() == "-1"
    assert "greater than 0" in window.inspector.error_text("learning_rate")
    assert spin.property("invalid") is True
    _type_into(qtbot, spin, "0.5")
    assert window.inspector.error_text("learning_rate") == ""
    assert spin.property("invalid") is False


def test_a_bad_value_from_the_file_is_shown_at_its_field(window):
    _open_form(window, {"epochs": 0, "scheduler": "warmup"})
    ins = window.inspector
    assert ins.editor("epochs").focus_widget().text() == "0"
    assert "greater than or equal to 1" in ins.error_text("epochs")
    assert ins.editor("scheduler").focus_widget().currentText() == "warmup"
    assert ins.error_text("scheduler")


def test_other_editors_push_set_params(window, qtbot):
    _open_form(window)
    ins = window.inspector
    params = window.doc.flow.node("f").params
    box = ins.editor("packing").focus_widget()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().center())
    assert params["packing"] is True
    combo = ins.editor("scheduler").focus_widget()
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert params["scheduler"] == "cosine"
    _type_into(qtbot, ins.editor("run_name").focus_widget(), "sft-1")
    assert params["run_name"] == "sft-1"
    text = ins.editor("prompt").focus_widget()
    text.setFocus()
    qtbot.keyClick(text, Qt.Key.Key_End, CTRL)
    qtbot.keyClicks(text, "!")
    assert params["prompt"] == "Hello!"
    _type_into(qtbot, ins.editor("max_steps").focus_widget(), "50")
    assert params["max_steps"] == 50
    _type_into(qtbot, ins.editor("max_steps").focus_widget(), "fifty")
    assert params["max_steps"] == 50  # not a value: kept out of the document, shown at the field
    assert "not a valid value" in ins.error_text("max_steps")
    _type_into(qtbot, ins.editor("base_model").focus_widget().lineEdit(), "acme/other")
    assert params["base_model"] == "acme/other"


def test_a_missing_directory_is_reported_at_the_path_field(window, qtbot, tmp_path: Path):
    _open_form(window)
    _type_into(qtbot, window.inspector.editor("data_dir").focus_widget(), str(tmp_path / "nope"))
    window.problems.refresh()
    assert "does not exist" in window.inspector.error_text("data_dir")
    _type_into(qtbot, window.inspector.editor("data_dir").focus_widget(), str(tmp_path))
    window.problems.refresh()
    assert window.inspector.error_text("data_dir") == ""


def test_title_edits_merge_and_follow_undo(window, qtbot):
    _open_form(window)
    stack = window.controller.undo_stack
    before = stack.count()
    title = window.inspector.title_edit
    title.setFocus()
    qtbot.keyClicks(title, "Trainer")
    assert window.doc.flow.node("f").title == "Trainer"
    assert stack.count() == before + 1
    stack.undo()
    assert window.doc.flow.node("f").title is None
    assert title.text() == ""


def test_flow_info_is_edited_when_nothing_is_selected(window, qtbot):
    _open_form(window)
    window.canvas.select_nodes([])
    assert window.inspector.node_id is None
    name = window.inspector.flow_name
    name.setFocus()
    qtbot.keyClick(name, Qt.Key.Key_A, CTRL)
    qtbot.keyClicks(name, "My flow")
    assert window.doc.flow.name == "My flow"
    window.controller.undo_stack.undo()
    assert name.text() == "test"


def test_float_spin_box_accepts_scientific_notation(qtbot):
    from flowstudio.ui.panels.param_widgets import field_specs
    from tests.ui.test_main_window_support import FormNode

    spec = next(s for s in field_specs(FormNode.Params) if s.name == "learning_rate")
    spin = FloatSpinBox(spec)
    qtbot.addWidget(spin)
    spin.lineEdit().setText("1.5e-7")
    assert spin.value() == 1.5e-7
    assert format_number(1e-5) == "1e-5" and format_number(0.001) == "0.001" and format_number(3.0) == "3"


def test_ports_that_depend_on_params_follow_edits(window, qtbot):
    window.set_document(FlowDocument(make_flow([("v", "test.vars", {"names": "a"})], []), None, window.registry))
    window.canvas.select_nodes(["v"])
    assert list(window.inspector._port_labels) == ["a"]
    line = window.inspector.editor("names").focus_widget()
    line.setFocus()
    qtbot.keyClicks(line, ", question")
    assert list(window.inspector._port_labels) == ["a", "question"]
    assert line.hasFocus()  # the form was not rebuilt under the cursor


def test_enter_in_the_title_returns_to_the_canvas(window, qtbot):
    _open_form(window)
    title = window.inspector.title_edit
    title.setFocus()
    qtbot.keyClicks(title, "Trainer")
    qtbot.keyClick(title, Qt.Key.Key_Return)
    assert window.canvas.hasFocus()


def test_hub_cache_is_found_the_way_huggingface_hub_finds_it(tmp_path, monkeypatch):
    from flowstudio.ui.panels.model_picker import cached_hub_models, hub_cache_dir

    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert hub_cache_dir() == tmp_path / "hf" / "hub"
    (tmp_path / "hf" / "hub" / "models--org--ready" / "snapshots" / "123").mkdir(parents=True)
    (tmp_path / "hf" / "hub" / "models--org--partial" / "blobs").mkdir(parents=True)  # no snapshot yet
    (tmp_path / "hf" / "hub" / "datasets--org--data" / "snapshots" / "1").mkdir(parents=True)
    assert cached_hub_models() == ["org/ready"]
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert cached_hub_models() == []


def test_labels_read_like_words():
    from flowstudio.ui.panels.param_widgets import humanize

    assert humanize("lr_scheduler") == "LR scheduler"
    assert humanize("ppo_epochs") == "PPO epochs"
    assert humanize("timeout_s") == "Timeout (s)"
    assert humanize("memory_mb") == "Memory (MB)"
    assert humanize("learning_rate") == "Learning rate"


def test_flow_info_follows_undo_while_the_inspector_is_hidden(window, qtbot):
    from flowstudio.core.edits import SetFlowInfo

    _open_form(window)
    window.canvas.select_nodes([])
    window.docks["inspector"].hide()
    window.controller.push(SetFlowInfo("Renamed", "x"))
    window.docks["inspector"].show()
    assert window.inspector.flow_name.text() == "Renamed"


def _wheel(widget, steps: int = 1) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_changes_a_value_only_in_the_focused_field(window, qtbot):
    _open_form(window, {"epochs": 3})
    spin = window.inspector.editor("epochs").focus_widget()
    window.canvas.setFocus()
    _wheel(spin)
    assert window.doc.flow.node("f").params["epochs"] == 3  # passing over it scrolls the form instead
    spin.setFocus()
    _wheel(spin)
    assert window.doc.flow.node("f").params["epochs"] == 4
    combo = window.inspector.editor("scheduler").focus_widget()
    window.canvas.setFocus()
    _wheel(combo, -1)
    assert window.doc.flow.node("f").params.get("scheduler", "linear") == "linear"


def test_a_node_of_a_missing_type_is_shown_read_only_and_several_nodes_say_so(window):
    flow = make_flow([("gone", "plugin.missing", {"alpha": 1}), ("c", "stub.const", {})], [])
    window.set_document(FlowDocument(flow, None, window.registry))
    window.canvas.select_nodes(["gone"])
    ins = window.inspector
    assert "not installed" in ins.description.text()
    raw = ins.scroll.widget().findChild(QPlainTextEdit)
    assert raw.isReadOnly() and '"alpha": 1' in raw.toPlainText()
    window.canvas.select_nodes(["gone", "c"])
    assert "2 nodes selected" in ins.empty.text()


def test_right_click_on_a_label_resets_the_value(window, qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication, QMenu

    _open_form(window, {"epochs": 7})
    label = window.inspector._rows["epochs"].label
    assert label.property("modified") is True  # changed settings have bold labels

    def choose_reset() -> None:
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        menu.actions()[0].trigger()
        menu.close()

    QTimer.singleShot(50, choose_reset)
    # a right click reaches a widget as a context-menu event (QTest's mouse clicks do not make one)
    centre = label.rect().center()
    QApplication.sendEvent(label, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre, label.mapToGlobal(centre)))
    assert window.doc.flow.node("f").params["epochs"] == 3
    assert window.inspector.editor("epochs").focus_widget().text() == "3"
    assert window.inspector._rows["epochs"].label.property("modified") is False


def test_connected_nodes_are_links_in_the_inspector(window):
    flow = make_flow([("one", "stub.const", {}), ("adder", "stub.add", {})], [("one.value", "adder.a")])
    window.set_document(FlowDocument(flow, None, window.registry))
    window.canvas.select_nodes(["adder"])
    label = window.inspector._port_labels["a"]
    assert "href='node:one'" in label.text()
    label.linkActivated.emit("node:one")  # what a click on the link sends
    assert window.canvas.selected_node_ids() == ["one"]
    assert window.inspector.node_id == "one"
