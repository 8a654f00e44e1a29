"""The start page and template gallery: every flow in `templates/`, plus new/open and recent files.

Choosing a template opens it as a new, unsaved flow (the template file itself is never written).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import load_flow
from flowstudio.core.paths import templates_dir
from flowstudio.core.registry import NodeRegistry

from .. import theme


@dataclass(frozen=True)
class TemplateInfo:
    path: Path
    name: str
    description: str
    nodes: int
    icons: tuple[str, ...]
    categories: tuple[str, ...]


def list_templates(registry: NodeRegistry, directory: Path | None = None) -> list[TemplateInfo]:
    """Every readable template, by name. Unreadable files are skipped (the CLI's validate reports them)."""
    directory = directory or templates_dir()
    found = []
    for path in sorted(directory.glob("*.flow.json")):
        try:
            flow = load_flow(path)
        except FlowFileError:
            continue
        icons: list[str] = []
        categories: list[str] = []
        for node in flow.nodes:
            cls = registry.find(node.type)
            if cls is None:
                continue
            if cls.icon not in icons:
                icons.append(cls.icon)
            if cls.category not in categories:
                categories.append(cls.category)
        found.append(TemplateInfo(path, flow.name or path.name.removesuffix(".flow.json"), flow.description,
                                  len(flow.nodes), tuple(icons), tuple(categories)))
    return sorted(found, key=lambda t: (t.nodes > 2, t.name.lower()))


class TemplateCard(QFrame):
    """A clickable card: icons of the node types used, name, description, size."""

    clicked = Signal(object)  # Path

    def __init__(self, info: TemplateInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setObjectName("TemplateCard")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip(f"{info.name}\n{info.path.name}")
        em = self.fontMetrics().height()
        self.setMinimumSize(QSize(em * 17, em * 9))
        self.setMaximumWidth(em * 24)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(em, em, em, em)
        layout.setSpacing(em // 3)
        icons = QHBoxLayout()
        icons.setSpacing(em // 3)
        size = int(em * 1.4)
        for name in info.icons[:6] or ("mdi6.sitemap-outline",):
            label = QLabel(self)
            label.setPixmap(theme.icon(name, "accent").pixmap(size, size))
            icons.addWidget(label)
        icons.addStretch(1)
        layout.addLayout(icons)
        title = QLabel(info.name, self)
        title.setObjectName("CardTitle")
        theme.emphasize(title, 1.1, bold=True)
        description = QLabel(_first_sentences(info.description), self)
        description.setObjectName("CardDescription")
        description.setWordWrap(True)
        description.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        meta = QLabel(f"{info.nodes} node{'s' if info.nodes != 1 else ''}"
                      + (" · " + ", ".join(info.categories[:3]) if info.categories else ""), self)
        meta.setObjectName("CardMeta")
        theme.emphasize(meta, 0.85)
        layout.addWidget(title)
        layout.addWidget(description, 1)
        layout.addWidget(meta)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit(self.info.path)
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit(self.info.path)
            return
        super().keyPressEvent(event)


def _first_sentences(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(".,;:") + "…"


class TemplateGrid(QScrollArea):
    """Template cards in as many columns as fit (re-flowed when the width changes)."""

    templateChosen = Signal(object)  # noqa: N815 - Path

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None, populate: bool = True) -> None:
        super().__init__(parent)
        self.registry = registry
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        host = QWidget()
        self.grid = QGridLayout(host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(self.fontMetrics().height())
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.cards: list[TemplateCard] = []
        self.populated = False
        self.columns = 0
        self.setWidget(host)
        if populate:
            self.populate()

    def populate(self) -> None:
        """Read the templates and make their cards (the app does it after its first frame)."""
        if self.populated:
            return
        self.populated = True
        host = self.widget()
        for info in list_templates(self.registry):
            card = TemplateCard(info, host)
            card.clicked.connect(self.templateChosen)
            self.cards.append(card)
        if not self.cards:
            self.grid.addWidget(QLabel("No templates found in " + str(templates_dir())), 0, 0)
        self._reflow()

    def _reflow(self) -> None:
        if not self.cards:
            return
        card_width = self.cards[0].minimumWidth() + self.grid.spacing()
        columns = max(1, (self.viewport().width() + self.grid.spacing()) // card_width)
        if columns == self.columns:
            return
        self.columns = columns
        for card in self.cards:
            self.grid.removeWidget(card)
        for i, card in enumerate(self.cards):
            self.grid.addWidget(card, i // columns, i % columns)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._reflow()


class StartPage(QWidget):
    """Shown in the window's centre while no flow is open."""

    templateChosen = Signal(object)  # noqa: N815 - Path
    newRequested = Signal()  # noqa: N815
    openRequested = Signal()  # noqa: N815
    recentChosen = Signal(object)  # noqa: N815 - Path

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None, populate: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("StartPage")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        em = self.fontMetrics().height()
        outer = QHBoxLayout(self)
        outer.setContentsMargins(em * 3, em * 2, em * 3, em * 2)
        outer.setSpacing(em * 3)

        side = QVBoxLayout()
        side.setSpacing(em // 2)
        logo = QLabel(self)
        logo.setPixmap(theme.icon("mdi6.graph-outline", "accent").pixmap(em * 3, em * 3))
        title = QLabel("FlowStudio", self)
        title.setObjectName("StartTitle")
        theme.emphasize(title, 2.0, bold=True)
        subtitle = QLabel("Wire nodes into flows that train and use language models — offline.", self)
        subtitle.setObjectName("StartSubtitle")
        theme.emphasize(subtitle, 1.05)
        subtitle.setWordWrap(True)
        side.addWidget(logo)
        side.addWidget(title)
        side.addWidget(subtitle)
        side.addSpacing(em)
        self.new_button = QPushButton(theme.icon("mdi6.file-plus-outline", "accent_text"), "  New empty flow", self)
        self.new_button.setProperty("primary", True)
        self.open_button = QPushButton(theme.icon("mdi6.folder-open-outline"), "  Open a flow…", self)
        self.new_button.clicked.connect(self.newRequested)
        self.open_button.clicked.connect(self.openRequested)
        side.addWidget(self.new_button)
        side.addWidget(self.open_button)
        side.addSpacing(em)
        recent_title = QLabel("RECENT", self)
        recent_title.setObjectName("StartSection")
        theme.emphasize(recent_title, 0.9, bold=True)
        side.addWidget(recent_title)
        self.recent_box = QVBoxLayout()
        self.recent_box.setSpacing(0)
        side.addLayout(self.recent_box)
        side.addStretch(1)
        side_host = QWidget(self)
        side_host.setLayout(side)
        side_host.setFixedWidth(em * 17)
        outer.addWidget(side_host)

        main = QVBoxLayout()
        main.setSpacing(em)
        section = QLabel("START FROM A TEMPLATE", self)
        section.setObjectName("StartSection")
        theme.emphasize(section, 0.9, bold=True)
        main.addWidget(section)
        self.templates = TemplateGrid(registry, self, populate)
        self.templates.templateChosen.connect(self.templateChosen)
        main.addWidget(self.templates, 1)
        outer.addLayout(main, 1)

    def set_recent(self, paths: list[Path]) -> None:
        while self.recent_box.count():
            item = self.recent_box.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not paths:
            label = QLabel("No recent flows yet", self)
            label.setObjectName("Dim")
            self.recent_box.addWidget(label)
        for path in paths[:8]:
            button = QPushButton(path.name.removesuffix(".flow.json"), self)
            button.setObjectName("RecentButton")
            button.setToolTip(str(path))
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, p=path: self.recentChosen.emit(p))
            self.recent_box.addWidget(button)


class TemplateGallery(QDialog):
    """File → New from Template: the same cards in a dialog; `chosen` is the picked template."""

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New from Template")
        self.chosen: Path | None = None
        em = self.fontMetrics().height()
        self.resize(em * 60, em * 36)
        layout = QVBoxLayout(self)
        heading = QLabel("Start a new flow from a template. It opens unsaved; the template itself is never changed.",
                         self)
        heading.setObjectName("Dim")
        heading.setWordWrap(True)
        layout.addWidget(heading)
        self.grid = TemplateGrid(registry, self)
        self.grid.templateChosen.connect(self._choose)
        layout.addWidget(self.grid, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _choose(self, path: Path) -> None:
        self.chosen = path
        self.accept()
