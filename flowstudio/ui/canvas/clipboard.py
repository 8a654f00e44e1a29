"""Copy and paste on the system clipboard as flow JSON (custom MIME type and plain text).

The text form lets a fragment travel through any editor or chat and be pasted back; the custom
type tells other FlowStudio windows it is a fragment without guessing.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

from flowstudio.core.clipboard import copy_fragment, fragment_from_text, fragment_to_text, paste_edit
from flowstudio.core.document import FlowDocument
from flowstudio.core.errors import FlowStudioError
from flowstudio.core.flow import Flow

from ..mime import FRAGMENT_MIME

__all__ = ["clipboard_fragment", "copy_fragment", "copy_nodes", "fragment_from_mime", "fragment_mime",
           "paste_edit"]


def fragment_mime(fragment: Flow) -> QMimeData:
    text = fragment_to_text(fragment)
    mime = QMimeData()
    mime.setData(FRAGMENT_MIME, text.encode("utf-8"))
    mime.setText(text)
    return mime


def copy_nodes(doc: FlowDocument, node_ids: Iterable[str]) -> Flow | None:
    """Put the chosen nodes (with their inner edges and frames) on the system clipboard."""
    ids = list(node_ids)
    if not ids:
        return None
    fragment = copy_fragment(doc.flow, ids)
    QGuiApplication.clipboard().setMimeData(fragment_mime(fragment))
    return fragment


def fragment_from_mime(mime: QMimeData | None) -> Flow | None:
    """The fragment in `mime` (custom type first, then text that parses as a flow), or None."""
    if mime is None:
        return None
    candidates = []
    if mime.hasFormat(FRAGMENT_MIME):
        candidates.append(bytes(mime.data(FRAGMENT_MIME).data()).decode("utf-8", "replace"))
    if mime.hasText():
        candidates.append(mime.text())
    for text in candidates:
        try:
            return fragment_from_text(text)
        except FlowStudioError:
            continue
    return None


def clipboard_fragment() -> Flow | None:
    return fragment_from_mime(QGuiApplication.clipboard().mimeData())
