"""Saving from the window: through a symlinked flow file, with temp files of killed saves cleaned at
start, and text that cannot be saved reported in a dialog instead of a crash."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import Qt

from flowstudio.core.edits import SetParam, SetTitle
from flowstudio.core.flow import load_flow
from flowstudio.core.safe_io import DEAD_OWNER_GRACE_S, TEMP_MARK, host_tag
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture

CTRL = Qt.KeyboardModifier.ControlModifier


def _flow_file(path: Path) -> Path:
    return support.write_flow(path, [("one", "stub.const", {"value": 2.0})])


def test_ctrl_s_on_a_symlinked_flow_updates_the_target_and_keeps_the_link(window, qtbot, tmp_path):
    target = _flow_file(tmp_path / "real" / "adder.flow.json")
    link = tmp_path / "link.flow.json"
    link.symlink_to(target)
    assert window.open_path(link)
    window.controller.push(SetParam("one", "value", 7.0))
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, CTRL)
    assert not window.is_dirty() and window.prompts.errors == []
    assert link.is_symlink()
    assert load_flow(target).node("one").params["value"] == 7.0


def test_temps_of_killed_saves_beside_recent_flows_are_removed_at_start(window, qtbot, tmp_path):
    path = _flow_file(tmp_path / "adder.flow.json")
    assert window.open_path(path)  # now a recent file
    stale = tmp_path / f".adder.flow.json{TEMP_MARK}{host_tag()}-999999999-abcdefgh.tmp"  # owner is gone
    stale.write_text("{" * 1000)
    then = time.time() - DEAD_OWNER_GRACE_S - 5
    os.utime(stale, (then, then))
    again = support.make_window(qtbot)
    assert again.clean_stale_saves() == [stale]  # what run_app does when the app starts
    assert not stale.exists() and path.exists()


def test_text_that_cannot_be_saved_is_reported_not_a_crash(window, qtbot, tmp_path):
    path = _flow_file(tmp_path / "adder.flow.json")
    before = path.read_bytes()
    assert window.open_path(path)
    window.controller.push(SetTitle("one", "bad \ud800 title"))  # a lone surrogate, e.g. from a clipboard
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, CTRL)
    assert window.prompts.errors and "not valid Unicode" in window.prompts.errors[0]
    assert path.read_bytes() == before and window.is_dirty()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
