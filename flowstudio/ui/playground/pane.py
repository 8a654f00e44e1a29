"""One chat: a model (kept loaded in its server), the conversation, and the streaming answer.

The pane sends the whole conversation each turn (the OpenAI API is stateless); the model itself stays
loaded in its `ModelServer` between messages. A message sent while the model is still loading waits
for it, and its "first token" time then includes the loading.
"""

from __future__ import annotations

import html
import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from flowstudio.ui.panels.model_picker import ModelPicker

from .. import theme
from .client import ChatStream
from .server import SERVED_NAME, ModelServer, ServerPool
from .sources import adapter_base, chat_flows, run_models


class ChatPane(QWidget):
    answered = Signal(dict)  # the stats of a finished answer (see ChatStream)
    delta = Signal(str)  # each piece of the answer as it streams in

    def __init__(self, pool: ServerPool, manager: Any, title: str = "Model", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.manager = manager
        self.server: ModelServer | None = None
        self.messages: list[dict[str, str]] = []
        self.answers: list[str] = []
        self.stats: list[dict[str, Any]] = []
        self.stream: ChatStream | None = None
        self._waiting: tuple[dict[str, Any], float] | None = None  # a request waiting for the model
        self._labels: dict[str, str] = {}
        self._connected: ModelServer | None = None

        self.title = QLabel(f"<b>{html.escape(title)}</b>", self)
        self.picker = ModelPicker(self)
        self.picker.setToolTip("A built-in, a model in the Hugging Face cache, a model directory, or one a run produced")
        self.lora = QCheckBox("With its LoRA", self)
        self.lora.setToolTip("This model is a LoRA adapter: chat with the adapter on its base, or with the base alone")
        self.lora.setChecked(True)
        self.lora.setVisible(False)
        self.load_button = QPushButton(theme.icon("mdi6.download-outline"), "Load", self)
        self.load_button.setToolTip("Load the model (it stays loaded for the next messages)")
        self.load_button.clicked.connect(self.load)
        self.unload_button = QPushButton(theme.icon("mdi6.eject-outline"), "Unload", self)
        self.unload_button.setToolTip("Stop this model's server and free its memory")
        self.unload_button.clicked.connect(self.unload)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.picker, 1)
        head.addWidget(self.lora)
        head.addWidget(self.load_button)
        head.addWidget(self.unload_button)
        self.status = QLabel("Pick a model and press Load (or just send a message)", self)
        self.status.setObjectName("PlaygroundStatus")
        self.status.setWordWrap(True)
        self.transcript = QTextEdit(self)
        self.transcript.setReadOnly(True)
        self.transcript.setObjectName("PlaygroundTranscript")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.status)
        layout.addWidget(self.transcript, 1)
        self.picker.textEdited.connect(lambda _t: self._source_changed())
        self.reload_sources()

    # -- the model

    def reload_sources(self) -> None:
        """Built-ins and cached hub models (the picker's), then the models runs produced."""
        self.picker.reload()
        self._labels.clear()
        for model in run_models():
            self.picker.combo.addItem(theme.icon("mdi6.school-outline", "ok"), model.source)
            index = self.picker.combo.count() - 1
            self.picker.combo.setItemData(index, model.label + (" (LoRA adapter)" if model.adapter else ""),
                                          Qt.ItemDataRole.ToolTipRole)
            self._labels[model.source] = model.label
        for flow in chat_flows():  # a knowledge base to chat with: served as a flow, answers cite sources
            self.picker.combo.addItem(theme.icon("mdi6.book-search-outline", "ok"), flow.source)
            index = self.picker.combo.count() - 1
            self.picker.combo.setItemData(index, flow.label, Qt.ItemDataRole.ToolTipRole)
            self._labels[flow.source] = flow.label

    def set_source(self, source: str, label: str = "") -> None:
        self.picker.set_text(source)
        if label:
            self._labels[source] = label
        self._source_changed()

    def chosen(self) -> str:
        return self.picker.text().strip()

    def source(self) -> str:
        """What is loaded: the chosen model, or its base when it is an adapter and "With its LoRA" is off."""
        chosen = self.chosen()
        base = adapter_base(chosen) if chosen else None
        return base if base is not None and not self.lora.isChecked() else chosen

    def _source_changed(self) -> None:
        self.lora.setVisible(adapter_base(self.chosen()) is not None)
        if self.server is not None and self.server.source != self.source():
            self.status.setText("Press Load (or send) to switch to this model")

    def load(self) -> ModelServer | None:
        source = self.source()
        if not source:
            self.status.setText("Pick a model first")
            return None
        if self.server is not None and self.server.source == source and self.server.state in ("starting", "ready"):
            return self.server
        if self.stream is not None:
            self.stream.stop()
        self.server = self.pool.server(source)
        if self.server is not self._connected:  # once per server object (a failed one restarts as itself)
            self._connected = self.server
            self.server.ready.connect(self._ready)
            self.server.failed.connect(self._failed)
        if self.server.state == "ready":
            self._ready(self.server.url)
        else:
            self.status.setText(f"Loading {self._name(source)}… (in its own process; it stays loaded)")
        return self.server

    def unload(self) -> None:
        if self.server is not None:
            if self.stream is not None:
                self.stream.stop()
            self.pool.unload(self.server.source)
            self.server = None
            self.status.setText("Unloaded")

    def _name(self, source: str) -> str:
        return self._labels.get(source, source)

    def _ready(self, _url: str) -> None:
        server = self.sender() if isinstance(self.sender(), ModelServer) else self.server
        if server is not self.server or self.server is None:
            return
        seconds = f" in {self.server.load_seconds:.1f} s" if self.server.load_seconds is not None else ""
        self.status.setText(f"<span style='color:{theme.color('ok')}'>●</span> {html.escape(self._name(self.server.source))}"
                            f" — loaded{seconds}, server pid {self.server.pid}")
        if self._waiting is not None:
            body, sent_at = self._waiting
            self._waiting = None
            self._start(body, sent_at)

    def _failed(self, message: str) -> None:
        if self.sender() is not self.server:
            return
        self.status.setText(f"<span style='color:{theme.color('error')}'>Failed:</span> "
                            + html.escape(message).replace("\n", "<br>"))
        if self._waiting is not None:
            self._waiting = None
            self._finish_turn({"text": "", "error": message, "stopped": False, "seconds": 0.0,
                               "first_token_s": None, "finish_reason": None, "model": ""})

    # -- the conversation

    @property
    def busy(self) -> bool:
        return self.stream is not None or self._waiting is not None

    def send(self, prompt: str, system: str = "", sampling: dict[str, Any] | None = None) -> bool:
        """Add `prompt` to the conversation and stream the answer (False: busy, or no model)."""
        if self.busy or not prompt.strip():
            return False
        server = self.load()
        if server is None:
            return False
        self.messages.append({"role": "user", "content": prompt})
        self._write("You", prompt)
        self._write("Assistant", "")
        turn = ([{"role": "system", "content": system}] if system.strip() else []) + self.messages
        body = {"model": SERVED_NAME, "messages": turn, **(sampling or {})}
        sent_at = time.perf_counter()
        if server.state == "ready":
            self._start(body, sent_at)
        else:
            self._waiting = (body, sent_at)
        return True

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.stop()
        elif self._waiting is not None:
            self._waiting = None
            self._finish_turn({"text": "", "error": None, "stopped": True, "seconds": 0.0, "first_token_s": None,
                               "finish_reason": None, "model": ""})

    def clear(self) -> None:
        self.stop()
        self.messages.clear()
        self.transcript.clear()

    def _start(self, body: dict[str, Any], sent_at: float) -> None:
        assert self.server is not None
        self.stream = ChatStream(self.manager, self.server.url, self.server.api_key, body, self, sent_at=sent_at)
        self.stream.delta.connect(self._append)
        self.stream.finished.connect(self._finish_turn)

    def _append(self, text: str) -> None:
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        self.transcript.setTextCursor(cursor)
        self.transcript.ensureCursorVisible()
        self.delta.emit(text)

    def _write(self, who: str, text: str) -> None:
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self.transcript.document().isEmpty():
            cursor.insertBlock()
        color = theme.color("accent" if who == "You" else "ok")
        cursor.insertHtml(f"<b style='color:{color}'>{html.escape(who)}:</b>&nbsp;")
        cursor.insertText(text)
        self.transcript.setTextCursor(cursor)

    def _finish_turn(self, stats: dict[str, Any]) -> None:
        self.stream = None
        text = stats.get("text", "")
        if text:
            self.messages.append({"role": "assistant", "content": text})
        elif self.messages and self.messages[-1]["role"] == "user":
            self.messages.pop()  # nothing came back: the question can be asked again
        if stats.get("error"):
            self._append(f"[error: {stats['error']}]")
        elif stats.get("stopped"):
            self._append(" [stopped]")
        self.answers.append(text)
        self.stats.append(stats)
        first = stats.get("first_token_s")
        if self.server is not None and self.server.state == "ready":
            parts = [html.escape(self._name(self.server.source)), f"pid {self.server.pid}",
                     f"first token {first:.2f} s" if first is not None else "no text",
                     f"{stats.get('seconds', 0.0):.2f} s"]
            self.status.setText(f"<span style='color:{theme.color('ok')}'>●</span> " + " · ".join(parts))
        self.answered.emit(stats)
