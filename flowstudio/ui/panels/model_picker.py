"""The model source picker: built-in models, models in the local Hugging Face cache, or a local path.

The hub cache is scanned by folder name (`models--org--name` with a snapshot), so the UI never
imports huggingface_hub, transformers or torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QToolButton, QWidget

from .. import theme
from .safe_inputs import SafeComboBox

BUILTIN_MODELS: tuple[tuple[str, str], ...] = (
    ("builtin:tiny-llama", "A tiny Llama (~100k parameters) for trying flows in seconds"),
    ("builtin:smollm2-135m-instruct", "SmolLM2 135M Instruct, shipped with FlowStudio"),
)


@dataclass(frozen=True)
class ModelChoice:
    source: str  # the value stored in the param
    description: str
    kind: str  # "builtin" or "cache"


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloaded repos (same rules as huggingface_hub itself)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def cached_hub_models(cache: Path | None = None) -> list[str]:
    """Repo ids of the models in the hub cache that have at least one snapshot."""
    cache = cache or hub_cache_dir()
    found = []
    try:
        entries = sorted(cache.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith("models--") or not entry.is_dir():
            continue
        snapshots = entry / "snapshots"
        try:
            if not snapshots.is_dir() or not any(snapshots.iterdir()):
                continue
        except OSError:
            continue
        found.append(entry.name[len("models--"):].replace("--", "/"))
    return found


def model_choices(cache: Path | None = None) -> list[ModelChoice]:
    choices = [ModelChoice(src, desc, "builtin") for src, desc in BUILTIN_MODELS]
    choices += [ModelChoice(repo, "In the local Hugging Face cache", "cache") for repo in cached_hub_models(cache)]
    return choices


class ModelPicker(QWidget):
    """An editable combo of known models plus a browse button for a local model directory."""

    textEdited = Signal(str)  # while typing or when a choice is picked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.combo = SafeComboBox(self)
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.lineEdit().setPlaceholderText("builtin:…, org/name or a local directory")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        self.browse = QToolButton(self)
        self.browse.setIcon(theme.icon("mdi6.folder-open-outline"))
        self.browse.setToolTip("Choose a local model directory")
        self.browse.clicked.connect(self._browse)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.browse)
        self.reload()
        self.combo.lineEdit().textEdited.connect(self.textEdited.emit)
        self.combo.activated.connect(lambda _i: self.textEdited.emit(self.text()))

    def reload(self) -> None:
        text = self.text()
        self.combo.blockSignals(True)
        self.combo.clear()
        for choice in model_choices():
            name = "mdi6.star-four-points-outline" if choice.kind == "builtin" else "mdi6.database-outline"
            self.combo.addItem(theme.icon(name, "accent" if choice.kind == "builtin" else "text_dim"), choice.source)
            self.combo.setItemData(self.combo.count() - 1, choice.description, Qt.ItemDataRole.ToolTipRole)
        self.combo.setEditText(text)
        self.combo.blockSignals(False)

    def choices(self) -> list[str]:
        return [self.combo.itemText(i) for i in range(self.combo.count())]

    def text(self) -> str:
        return self.combo.currentText()

    def set_text(self, text: str) -> None:
        if text != self.text():
            self.combo.blockSignals(True)
            self.combo.setEditText(text)
            self.combo.blockSignals(False)
            if not self.combo.lineEdit().hasFocus():
                self.combo.lineEdit().setCursorPosition(0)  # show the start of a long id

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a model directory", self.text() or str(Path.home()))
        if path:
            self.set_text(path)
            self.textEdited.emit(path)
