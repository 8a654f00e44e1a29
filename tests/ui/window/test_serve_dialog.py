"""Run → Serve: the dialog starts a real `flowstudio serve`, shows its address, copies it, and stops it."""

from __future__ import annotations

import json
import urllib.request

from PySide6.QtWidgets import QApplication

from flowstudio.ui.window.serve_dialog import ServeDialog, serve_arguments
from tests.ui import test_main_window_support as support

home = support.home  # a fixture


def test_the_command_line_for_a_model_and_for_a_flow(tmp_path) -> None:
    flow = tmp_path / "chat.flow.json"
    assert serve_arguments(model="builtin:tiny-llama", flow=None, name="tiny", port=0) == [
        "-m", "flowstudio", "serve", "--host", "127.0.0.1", "--port", "0", "--model", "tiny=builtin:tiny-llama"]
    args = serve_arguments(model=None, flow=flow, name="chat", port=8000, api_key="k", allow_code=True)
    assert args[-5:] == ["--flow", f"chat={flow}", "--api-key", "k", "--allow-code"]


def test_serving_a_model_from_the_dialog(qtbot) -> None:
    dialog = ServeDialog(None, flow_path=None)
    qtbot.addWidget(dialog)
    assert not dialog.use_flow.isEnabled() and dialog.use_model.isChecked()
    dialog.source.setText("builtin:tiny-llama")
    dialog.name.setText("tiny")
    dialog.port.setValue(0)  # any free port
    dialog.start_button.click()
    assert not dialog.start_button.isEnabled() and dialog.stop_button.isEnabled()
    qtbot.waitUntil(lambda: bool(dialog.address), timeout=120_000)
    assert dialog.address.startswith("http://127.0.0.1:") and dialog.address.endswith("/v1")
    assert dialog.address in dialog.status.text()
    with urllib.request.urlopen(dialog.address + "/models", timeout=30) as response:
        models = [m["id"] for m in json.load(response)["data"]]
    assert models == ["tiny"]
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == dialog.address
    dialog.stop_button.click()
    qtbot.waitUntil(lambda: dialog.process is None, timeout=15_000)
    assert dialog.status.text() == "Stopped" and dialog.start_button.isEnabled()


def test_run_serve_offers_the_saved_flow_when_it_has_a_text_input_and_an_output(qtbot, home, tmp_path) -> None:
    from PySide6.QtWidgets import QMenu

    from flowstudio.core.registry import default_registry

    window = support.make_window(qtbot, registry=default_registry())
    menu = next(m for m in window.menuBar().findChildren(QMenu) if m.objectName() == "menu_run")
    assert window.actions_["serve"] in menu.actions()
    path = support.write_flow(tmp_path / "echo.flow.json", [("q", "io.text", {}), ("out", "io.output", {})],
                      [("q.text", "out.value")])
    assert window.open_path(path, ask=False)
    window.actions_["serve"].trigger()
    dialog = window.serve_dialog
    assert dialog.use_flow.isEnabled() and dialog.use_flow.isChecked()
    assert "--flow" in dialog.command() and f"flowstudio={path}" in dialog.command()
    dialog.close()
