"""The window's file commands: new, open, templates, save, save as, revert, close, recent files,
dropped files and crash recovery. Mixed into `MainWindow`, whose document, controller, prompts,
autosaver and pages they use (typed as the `WindowHost` protocol of host.py).

Nothing the user made is lost: saves are atomic (and write through a symlinked flow file to its
target), unsaved changes are asked about before anything replaces them, and autosaved work is offered
back after a crash. Temp files of saves that were killed are removed on the next save, and from the
recent flows' directories when the app starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from flowstudio.core.document import FlowDocument
from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import load_flow
from flowstudio.core.limits import clip
from flowstudio.core.paths import templates_dir
from flowstudio.core.safe_io import clean_stale_temps

from .recent_files import add_recent_file, clear_recent_files, recent_files
from .recovery import RecoveryEntry, pending_recoveries
from .start_page import TemplateGallery

if TYPE_CHECKING:
    from .host import WindowHost

    _Base = WindowHost
else:
    _Base = object

FLOW_FILTER = "Flows (*.flow.json);;JSON (*.json);;All files (*)"


class FileCommands(_Base):

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False means the user cancelled what they were doing."""
        if not self.is_dirty():
            return True
        answer = self.prompts.unsaved_changes(self, self.doc.path.name if self.doc.path else clip(self.doc.flow.name, 80))
        if answer == "save":
            return self.save()
        return answer == "discard"

    def new_flow(self) -> None:
        if self.maybe_save():
            self.set_document(self._empty_document())

    def new_from_template(self) -> None:
        if not self.maybe_save():
            return
        path = self.prompts.choose_template(self, lambda: TemplateGallery(self.registry, self))
        if path is not None:
            self.open_template(path, ask=False)

    def open_template(self, path: Path, ask: bool = True) -> bool:
        """A template opens as a new, unsaved flow: saving asks for a new file name."""
        if ask and not self.maybe_save():
            return False
        try:
            flow = load_flow(path)
        except FlowFileError as exc:
            self.prompts.error(self, "Cannot open the template", str(exc))
            return False
        self.set_document(FlowDocument(flow, None, self.registry))
        self.statusBar().showMessage(f"New flow from the template '{flow.name}'", 5000)
        return True

    def open_flow(self) -> None:
        if not self.maybe_save():
            return
        start = str(self.doc.path.parent) if self.doc.path else str(Path.home())
        path = self.prompts.open_path(self, start, FLOW_FILTER)
        if path is not None:
            self.open_path(path, ask=False)

    def open_path(self, path: Path | str, ask: bool = True) -> bool:
        """Open a flow file; a template shipped with FlowStudio opens as an untitled copy (Save asks where),
        so the shipped file is never overwritten."""
        if ask and not self.maybe_save():
            return False
        path = Path(path)
        if is_shipped_template(path):
            return self.open_template(path, ask=False)
        try:
            doc = FlowDocument.open(path, self.registry)
        except FlowFileError as exc:
            self.prompts.error(self, "Cannot open the flow", str(exc))
            return False
        self.set_document(doc)
        add_recent_file(path)
        self.statusBar().showMessage(f"Opened {path}", 5000)
        clean_stale_temps(path.absolute().parent, known=(path.name,))
        return True

    def save(self) -> bool:
        if not self.has_flow:
            return False
        if self.doc.path is None:
            return self.save_as()
        return self._save_to(self.doc.path)

    def save_as(self) -> bool:
        if not self.has_flow:
            return False
        suggested = self.doc.path or Path.home() / f"{_file_stem(self.doc.flow.name)}.flow.json"
        path = self.prompts.save_path(self, str(suggested), FLOW_FILTER)
        if path is None:
            return False
        if not path.name.endswith(".json"):
            path = path.with_name(path.name + ".flow.json")
        return self._save_to(path)

    def _save_to(self, path: Path) -> bool:
        try:
            self.doc.save(path)
        except OSError as exc:
            self.prompts.error(self, "Cannot save the flow", f"{path}: {exc.strerror or exc}")
            return False
        except UnicodeEncodeError:
            self.prompts.error(self, "Cannot save the flow", f"{path}: the flow holds text that is not valid "
                               "Unicode; the file was not changed (the Problems panel shows where it is)")
            return False
        self._recovered = False
        self.controller.undo_stack.setClean()
        self.autosaver.discard()
        add_recent_file(path)
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def revert(self) -> bool:
        """Reload the file, dropping unsaved changes (after asking)."""
        path = self.doc.path
        if path is None or not self.is_dirty():
            return False
        if not self.prompts.confirm(self, "Revert to Saved", f"Drop the unsaved changes to “{path.name}”?",
                                    "Revert"):
            return False
        self._recovered = False
        self.controller.undo_stack.setClean()  # nothing left to ask about
        return self.open_path(path, ask=False)

    def close_flow(self) -> bool:
        if not self.maybe_save():
            return False
        self.autosaver.discard()
        self._recovered = False
        self.canvas.select_nodes([])
        self.controller.set_document(self._empty_document())
        self.controller.undo_stack.setClean()
        self._show_start_page()
        return True

    def clean_stale_saves(self) -> list[Path]:
        """On start: remove temp files that killed saves left beside the recent flows; returns them."""
        removed: list[Path] = []
        by_dir: dict[Path, set[str]] = {}
        for path in recent_files():
            by_dir.setdefault(path.parent, set()).add(path.name)
        for directory, names in by_dir.items():
            removed += clean_stale_temps(directory, known=tuple(sorted(names)))
        return removed

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = recent_files()
        for path in paths:
            action = self.recent_menu.addAction(path.name, lambda p=path: self.open_path(p))
            action.setToolTip(str(path))
        if not paths:
            self.recent_menu.addAction("No recent flows").setEnabled(False)
            return
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear Recent Flows", self._clear_recent)

    def _clear_recent(self) -> None:
        clear_recent_files()
        self.start_page.set_recent([])

    # -- flow files dropped from the file manager

    @staticmethod
    def _dropped_flow(event: QDragEnterEvent | QDropEvent) -> Path | None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        paths = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        return next((p for p in paths if p.name.endswith(".json")), None)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if self._dropped_flow(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        path = self._dropped_flow(event)
        if path is not None:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_path(path))  # not inside the drop: it may ask questions

    # -- crash recovery

    def offer_recovery(self) -> bool:
        """On start: offer what a crashed session autosaved. True when a flow was restored."""
        for entry in pending_recoveries():
            answer = self.prompts.restore_recovery(self, entry)
            if answer == "restore" and self.maybe_save():
                self.restore(entry)
                return True
            if answer == "discard":
                entry.discard()
        return False

    def restore(self, entry: RecoveryEntry) -> None:
        doc = FlowDocument(entry.flow, entry.original, self.registry)
        self.set_document(doc, recovered=True)
        entry.discard()  # our own autosave file now holds it
        self.statusBar().showMessage(f"Restored {entry.describe()}", 8000)



def is_shipped_template(path: Path) -> bool:
    """A file in FlowStudio's own templates directory (through any symlink or relative path)."""
    try:
        return path.resolve().parent == templates_dir().resolve() and path.is_file()
    except OSError:
        return False


def _file_stem(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_ " else "_" for c in name[:80]).strip().replace(" ", "_")
    return stem.lower() or "flow"
