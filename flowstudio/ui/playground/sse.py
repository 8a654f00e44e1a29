"""Server-sent events as the OpenAI streaming API sends them, read incrementally (no Qt, no network).

`SSEParser.feed(bytes)` returns the `data:` payloads of the events completed by those bytes; a
payload split across reads (even inside a UTF-8 character) is kept until its blank line arrives. Lines
may end in CRLF, LF or CR.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

DONE = "[DONE]"
MAX_PENDING = 4 * 1024 * 1024  # a line this long without an end is dropped (a broken or hostile stream)


class SSEParser:
    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._cr = False  # the last chunk ended in CR: a following LF belongs to it
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may be cut

    def feed(self, chunk: bytes | str) -> list[str]:
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if self._cr and text.startswith("\n"):
            text = text[1:]
        self._cr = text.endswith("\r")
        self._buffer += text
        out: list[str] = []
        lines = self._buffer.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._buffer = lines.pop()  # the unfinished line
        if len(self._buffer) > MAX_PENDING:
            self._buffer = ""
        for line in lines:
            if not line:
                if self._data:
                    out.append("\n".join(self._data))
                    self._data = []
            elif line.startswith("data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)
            # comments (":ping"), "event:", "id:" and "retry:" lines carry nothing we use
        return out


def chunk_delta(payload: str) -> tuple[str, dict[str, Any]]:
    """The text a chat-completion chunk adds, and the chunk itself ({} for `[DONE]` or non-JSON)."""
    if payload.strip() == DONE:
        return "", {}
    try:
        chunk = json.loads(payload)
    except ValueError:
        return "", {}
    if not isinstance(chunk, dict):
        return "", {}
    text = ""
    for choice in chunk.get("choices") or []:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            delta = choice.get("delta") or {}
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                text += delta["content"]
    return text, chunk
