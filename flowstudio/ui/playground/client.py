"""One streamed chat completion from a model server, read on the GUI thread without blocking it.

`QNetworkAccessManager` delivers the response as it arrives (`readyRead`); `sse.SSEParser` cuts it into
events and each chunk's text is emitted at once. Stop aborts the request: the server sees the client
go and stops generating within a token. Proxies are never used (the server is on 127.0.0.1).
"""

from __future__ import annotations

import json
import time
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QUrl, Signal
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkProxy, QNetworkReply, QNetworkRequest

from .sse import SSEParser, chunk_delta


def network_manager(parent: QObject | None = None) -> QNetworkAccessManager:
    manager = QNetworkAccessManager(parent)
    manager.setProxy(QNetworkProxy(QNetworkProxy.ProxyType.NoProxy))
    return manager


class ChatStream(QObject):
    """POST /chat/completions with `stream: true`; `delta` per piece of text, then `finished(stats)`.

    stats: `text`, `seconds` (send to end), `first_token_s` (send to the first text; None if none came),
    `finish_reason`, `model`, `error` (None, or why it failed), `stopped` (Stop was pressed)."""

    delta = Signal(str)
    finished = Signal(dict)

    def __init__(self, manager: QNetworkAccessManager, url: str, api_key: str, body: dict[str, Any],
                 parent: QObject | None = None, sent_at: float | None = None) -> None:
        super().__init__(parent)
        self.parser = SSEParser()
        self.text = ""
        self.sent_at = sent_at if sent_at is not None else time.perf_counter()
        self.first_token_at: float | None = None
        self.finish_reason: str | None = None
        self.model = ""
        self.error: str | None = None
        self.stopped = False
        self.done = False
        self._status: int | None = None
        self._error_body = b""
        request = QNetworkRequest(QUrl(url.rstrip("/") + "/chat/completions"))
        request.setHeader(QNetworkRequest.KnownHeaders.ContentTypeHeader, "application/json")
        request.setRawHeader(b"Authorization", f"Bearer {api_key}".encode())
        request.setRawHeader(b"Accept", b"text/event-stream")
        request.setAttribute(QNetworkRequest.Attribute.Http2AllowedAttribute, False)
        request.setTransferTimeout(0)  # a long answer is not a timeout
        payload = json.dumps({**body, "stream": True}).encode("utf-8")
        self.reply: QNetworkReply = manager.post(request, QByteArray(payload))
        self.reply.readyRead.connect(self._read)
        self.reply.finished.connect(self._finished)

    def stop(self) -> None:
        if not self.done:
            self.stopped = True
            self.reply.abort()

    def _read(self) -> None:
        if not self.reply.isOpen():  # aborted
            return
        data = bytes(self.reply.readAll().data())
        status = self.reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
        if status is not None and int(status) >= 400:
            self._error_body += data[: 64 * 1024 - len(self._error_body)]
            return
        for payload in self.parser.feed(data):
            text, chunk = chunk_delta(payload)
            if isinstance(chunk.get("error"), dict):
                self.error = str(chunk["error"].get("message", "the server reported an error"))
            if chunk.get("model"):
                self.model = str(chunk["model"])
            for choice in chunk.get("choices") or []:
                if isinstance(choice, dict) and choice.get("finish_reason"):
                    self.finish_reason = str(choice["finish_reason"])
            if text:
                if self.first_token_at is None:
                    self.first_token_at = time.perf_counter()
                self.text += text
                self.delta.emit(text)

    def _finished(self) -> None:
        if self.done:
            return
        self._read()
        self.done = True
        status = self.reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
        if self.stopped:
            pass
        elif status is not None and int(status) >= 400:
            self.error = _error_message(self._error_body) or f"HTTP {int(status)}"
        elif self.reply.error() != QNetworkReply.NetworkError.NoError and self.error is None:
            self.error = self.reply.errorString()
        now = time.perf_counter()
        self.finished.emit({
            "text": self.text, "seconds": now - self.sent_at,
            "first_token_s": None if self.first_token_at is None else self.first_token_at - self.sent_at,
            "finish_reason": self.finish_reason, "model": self.model, "error": self.error,
            "stopped": self.stopped})
        self.reply.deleteLater()


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
        return str(data["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", errors="replace")[:500]
