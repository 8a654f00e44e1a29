"""The SSE reader and the playground's small parsers, against hand-written streams."""

from __future__ import annotations

import json

import pytest

from flowstudio.ui.playground.sse import SSEParser, chunk_delta
from flowstudio.ui.playground.window import parse_stops


def _chunk(text: str, finish: str | None = None) -> str:
    return json.dumps({"object": "chat.completion.chunk", "model": "m",
                       "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}, ensure_ascii=False)


STREAM = (f": ping\r\n\r\ndata: {_chunk('Hel')}\r\n\r\nevent: message\r\ndata: {_chunk('lo, ')}\r\n\r\n"
          f"data: {_chunk('wörld')}\n\ndata: {_chunk('', 'stop')}\r\rdata: [DONE]\r\n\r\n")


def _texts(payloads: list[str]) -> str:
    return "".join(chunk_delta(p)[0] for p in payloads)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM.encode())])
def test_the_stream_reads_the_same_however_it_is_cut(size: int):
    data = STREAM.encode("utf-8")  # "ö" is two bytes: some cuts split it
    parser = SSEParser()
    payloads: list[str] = []
    for i in range(0, len(data), size):
        payloads += parser.feed(data[i:i + size])
    assert len(payloads) == 5 and payloads[-1] == "[DONE]"
    assert payloads[0] == _chunk("Hel")
    assert _texts(payloads) == "Hello, wörld"


def test_multi_line_data_is_joined_and_comments_ignored():
    parser = SSEParser()
    assert parser.feed(b"data: a\ndata: b\n\n:comment\n\ndata:c\n\n") == ["a\nb", "c"]
    assert parser.feed(b"data: unfinished") == []
    assert parser.feed(b"\n\n") == ["unfinished"]


def test_chunk_delta_reads_text_finish_and_errors():
    assert chunk_delta(_chunk("x")) == ("x", json.loads(_chunk("x")))
    assert chunk_delta("[DONE]") == ("", {})
    assert chunk_delta("not json") == ("", {})
    assert chunk_delta("[1, 2]") == ("", {})
    text, chunk = chunk_delta(json.dumps({"error": {"message": "boom"}}))
    assert text == "" and chunk["error"]["message"] == "boom"
    other = json.dumps({"choices": [{"index": 1, "delta": {"content": "no"}}, {"index": 0, "delta": {"content": "yes"}}]})
    assert chunk_delta(other)[0] == "yes"


def test_stop_strings():
    assert parse_stops("") == []
    assert parse_stops("User:|###") == ["User:", "###"]
    assert parse_stops(r"a\|b|c") == ["a|b", "c"]
    assert parse_stops(r"\n\n|x||") == ["\n\n", "x"]
    assert parse_stops("1|2|3|4|5") == ["1", "2", "3", "4"]


def test_the_playground_and_history_never_import_torch():
    import subprocess
    import sys

    code = ("import sys\n"
            "import flowstudio.ui.playground.launcher, flowstudio.ui.playground.window\n"
            "import flowstudio.ui.history.dock, flowstudio.ui.window.main_window\n"
            "bad = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
