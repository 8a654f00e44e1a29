"""File → Export… and File → Preview Script on a real window with the real node library (no torch)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from flowstudio.core.paths import templates_dir
from flowstudio.core.registry import default_registry
from flowstudio.ui.window.export_dialog import ExportDialog
from tests.ui import test_main_window_support as support

home = support.home  # a fixture


def _open(qtbot, tmp_path: Path, name: str):
    window = support.make_window(qtbot, registry=default_registry())
    path = tmp_path / f"{name}.flow.json"
    shutil.copy(templates_dir() / f"{name}.flow.json", path)
    assert window.open_path(path, ask=False)
    return window


def test_preview_shows_the_script_and_the_selected_nodes_function(qtbot, home, tmp_path: Path):
    torch_before = "torch" in sys.modules
    window = _open(qtbot, tmp_path, "sft_lora")
    window.actions_["preview_script"].trigger()
    preview = window.script_preview.preview
    assert preview.whole.isChecked() and not preview.node.isEnabled()
    text = preview.code.toPlainText()
    assert text.startswith('"""SFT with LoRA') and "def sft(rt: Runtime" in text and "def main(" in text
    window.script_preview.close()
    window.canvas.select_nodes(["sft"])
    window.actions_["preview_script"].trigger()
    preview = window.script_preview.preview
    assert preview.node.isChecked()
    node_text = preview.code.toPlainText()
    assert node_text.startswith("# sft (train.sft)") and "def sft(" in node_text and "def main(" not in node_text
    preview.whole.setChecked(True)
    assert preview.code.toPlainText() == text
    assert torch_before or "torch" not in sys.modules  # the app never imports torch to preview
    window.script_preview.close()
    window.doc.flow.nodes[0].params["source"] = str(tmp_path / "missing-model")  # unexportable: says why
    window.actions_["preview_script"].trigger()
    text = window.script_preview.preview.code.toPlainText()
    assert text.startswith("# This flow cannot be exported yet") and "missing-model" in text


def test_export_dialog_writes_the_export_and_names_what_it_refuses(qtbot, home, tmp_path: Path):
    window = _open(qtbot, tmp_path, "tool_agent")
    window.actions_["export"].trigger()
    dialog: ExportDialog = window.export_dialog
    assert not dialog.allow_code.isHidden() and "'python'" in dialog.allow_code.text()
    dialog.target.setText(str(tmp_path / "out"))
    dialog.export_button.click()
    assert "Not exported" in dialog.status.text() and "'python' (tool.python)" in dialog.status.text()
    assert not (tmp_path / "out").exists()
    dialog.allow_code.setChecked(True)
    dialog.export_button.click()
    assert dialog.exported == (tmp_path / "out") and (tmp_path / "out" / "flow.py").exists()
    assert "Exported" in dialog.status.text()
    # a directory that is not an export is refused, nothing written into it
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("x")
    dialog.target.setText(str(tmp_path / "mine"))
    dialog.export_button.click()
    assert "not empty" in dialog.status.text() and [p.name for p in (tmp_path / "mine").iterdir()] == ["a.txt"]
