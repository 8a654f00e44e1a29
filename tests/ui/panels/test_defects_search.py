"""Issue 13's search defects, with the real node library: "sft" + Enter in the palette added "Reward score"
(its description mentions SFT) and the unfiltered quick-add list started with "Tool agent"."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from flowstudio.core.document import FlowDocument
from flowstudio.core.flow import Flow
from flowstudio.core.registry import default_registry
from flowstudio.ui.canvas.quick_add import COMMON, fuzzy_score
from tests.ui import test_main_window_support as support

home = support.home  # a fixture


def test_sft_enter_in_the_palette_and_in_quick_add_adds_the_sft_node(qtbot, home):
    window = support.make_window(qtbot, registry=default_registry())
    window.set_document(FlowDocument(Flow(name="t"), None, window.registry))
    palette = window.palette
    palette.search.setFocus()
    qtbot.keyClicks(palette.search, "sft")
    shown = palette.visible_types()
    assert shown[0] == "train.sft" and "eval.reward_score" in shown  # still found, by its description
    QTest.keyClick(palette.search, Qt.Key.Key_Return)
    assert [n.type for n in window.doc.flow.nodes] == ["train.sft"]

    # title and type-id matches before description-only ones, for any word
    palette.search.clear()
    qtbot.keyClicks(palette.search, "reward")
    shown = palette.visible_types()
    named = [t for t in shown if fuzzy_score("reward", window.registry.find(t)) is not None]
    assert shown[:len(named)] == named and set(shown[len(named):]) >= {"train.grpo"}  # GRPO: description only
    palette.search.clear()
    assert palette.tree.topLevelItemCount() == len(window.registry.categories())  # categories again

    canvas = window.canvas
    canvas.open_quick_add()
    popup = canvas.quick_add
    first = [popup.results.item(i).data(Qt.ItemDataRole.UserRole) for i in range(popup.results.count())]
    assert first[:3] == list(COMMON[:3]) == ["model.load", "data.load", "train.sft"]
    assert first.index("agent.tools") > first.index("io.output")  # not first any more
    qtbot.keyClicks(popup.search, "sft")
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert [n.type for n in window.doc.flow.nodes] == ["train.sft", "train.sft"]
