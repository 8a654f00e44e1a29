"""The Chat Playground window: one model, or two side by side on the same prompt.

Shared settings (system prompt, temperature, top-p, max tokens, seed, stop strings) go with every
message to each shown pane. Models run in `flowstudio serve` child processes (`server.ServerPool`),
so they stay loaded while the app runs — closing the window only hides it; the app's exit, or Unload,
stops them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .. import theme
from .client import network_manager
from .pane import ChatPane
from .server import ServerPool

MAX_STOPS = 4  # what the OpenAI API (and flowstudio serve) accepts


def parse_stops(text: str) -> list[str]:
    """Stop strings separated by "|" (a literal "|" is written "\\|"); at most MAX_STOPS, empty ones dropped."""
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] == "|":
            current += "|"
            i += 2
            continue
        if text[i] == "|":
            parts.append(current)
            current = ""
        else:
            current += text[i]
        i += 1
    parts.append(current)
    return [p.replace("\\n", "\n") for p in parts if p][:MAX_STOPS]


class PlaygroundWindow(QWidget):
    def __init__(self, parent: QWidget | None = None, device: str = "auto") -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("PlaygroundWindow")
        self.setWindowTitle("Chat Playground — FlowStudio")
        self.pool = ServerPool(self, device=device)
        self.manager = network_manager(self)
        self.panes = [ChatPane(self.pool, self.manager, "A", self), ChatPane(self.pool, self.manager, "B", self)]
        self.panes[0].set_source("builtin:tiny-llama")
        self.panes[1].set_source("builtin:smollm2-135m-instruct")
        self.split = QSplitter(Qt.Orientation.Horizontal, self)
        for pane in self.panes:
            self.split.addWidget(pane)
            pane.answered.connect(lambda _s: self._sync())
        self.side_by_side = QCheckBox("Side by side", self)
        self.side_by_side.setToolTip("Send each message to two models and compare their answers")
        self.side_by_side.toggled.connect(self.set_side_by_side)

        self.system = QPlainTextEdit(self)
        self.system.setPlaceholderText("System prompt (optional)")
        self.system.setMaximumHeight(self.fontMetrics().height() * 4)
        self.temperature = QDoubleSpinBox(self)
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.7)
        self.temperature.setToolTip("0 answers greedily (the same every time)")
        self.top_p = QDoubleSpinBox(self)
        self.top_p.setRange(0.01, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(0.95)
        self.max_tokens = QSpinBox(self)
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setValue(256)
        self.seed = QSpinBox(self)
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setValue(-1)
        self.seed.setSpecialValueText("random")
        self.stops = QLineEdit(self)
        self.stops.setPlaceholderText("e.g. User:|###  (up to 4, separated by |)")
        settings = QFormLayout()
        settings.addRow("Temperature", self.temperature)
        settings.addRow("Top-p", self.top_p)
        settings.addRow("Max tokens", self.max_tokens)
        settings.addRow("Seed", self.seed)
        settings.addRow("Stop", self.stops)

        self.prompt = QPlainTextEdit(self)
        self.prompt.setObjectName("PlaygroundPrompt")
        self.prompt.setPlaceholderText("Message (Ctrl+Enter sends)")
        self.prompt.setMaximumHeight(self.fontMetrics().height() * 5)
        self.send_button = QPushButton(theme.icon("mdi6.send"), "Send", self)
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton(theme.icon("mdi6.stop", "error"), "Stop", self)
        self.stop_button.clicked.connect(self.stop)
        self.clear_button = QPushButton(theme.icon("mdi6.broom"), "New chat", self)
        self.clear_button.setToolTip("Forget the conversation (the models stay loaded)")
        self.clear_button.clicked.connect(self.clear)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self.prompt, activated=self.send)
        QShortcut(QKeySequence("Escape"), self, activated=self.stop)

        top = QHBoxLayout()
        top.addWidget(self.side_by_side)
        top.addStretch(1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.clear_button)
        entry = QHBoxLayout()
        entry.addWidget(self.prompt, 1)
        entry.addLayout(buttons)
        side = QVBoxLayout()
        side.addWidget(self.system)
        side.addLayout(settings)
        side.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.split, 1)
        side_box = QWidget(self)
        side_box.setLayout(side)
        side_box.setMaximumWidth(self.fontMetrics().height() * 20)
        body.addWidget(side_box)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        layout.addLayout(entry)
        self.set_side_by_side(False)
        em = self.fontMetrics().height()
        self.resize(em * 70, em * 40)

    # -- what is sent

    def sampling(self) -> dict[str, Any]:
        body: dict[str, Any] = {"temperature": round(self.temperature.value(), 3), "top_p": round(self.top_p.value(), 3),
                                "max_tokens": self.max_tokens.value()}
        if self.seed.value() >= 0:
            body["seed"] = self.seed.value()
        stops = parse_stops(self.stops.text())
        if stops:
            body["stop"] = stops
        return body

    def shown_panes(self) -> list[ChatPane]:
        return self.panes if self.side_by_side.isChecked() else self.panes[:1]

    # -- commands

    def open_model(self, source: str, label: str = "") -> None:
        """Chat with `source` in pane A (loading it now) and show the window."""
        self.panes[0].set_source(source, label)
        self.panes[0].load()
        self.show()
        self.raise_()
        self.activateWindow()

    def set_side_by_side(self, on: bool) -> None:
        if self.side_by_side.isChecked() != on:
            self.side_by_side.setChecked(on)
        self.panes[1].setVisible(on)
        self.panes[0].title.setVisible(on)
        if on and self.panes[1].chosen() and self.panes[1].server is None:
            self.panes[1].load()  # start loading the second model now, not at the first message

    def send(self) -> bool:
        text = self.prompt.toPlainText().strip()
        panes = self.shown_panes()
        if not text or any(p.busy for p in panes):
            return False
        sent = [p.send(text, self.system.toPlainText(), self.sampling()) for p in panes]
        if any(sent):
            self.prompt.clear()
        self._sync()
        return any(sent)

    def stop(self) -> None:
        for pane in self.panes:
            pane.stop()
        self._sync()

    def clear(self) -> None:
        for pane in self.panes:
            pane.clear()
        self._sync()

    def shutdown(self) -> None:
        """Stop every model server (the app is closing)."""
        for pane in self.panes:
            pane.stop()
        self.pool.shutdown()

    def _sync(self) -> None:
        busy = any(p.busy for p in self.shown_panes())
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
