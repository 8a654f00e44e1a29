"""docs.load reads every supported format with its source; bad input fails naming the file or field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flowstudio.nodes.knowledge.documents import LoadDocuments

from flowstudio.core.errors import NodeRunError
from flowstudio.core.flow import Flow
from flowstudio.core.validation import validate_flow

Run = Callable[..., dict[str, Any]]


def text_pdf(path: Path, pages: list[str]) -> Path:
    """A minimal valid PDF with one line of Helvetica text per page (offsets computed, so pypdf reads it)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        content = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
                       "/Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def load(run_node: Run, path: Path, **params: Any) -> list[dict[str, Any]]:
    out = run_node(LoadDocuments, path=str(path), **params)
    return [json.loads(line) for line in Path(out["documents"].path).read_text().splitlines()]


def test_every_format_is_read_with_its_source(run_node: Run, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("plain text")
    (root / "sub" / "b.md").write_text("# Title\n\nmarkdown body")
    (root / "c.html").write_text("<html><head><title>T</title><style>x{}</style></head><body><h1>Head</h1>"
                                 "<p>Para &amp; more</p><script>evil()</script></body></html>")
    (root / "d.jsonl").write_text(json.dumps({"id": "r1", "text": "row one", "lang": "en"}) + "\n\n"
                                  + json.dumps({"text": "row two"}) + "\n")
    text_pdf(root / "e.pdf", ["First page words", "Second page words"])
    (root / "image.png").write_bytes(b"\x89PNG\x00\x00")  # not a document type: skipped
    (root / ".hidden.txt").write_text("secret")
    docs = {d["id"]: d for d in load(run_node, root)}
    assert sorted(docs) == ["a.txt", "c.html", "d.jsonl:3", "d.jsonl:r1", "e.pdf", "sub/b.md"]
    assert docs["sub/b.md"]["text"].startswith("# Title") and docs["sub/b.md"]["source"] == "sub/b.md"
    assert docs["c.html"]["text"] == "Head\n\nPara & more" and docs["c.html"]["meta"]["title"] == "T"
    assert docs["d.jsonl:r1"]["meta"] == {"id": "r1", "lang": "en"} and docs["d.jsonl:3"]["text"] == "row two"
    pdf = docs["e.pdf"]
    assert "First page words" in pdf["text"] and "Second page words" in pdf["text"]
    assert pdf["meta"]["pages"] == 2
    assert pdf["text"][pdf["meta"]["page_starts"][1]:].startswith("Second page")
    assert Path(docs["a.txt"]["path"]).is_absolute()


def test_the_builtin_docs_load(run_node: Run) -> None:
    sources = {d["source"] for d in load(run_node, Path("builtin:flowstudio-docs"))}
    assert {"serve.md", "engine.md", "DESIGN.md"} <= sources


def test_an_unreadable_pdf_names_the_file(run_node: Run, tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf at all\n")
    with pytest.raises(NodeRunError, match=r"broken\.pdf is not a readable PDF") as err:
        load(run_node, tmp_path)
    assert err.value.field == "path"


def test_an_empty_folder_is_an_error(run_node: Run, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NodeRunError, match=r"empty holds no documents") as err:
        load(run_node, tmp_path / "empty")
    assert err.value.field == "path"


def test_a_fifo_named_like_a_document_is_refused_without_blocking(run_node: Run, tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "notes.md"
    os.mkfifo(fifo)
    with pytest.raises(NodeRunError, match="not a regular file") as err:
        load(run_node, fifo)
    assert err.value.field == "path"


def test_a_binary_file_names_the_file_or_is_skipped(run_node: Run, tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("fine")
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(NodeRunError, match=r"blob\.txt is a binary file"):
        load(run_node, tmp_path)
    assert [d["id"] for d in load(run_node, tmp_path, on_error="skip")] == ["good.txt"]


def test_non_utf8_text_names_the_file(run_node: Run, tmp_path: Path) -> None:
    (tmp_path / "latin.md").write_bytes("café".encode("latin-1"))
    with pytest.raises(NodeRunError, match=r"latin\.md is not UTF-8"):
        load(run_node, tmp_path)


def test_chunk_size_below_overlap_is_a_validation_error_before_run() -> None:
    flow = Flow.model_validate({"schema_version": 1, "name": "t", "nodes": [
        {"id": "docs", "type": "docs.load", "params": {}, "position": [0, 0]},
        {"id": "emb", "type": "embed.load", "params": {}, "position": [0, 0]},
        {"id": "chunker", "type": "docs.split", "params": {"size": 16, "overlap": 32}, "position": [0, 0]}],
        "edges": [{"source": "docs.documents", "target": "chunker.documents"},
                  {"source": "emb.tokenizer", "target": "chunker.tokenizer"}]})
    problems = validate_flow(flow)
    assert [(p.node_id, p.field) for p in problems] == [("chunker", "overlap")]
    assert "overlap (32 tokens) must be smaller than the chunk size (16 tokens)" in problems[0].message
