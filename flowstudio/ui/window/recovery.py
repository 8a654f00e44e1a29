"""Autosave to a recovery file, and finding what a crashed session left behind.

While a document has unsaved changes, its flow is written (atomically) to
`data_dir()/recovery/<session>.recovery.json` a few seconds after each change. A clean save or
close removes the file; on start, files whose process is gone are offered back to the user
(unless the flow file itself was saved later).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import Flow, atomic_write_text, flow_from_data
from flowstudio.core.paths import data_dir

SUFFIX = ".recovery.json"
DEFAULT_INTERVAL_MS = 3000


def recovery_dir() -> Path:
    return data_dir() / "recovery"


@dataclass(frozen=True)
class RecoveryEntry:
    """One recovery file: what it holds and which file (if any) it belongs to."""

    file: Path
    original: Path | None
    name: str
    saved_at: float
    pid: int
    flow: Flow

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        where = str(self.original) if self.original else "an unsaved flow"
        return f"'{self.name}' ({where}), autosaved {when}"

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return pid == os.getpid()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours, or we cannot tell: do not steal its file
    return True


def read_entry(file: Path) -> RecoveryEntry | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        flow = flow_from_data(data["flow"], str(file))
        original = Path(data["original_path"]) if data.get("original_path") else None
        return RecoveryEntry(file, original, str(data.get("name") or flow.name), float(data["saved_at"]),
                             int(data.get("pid", 0)), flow)
    except (OSError, ValueError, KeyError, TypeError, FlowFileError):
        return None


def pending_recoveries(directory: Path | None = None) -> list[RecoveryEntry]:
    """Recovery files left by sessions that ended without saving, newest first.

    Files older than the flow file they belong to are stale (the user saved later) and are removed.
    """
    directory = directory or recovery_dir()
    entries = []
    for file in sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []:
        entry = read_entry(file)
        if entry is None or _process_alive(entry.pid):
            continue
        if entry.original is not None and entry.original.exists() and entry.original.stat().st_mtime > entry.saved_at:
            entry.discard()
            continue
        entries.append(entry)
    return sorted(entries, key=lambda e: e.saved_at, reverse=True)


class Autosaver(QObject):
    """Writes the controller's document to this session's recovery file shortly after changes."""

    saved = Signal(float)  # time.time() of the write
    discarded = Signal()

    def __init__(self, controller: Any, interval_ms: int | None = None, directory: Path | None = None,
                 parent: QObject | None = None, dirty: Callable[[], bool] | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        # whether there is something to keep; the window counts a clean undo stack as saved
        self.dirty: Callable[[], bool] = dirty or (lambda: bool(self.controller.doc.modified))
        self.directory = directory or recovery_dir()
        self.file = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        env = os.environ.get("FLOWSTUDIO_AUTOSAVE_MS")
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(interval_ms if interval_ms is not None else int(env or DEFAULT_INTERVAL_MS))
        self.timer.timeout.connect(self.save_now)
        controller.changed.connect(lambda _change: self.changed())
        controller.documentReplaced.connect(self.changed)

    def changed(self) -> None:
        """The document changed: save soon, or drop the recovery file when nothing is unsaved."""
        if not self.dirty():
            self.timer.stop()
            self.discard()
        elif not self.timer.isActive():  # a burst of edits: save every `interval`, not after it ends
            self.timer.start()

    def save_now(self) -> Path | None:
        self.timer.stop()
        doc = self.controller.doc
        if not self.dirty():
            self.discard()
            return None
        data = {
            "format": 1,
            "original_path": str(doc.path.resolve()) if doc.path else None,
            "name": doc.flow.name,
            "pid": os.getpid(),
            "saved_at": time.time(),
            "flow": doc.flow.to_json_dict(),
        }
        atomic_write_text(self.file, json.dumps(data, ensure_ascii=False))
        self.saved.emit(data["saved_at"])
        return self.file

    def discard(self) -> None:
        """The document is saved or closed: nothing to recover."""
        self.timer.stop()
        if self.file.exists():
            self.file.unlink(missing_ok=True)
            self.discarded.emit()
