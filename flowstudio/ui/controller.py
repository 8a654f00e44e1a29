"""The document controller: the one place where UI gestures become undoable edits.

Every change to the flow goes through `push`, which applies a core `Edit` and records its inverse
on a `QUndoStack`. Views never change the document directly; they listen to `changed`.
Commands pushed with the same `merge_key` one after another merge into one undo step (a drag,
typing into one field).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from flowstudio.core.document import Change, FlowDocument
from flowstudio.core.edits import Batch, Edit, MoveNodes, SetParam, SetTitle, UpdateGroup

from . import compat  # noqa: F401 - keeps None alive under PySide6 6.12 on Python 3.11


def _override_key(edit: Edit) -> tuple | None:
    """Edits that only set state: a later one with the same key overrides an earlier one."""
    if isinstance(edit, MoveNodes):
        return ("move", frozenset(edit.positions))
    if isinstance(edit, SetParam):
        return ("param", edit.node_id, edit.name)
    if isinstance(edit, SetTitle):
        return ("title", edit.node_id)
    if isinstance(edit, UpdateGroup):
        return ("group", edit.group.id)
    if isinstance(edit, Batch):
        keys = tuple(_override_key(e) for e in edit.edits)
        return None if any(k is None for k in keys) else ("batch", keys)
    return None


class _EditCommand(QUndoCommand):
    """Redo applies `edit`; undo applies the stored inverse. The first redo was already done by `push`."""

    def __init__(self, controller: DocumentController, edit: Edit, inverse: Edit, merge_id: int) -> None:
        super().__init__(edit.label)
        self._controller = controller
        self.edit = edit
        self.inverse = inverse
        self._merge_id = merge_id
        self._applied = True
        self._merged = False  # edit/inverse are flat Batches once another command was folded in

    def id(self) -> int:  # noqa: A003 - Qt's name
        return self._merge_id

    def redo(self) -> None:
        if self._applied:  # push() applied it already (so errors reach the caller, not Qt)
            return
        self.inverse = self._controller.doc.apply(self.edit)
        self._applied = True

    def undo(self) -> None:
        self.edit = self._controller.doc.apply(self.inverse)
        self._applied = False

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt's name
        """Fold a later command into this one, keeping one flat list however long the drag or typing."""
        if not isinstance(other, _EditCommand) or other.id() != self.id():
            return False
        if not self._merged:
            self.edit = Batch([self.edit], label=self.text())
            self.inverse = Batch([self.inverse], label=self.text())
            self._merged = True
        assert isinstance(self.edit, Batch) and isinstance(self.inverse, Batch)
        last = self.edit.edits[-1] if self.edit.edits else None
        key = _override_key(other.edit)
        if last is not None and key is not None and key == _override_key(last):
            # the later state wins; the inverse we hold already restores the state before `last`
            self.edit.edits[-1] = other.edit
        else:
            self.edit.edits.append(other.edit)
            self.inverse.edits.insert(0, other.inverse)  # undo the newest first
        return True


class DocumentController(QObject):
    """Owns the document's undo stack and re-emits its change notifications as a Qt signal."""

    changed = Signal(object)  # flowstudio.core.document.Change
    documentReplaced = Signal()  # noqa: N815 - Qt naming

    def __init__(self, doc: FlowDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.doc = doc
        self._unsubscribe: Callable[[], None] = doc.subscribe(self._on_change)
        self._merge_ids: dict[str, int] = {}
        self._macro_depth = 0

    # -- edits

    def push(self, edit: Edit, merge_key: str | None = None) -> None:
        """Apply `edit` as one undo step (raises the core's EditError and pushes nothing if it does not fit)."""
        inverse = self.doc.apply(edit)
        merge_id = -1
        if merge_key is not None:
            merge_id = self._merge_ids.setdefault(merge_key, len(self._merge_ids) + 1)
        self.undo_stack.push(_EditCommand(self, edit, inverse, merge_id))

    def begin_macro(self, label: str) -> None:
        self._macro_depth += 1
        self.undo_stack.beginMacro(label)

    def end_macro(self) -> None:
        if self._macro_depth:
            self._macro_depth -= 1
            self.undo_stack.endMacro()

    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    # -- the document

    def set_document(self, doc: FlowDocument) -> None:
        """Edit another document: the undo history is cleared and views rebuild."""
        while self._macro_depth:
            self.end_macro()
        self._unsubscribe()
        self.doc = doc
        self._unsubscribe = doc.subscribe(self._on_change)
        self.undo_stack.clear()
        self._merge_ids.clear()
        self.documentReplaced.emit()

    def _on_change(self, change: Change) -> None:
        self.changed.emit(change)
