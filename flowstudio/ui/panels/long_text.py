"""Text too long to edit in a widget: shown shortened and read-only, the value itself kept as it is.

Qt lays out a long unbroken line in a wrapping QPlainTextEdit in time that grows faster than its length
(100,000 characters: 2 s; 1 MB: minutes, the GUI hangs), and QLineEdit silently cuts text at 32,767
characters (an edit would then save the cut text). So the editors show values past these limits as a
read-only preview that says so; the flow file still holds the whole value, and a run uses it.
"""

from __future__ import annotations

import re

from PySide6.QtWidgets import QLineEdit, QPlainTextEdit

MAX_LINE_EDIT_CHARS = 10_000  # one-line editors (QLineEdit)
MAX_TEXT_EDIT_CHARS = 2_000_000  # multi-line editors (QPlainTextEdit lays out line by line: 10 MB in 0.5 s)
MAX_UNBROKEN_CHARS = 5_000  # a run without spaces or line breaks this long makes wrapping slow
PREVIEW_CHARS = 2_000

_UNBROKEN = re.compile(r"\S{" + str(MAX_UNBROKEN_CHARS) + "}")


def too_long_to_edit(text: str, one_line: bool) -> bool:
    """Whether `text` is past what the editor can show and edit without hanging or cutting it."""
    if one_line:
        return len(text) > MAX_LINE_EDIT_CHARS
    return len(text) > MAX_TEXT_EDIT_CHARS or (len(text) > MAX_UNBROKEN_CHARS and _UNBROKEN.search(text) is not None)


def preview(text: str, one_line: bool) -> str:
    """The start of `text` and how much is left out, short enough for any widget."""
    head = text[:PREVIEW_CHARS]
    if one_line:
        head = head.replace("\n", " ")
    return f"{head}… ({len(text) - len(head):,} more characters)"


def notice(text: str) -> str:
    return (f"This value is {len(text):,} characters long: too long to edit here, so it is shown shortened "
            "and read-only. The flow keeps the whole value; edit it in the flow file.")


def show_text(widget: QLineEdit | QPlainTextEdit, text: str, tooltip: str = "") -> bool:
    """Show `text` in `widget`: as is, or (too long) as a read-only preview with a notice in the tooltip.
    Returns True when it is a preview. Does not emit the widget's edit signals for a preview."""
    one_line = isinstance(widget, QLineEdit)
    long = too_long_to_edit(text, one_line)
    shown = preview(text, one_line) if long else text
    widget.setReadOnly(long)
    widget.setToolTip(notice(text) if long else tooltip)
    current = widget.text() if isinstance(widget, QLineEdit) else widget.toPlainText()
    if current != shown:
        if isinstance(widget, QLineEdit):
            widget.setText(shown)
        else:
            widget.setPlainText(shown)
    return long
