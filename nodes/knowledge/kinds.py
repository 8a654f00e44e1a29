"""Port types of the knowledge family, declared here as the node contract allows (subclasses of
`PortType` register themselves by name; see flowstudio/core/ports.py)."""

from __future__ import annotations

from flowstudio.core.ports import PortType, Table


class Documents(PortType):
    color = "#8bc34a"
    description = "Loaded documents: their text, source path and metadata (a JSONL file on disk)."


class Chunks(PortType):
    color = "#9ccc65"
    description = "Documents split into chunks, each with its source and character/token position (JSONL)."


class Embedder(PortType):
    color = "#00897b"
    description = "A sentence-embedding model (a sentence-transformers directory on disk)."


class KnowledgeIndex(PortType):
    color = "#00695c"
    description = "A knowledge base: chunks, a dense vector index and a BM25 keyword index in one directory."


class Passages(Table):
    color = "#a5d6a7"
    description = "Retrieved passages with rank, score, source and text (a JSONL table)."
