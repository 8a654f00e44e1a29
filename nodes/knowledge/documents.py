"""Document nodes: load local files (`docs.load`) and split them into token-sized chunks (`docs.split`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, PathField, Port, Ports, Resources
from flowstudio.core.paths import is_builtin_reference, resolve_user_path
from flowstudio.core.ports import Tokenizer
from flowstudio.core.problems import Problem
from flowstudio.core.values import Artifact

from .builtins import BUILTIN_CORPORA, builtin_path
from .kinds import Chunks, Documents
from .readers import DEFAULT_EXTENSIONS, list_files, parse_extensions, read_document


class LoadDocuments(Node):
    type = "docs.load"
    title = "Load documents"
    category = "Knowledge"
    icon = "mdi6.file-document-multiple-outline"
    description = ("Local documents from a folder or one file: .txt, .md, .html (visible text), .pdf (the text of "
                   "each page, with pypdf) and .jsonl (one document a line), each with its path and metadata. "
                   "builtin:flowstudio-docs is a frozen copy of FlowStudio's own documentation.")
    resources = Resources(isolated=True)  # a folder can be arbitrarily big: keep it killable

    class Outputs(Ports):
        documents = Port(Documents, "The documents (text, source path, format, metadata)")

    class Params(NodeParams):
        path: str = PathField("builtin:flowstudio-docs", "A folder or one file (or builtin:flowstudio-docs)",
                              kind="any")
        extensions: str = Field(DEFAULT_EXTENSIONS, description="File types read from a folder (others are "
                                "skipped)")
        recursive: bool = Field(True, description="Read sub-folders too (hidden ones and symlinks are skipped)")
        text_field: str = Field("text", description=".jsonl files: the field that holds each document's text")
        max_file_mb: float = Field(200.0, gt=0, description="Refuse files larger than this")
        on_error: Literal["fail", "skip"] = Field("fail", description="An unreadable file fails the node, or "
                                                  "is skipped with a line in the log")

    @classmethod
    def is_cacheable(cls, params: NodeParams) -> bool:
        # Built-in folders are not fingerprinted by the cache key; reading them again is cheap, and what is
        # downstream is still cached by the content of the documents.
        assert isinstance(params, LoadDocuments.Params)
        return not is_builtin_reference(params.path)

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, LoadDocuments.Params)
        problems = []
        if not params.path.strip():
            problems.append(Problem("missing_param", "no folder or file given", field="path",
                                    hint="choose a folder of documents, or builtin:flowstudio-docs"))
        elif is_builtin_reference(params.path) and params.path.strip()[len("builtin:"):] not in BUILTIN_CORPORA:
            problems.append(Problem("bad_path", f"unknown built-in {params.path!r}", field="path",
                                    hint="built-ins: " + ", ".join("builtin:" + n for n in BUILTIN_CORPORA)))
        if not parse_extensions(params.extensions):
            problems.append(Problem("missing_param", "no file types given", field="extensions",
                                    hint=f"e.g. {DEFAULT_EXTENSIONS}"))
        return problems

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        root = (builtin_path(params.path, BUILTIN_CORPORA, "path") if is_builtin_reference(params.path)
                else resolve_user_path(params.path, ctx.flow_dir))
        exts = parse_extensions(params.extensions)
        if not root.exists():
            raise NodeRunError(f"{root} does not exist", field="path", hint="choose an existing folder or file")
        if root.is_dir():
            files, skipped = list_files(root, exts, params.recursive)
            base = root
        elif root.is_file():
            files, skipped, base = [root], 0, root.parent
        else:  # a FIFO or a device would block the read
            raise NodeRunError(f"{root} is not a regular file or folder", field="path",
                               hint="choose a folder of documents or one document file")
        if not files:
            others = f" ({skipped} file(s) of other types were skipped)" if skipped else ""
            raise NodeRunError(f"{root} holds no documents: no {', '.join(exts)} files{others}", field="path",
                               hint="choose a folder with documents, or add their extension to `extensions`")
        docs, failed = [], 0
        max_bytes = int(params.max_file_mb * 2**20)
        for i, path in enumerate(files):
            if ctx.cancelled():
                from flowstudio.core.errors import RunCancelled

                raise RunCancelled(f"stopped after {i} of {len(files)} files")
            try:
                docs += read_document(path, path.relative_to(base).as_posix(), text_field=params.text_field,
                                      max_bytes=max_bytes)
            except NodeRunError as err:
                if params.on_error == "fail":
                    raise
                failed += 1
                ctx.log(f"skipped: {err}")
            except OSError as err:
                if params.on_error == "fail":
                    raise NodeRunError(f"{path} cannot be read: {err}", field="path") from None
                failed += 1
                ctx.log(f"skipped: {path}: {err}")
            ctx.progress(i + 1, len(files))
        docs = [d for d in docs if d.text.strip()]
        if not docs:
            raise NodeRunError(f"no text in the {len(files)} file(s) under {root}", field="path",
                               hint="the files are empty (or every one was skipped: see the log)")
        out = Path(ctx.work_dir) / "documents.jsonl"
        with open(out, "w", encoding="utf-8") as fh:
            for doc in docs:
                fh.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")
        chars = sum(len(d.text) for d in docs)
        ctx.log(f"{len(docs)} documents from {len(files)} file(s) under {root}, {chars} characters"
                + (f"; {skipped} other file(s) skipped" if skipped else "")
                + (f"; {failed} unreadable file(s) skipped" if failed else ""))
        ctx.metric("documents", len(docs))
        ctx.metric("characters", chars)
        return {"documents": Artifact("documents", str(out.resolve()), {"documents": len(docs), "root": str(root)})}


class SplitDocuments(Node):
    type = "docs.split"
    title = "Split documents"
    category = "Knowledge"
    icon = "mdi6.content-cut"
    description = ("Chunks of at most `size` tokens of the chosen tokenizer, split recursively (paragraphs, then "
                   "lines, sentences, words), neighbours sharing up to `overlap` tokens. Each chunk keeps its "
                   "source and its character and token position in the document (and its PDF page).")
    resources = Resources(isolated=True)

    class Inputs(Ports):
        documents = Port(Documents, "Documents from docs.load")
        tokenizer = Port(Tokenizer, "Counts the tokens (use the embedding model's: embed.load's tokenizer)")

    class Outputs(Ports):
        chunks = Port(Chunks, "The chunks, in document order")

    class Params(NodeParams):
        size: int = Field(200, ge=8, le=100_000, description="Most tokens in a chunk (keep it within the "
                          "embedding model's limit: 256 for MiniLM)")
        overlap: int = Field(32, ge=0, description="Tokens shared by neighbouring chunks; smaller than size")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, SplitDocuments.Params)
        if params.overlap >= params.size:
            return [Problem("bad_overlap", f"the overlap ({params.overlap} tokens) must be smaller than the chunk "
                            f"size ({params.size} tokens)", field="overlap",
                            hint=f"lower overlap below {params.size} (about a sixth of size is usual), or raise size")]
        return []

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import artifact_path

        from .splitting import split_text, token_starts_function
        from .store import read_jsonl, write_jsonl

        for problem in self.check(params, None):
            raise NodeRunError(problem.message, field=problem.field, hint=problem.hint)
        starts_of = token_starts_function(artifact_path(inputs.tokenizer, "tokenizer", "tokenizer"))
        docs = read_jsonl(artifact_path(inputs.documents, "documents", "documents"))
        rows: list[dict[str, Any]] = []
        for n, doc in enumerate(docs):
            text = doc["text"]
            page_starts = (doc.get("meta") or {}).get("page_starts")
            for i, span in enumerate(split_text(text, starts_of(text), params.size, params.overlap)):
                row = {"id": f"{doc['id']}#{i}", "doc_id": doc["id"], "source": doc["source"], "index": i,
                       "text": text[span.start_char:span.end_char], "start_char": span.start_char,
                       "end_char": span.end_char, "start_token": span.start_token, "end_token": span.end_token,
                       "tokens": span.tokens}
                if page_starts:
                    from bisect import bisect_right

                    row["page"] = bisect_right(page_starts, span.start_char) - 1
                rows.append(row)
            ctx.progress(n + 1, len(docs))
        out = Path(ctx.work_dir) / "chunks.jsonl"
        write_jsonl(out, rows)
        tokens = [r["tokens"] for r in rows]
        ctx.log(f"{len(rows)} chunks from {len(docs)} documents; tokens per chunk: mean "
                f"{sum(tokens) / max(len(tokens), 1):.0f}, max {max(tokens, default=0)}")
        ctx.metric("chunks", len(rows))
        tok_meta = getattr(inputs.tokenizer, "meta", {}) or {}
        return {"chunks": Artifact("chunks", str(out.resolve()), {"chunks": len(rows), "size": params.size,
                                                                   "overlap": params.overlap,
                                                                   "tokenizer": tok_meta.get("source", "")})}
