"""Reading local documents: .txt, .md, .html, .pdf and .jsonl files into text records.

Every failure names the file: an unreadable PDF, a binary file, text that is not UTF-8, a JSONL line
that is not an object with text. Folders are walked without following symlinks; hidden entries are
skipped and so are files whose extension is not asked for.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError

TEXT_FORMATS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".rst": "text",
                ".html": "html", ".htm": "html", ".pdf": "pdf", ".jsonl": "jsonl"}
DEFAULT_EXTENSIONS = ".txt, .md, .html, .htm, .pdf, .jsonl"
MAX_FILES = 20_000


@dataclass
class Document:
    id: str
    source: str  # the path relative to the loaded folder (a file's name when one file is loaded)
    path: str  # absolute path of the file
    format: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "path": self.path, "format": self.format,
                "text": self.text, "meta": self.meta}


def parse_extensions(value: str) -> list[str]:
    exts = []
    for part in value.replace(";", ",").split(","):
        part = part.strip().lower()
        if part:
            exts.append(part if part.startswith(".") else "." + part)
    return exts


def list_files(root: Path, extensions: list[str], recursive: bool) -> tuple[list[Path], int]:
    """The files under `root` with one of `extensions`, sorted; and how many other files were skipped."""
    found: list[Path] = []
    skipped = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            if path.suffix.lower() in extensions:
                found.append(path)
                if len(found) > MAX_FILES:
                    raise NodeRunError(f"{root} holds more than {MAX_FILES} documents", field="path",
                                       hint="load a smaller folder, or narrow `extensions`")
            else:
                skipped += 1
    return found, skipped


def read_document(path: Path, source: str, *, text_field: str = "text",
                  max_bytes: int = 200 * 2**20) -> list[Document]:
    """One file as documents (a JSONL file gives one document per line)."""
    fmt = TEXT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NodeRunError(f"{path}: unsupported file type {path.suffix or '(none)'!r}", field="path",
                           hint=f"FlowStudio reads {', '.join(sorted(TEXT_FORMATS))}")
    size = path.stat().st_size
    if size > max_bytes:
        raise NodeRunError(f"{path} is {size / 2**20:.0f} MiB, over the limit of {max_bytes / 2**20:.0f} MiB",
                           field="max_file_mb", hint="raise max_file_mb, or split the file")
    resolved = str(path.resolve())
    if fmt == "pdf":
        text, meta = read_pdf(path)
        return [Document(source, source, resolved, fmt, text, meta)]
    raw = path.read_bytes()
    text = decode_text(raw, path)
    if fmt == "html":
        parser = _HtmlText()
        parser.feed(text)
        parser.close()
        meta = {"title": parser.title.strip()} if parser.title.strip() else {}
        return [Document(source, source, resolved, fmt, parser.text(), meta)]
    if fmt == "jsonl":
        return _jsonl_documents(text, path, source, resolved, text_field)
    return [Document(source, source, resolved, fmt, text, {})]


def decode_text(raw: bytes, path: Path) -> str:
    """UTF-8 text (a BOM is dropped); a file with NUL bytes or invalid UTF-8 is refused by name."""
    if b"\x00" in raw[:65536]:
        raise NodeRunError(f"{path} is a binary file, not text", field="path",
                           hint="remove it from the folder, or narrow `extensions` so it is skipped")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise NodeRunError(f"{path} is not UTF-8 text (invalid byte at position {err.start})", field="path",
                           hint="convert the file to UTF-8, or remove it from the folder") from None


def read_pdf(path: Path) -> tuple[str, dict[str, Any]]:
    """The text of every page, pages separated by a blank line; `page_starts` holds each page's offset."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise NodeRunError(f"{path} is an encrypted PDF", field="path",
                               hint="save an unencrypted copy of the PDF, or remove it from the folder")
        pages = [page.extract_text() or "" for page in reader.pages]
    except NodeRunError:
        raise
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise NodeRunError(f"{path} is not a readable PDF ({type(err).__name__}: {err})", field="path",
                           hint="open it in a PDF viewer to check it, re-save it, or remove it from the folder") \
            from None
    starts, parts, offset = [], [], 0
    for text in pages:
        starts.append(offset)
        parts.append(text)
        offset += len(text) + 2
    body = "\n\n".join(parts)
    if not body.strip():
        raise NodeRunError(f"{path}: no text could be extracted from its {len(pages)} page(s)", field="path",
                           hint="a scanned PDF needs OCR first; FlowStudio reads PDFs that contain text")
    return body, {"pages": len(pages), "page_starts": starts}


def _jsonl_documents(text: str, path: Path, source: str, resolved: str, text_field: str) -> list[Document]:
    docs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise NodeRunError(f"{path}, line {number}: not JSON ({err})", field="path",
                               hint="each line of a .jsonl file is one JSON object") from None
        if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
            raise NodeRunError(f"{path}, line {number}: no string field {text_field!r}", field="text_field",
                               hint="set text_field to the field that holds each document's text")
        meta = {k: v for k, v in row.items() if k != text_field}
        doc_id = str(row.get("id", number))
        docs.append(Document(f"{source}:{doc_id}", source, resolved, "jsonl", row[text_field], meta))
    return docs


class _HtmlText(HTMLParser):
    """Visible text of an HTML page: block elements become line breaks; script and style are dropped."""

    BLOCKS = {"p", "div", "section", "article", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5",
              "h6", "pre", "blockquote", "header", "footer", "main", "nav", "dd", "dt"}
    HIDDEN = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if not self._hidden:
            self.parts.append(data)

    def text(self) -> str:
        import re

        joined = "".join(self.parts)
        joined = re.sub(r"[ \t\r\f\v]+", " ", joined)
        joined = re.sub(r" *\n *", "\n", joined)
        return re.sub(r"\n{3,}", "\n\n", joined).strip()
