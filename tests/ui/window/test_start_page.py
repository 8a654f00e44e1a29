"""The start page and template gallery: every template opens as a new, unsaved flow."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from flowstudio.core.flow import load_flow
from flowstudio.core.paths import templates_dir
from flowstudio.core.registry import default_registry
from flowstudio.ui.window.start_page import list_templates
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture


def test_lists_every_template_with_name_and_description():
    files = sorted(templates_dir().glob("*.flow.json"))
    infos = list_templates(default_registry())
    assert {info.path for info in infos} == set(files)
    for info in infos:
        data = json.loads(info.path.read_text())
        assert info.name == data["name"] and info.description == data.get("description", "")
        assert info.nodes == len(data["nodes"])


def test_shown_at_start_and_a_click_opens_the_template_as_a_new_flow(window, qtbot):
    assert window.stack.currentWidget() is window.start_page
    assert window.windowTitle() == "FlowStudio"
    cards = window.start_page.templates.cards
    assert len(cards) == len(list(templates_dir().glob("*.flow.json")))
    card = next(c for c in cards if c.info.path.name == "hello.flow.json")
    before = card.info.path.read_text()
    qtbot.mouseClick(card, Qt.MouseButton.LeftButton, pos=card.rect().center())
    assert window.stack.currentWidget() is window.canvas
    assert window.doc.path is None  # new and unsaved: the template is never overwritten
    assert window.doc.flow.to_json_dict() == load_flow(card.info.path).to_json_dict()
    assert card.info.path.read_text() == before
    assert "(unsaved)" in window.windowTitle()
    assert not window.is_dirty()


def test_new_from_template_menu(window, tmp_path):
    hello = templates_dir() / "hello.flow.json"
    window.prompts.templates.append(hello)
    window.actions_["new_template"].trigger()
    assert window.doc.flow.name == json.loads(hello.read_text())["name"]
    window.prompts.save_paths.append(tmp_path / "copy.flow.json")
    window.save()
    assert window.prompts.asked[-1].startswith("save_as:")  # asks for a name instead of writing the template
    assert hello.read_text() != "" and (tmp_path / "copy.flow.json").exists()


def test_start_page_buttons_and_recent(window, qtbot, tmp_path):
    qtbot.mouseClick(window.start_page.new_button, Qt.MouseButton.LeftButton)
    assert window.has_flow and window.doc.flow.nodes == []
    path = support.write_flow(tmp_path / "r.flow.json", [("c", "stub.const", {})])
    window.open_path(path)
    window.close_flow()
    buttons = [window.start_page.recent_box.itemAt(i).widget() for i in range(window.start_page.recent_box.count())]
    assert [b.text() for b in buttons] == ["r"]
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert window.doc.path == path


def test_every_template_opens_and_every_node_has_a_form(qtbot, home):
    """The shipped templates with the real node library: each node's inspector form builds and shows no errors."""
    from flowstudio.ui.window.main_window import MainWindow

    window = MainWindow(prompts=support.ScriptedPrompts(), restore_layout=False)
    qtbot.addWidget(window, before_close_func=support.forget_changes)
    for card in window.start_page.templates.cards:
        assert window.open_template(card.info.path)
        for node in window.doc.flow.nodes:
            window.canvas.select_nodes([node.id])
            assert window.inspector.node_id == node.id
            errors = {name: window.inspector.error_text(name) for name in window.inspector._rows}
            assert not any(errors.values()), (card.info.path.name, node.id, errors)
