"""A knowledge base on disk: chunks, a dense index (FAISS) and a keyword index (bm25s) in one directory.

    index.json     format version, counts, the embedding model (path, content id, prefixes), BM25 settings
    chunks.jsonl   one chunk a line (id, source, text, character and token positions, content hash)
    dense.faiss    an exact inner-product index of L2-normalised vectors (cosine similarity)
    bm25/          the bm25s index (English stop words, Snowball stemmer)

Exact search (`IndexFlatIP`) is chosen over graph indexes: at 10k chunks it builds in milliseconds and
answers in about a millisecond with perfect recall (see benchmarks/retrieval.py); HNSW pays seconds of
build time and loses recall for nothing at this size. Vectors come from the content-addressed store
(`vectors.py`), so a rebuild embeds only chunks it has not seen.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError, RunCancelled

from .vectors import VectorStore, text_hash

FORMAT = 1
INDEX_FILE = "index.json"
STOPWORDS = "en"
STEMMER = "english"
OPEN_MAX = 4  # knowledge bases kept open per process

_lock = threading.Lock()
_open: dict[tuple[str, int], KnowledgeBase] = {}


def bm25_tokens(texts: list[str]) -> Any:
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=Stemmer.Stemmer(STEMMER), return_ids=False,
                          show_progress=False)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


@dataclass
class BuildStats:
    chunks: int
    embedded: int  # vectors computed in this build
    reused: int  # vectors found in the store
    seconds_embedding: float


def build_index(out_dir: Path, chunks: list[dict[str, Any]], embedder: dict[str, Any], *,
                batch_size: int = 32, k1: float = 1.5, b: float = 0.75, device: str = "cpu",
                progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] = lambda: False) -> BuildStats:
    """Write a knowledge base for `chunks` into `out_dir`. `embedder`: path, model_id, document_prefix,
    query_prefix (as in the Embedder artifact's meta)."""
    import time

    import bm25s
    import faiss
    import numpy as np

    from .embedder import embedding_dim, encode, load_embedder

    if not chunks:
        raise NodeRunError("there are no chunks to index", field="chunks",
                           hint="check that the documents hold text (docs.load) and were split (docs.split)")
    prefix = embedder.get("document_prefix", "")
    hashes = [text_hash(c["text"], prefix) for c in chunks]
    model = load_embedder(embedder["path"], device)
    dim = embedding_dim(model)
    store = VectorStore(embedder["model_id"], dim)
    started = time.perf_counter()
    try:
        known = store.get(hashes)
        missing = [h for h in dict.fromkeys(hashes) if h not in known]
        text_of = {h: c["text"] for h, c in zip(hashes, chunks, strict=True)}
        done = 0
        for start in range(0, len(missing), batch_size * 8):
            if cancelled():
                raise RunCancelled(f"stopped after embedding {done} of {len(missing)} chunks")
            part = missing[start:start + batch_size * 8]
            vecs = encode(model, [prefix + text_of[h] for h in part], batch_size=batch_size)
            fresh = dict(zip(part, vecs, strict=True))
            store.put(fresh)
            known.update(fresh)
            done += len(part)
            if progress is not None:
                progress(done, len(missing))
    finally:
        store.close()
    seconds = time.perf_counter() - started
    matrix = np.stack([known[h] for h in hashes]).astype("float32")
    out_dir.mkdir(parents=True, exist_ok=True)
    dense = faiss.IndexFlatIP(dim)
    dense.add(matrix)
    faiss.write_index(dense, str(out_dir / "dense.faiss"))
    retriever = bm25s.BM25(k1=k1, b=b)
    retriever.index(bm25_tokens([c["text"] for c in chunks]), show_progress=False)
    retriever.save(str(out_dir / "bm25"), show_progress=False)
    rows = [{**c, "hash": h} for c, h in zip(chunks, hashes, strict=True)]
    write_jsonl(out_dir / "chunks.jsonl", rows)
    meta = {"format": FORMAT, "chunks": len(rows), "dim": dim,
            "embedder": {k: embedder.get(k, "") for k in ("path", "model_id", "source", "document_prefix",
                                                           "query_prefix")},
            "bm25": {"k1": k1, "b": b, "stopwords": STOPWORDS, "stemmer": STEMMER},
            "sources": sorted({c["source"] for c in chunks})}
    (out_dir / INDEX_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    unique = len(set(hashes))
    return BuildStats(len(rows), len(missing), unique - len(missing), seconds)


@dataclass
class KnowledgeBase:
    path: Path
    meta: dict[str, Any]
    chunks: list[dict[str, Any]]
    dense: Any  # faiss index
    bm25: Any  # bm25s.BM25

    @property
    def embedder(self) -> dict[str, Any]:
        return dict(self.meta.get("embedder", {}))


def open_index(path: Path | str) -> KnowledgeBase:
    """An index directory, opened once per process (and again when it changes)."""
    path = Path(path)
    meta_file = path / INDEX_FILE
    try:
        stamp = meta_file.stat().st_mtime_ns
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise NodeRunError(f"{path} is not a knowledge base ({INDEX_FILE}: {err})", field="index",
                           hint="connect the index output of index.build") from None
    if meta.get("format") != FORMAT:
        raise NodeRunError(f"{path} is a knowledge base of format {meta.get('format')!r}; this FlowStudio "
                           f"reads format {FORMAT}", field="index", hint="rebuild it with index.build")
    key = (str(path.resolve()), stamp)
    with _lock:
        if key in _open:
            return _open[key]
    import bm25s
    import faiss

    kb = KnowledgeBase(path, meta, read_jsonl(path / "chunks.jsonl"), faiss.read_index(str(path / "dense.faiss")),
                       bm25s.BM25.load(str(path / "bm25"), show_progress=False))
    if kb.dense.ntotal != len(kb.chunks):
        raise NodeRunError(f"{path}: the dense index holds {kb.dense.ntotal} vectors for {len(kb.chunks)} chunks",
                           field="index", hint="rebuild it with index.build")
    with _lock:
        for old in [k for k in _open if k[0] == key[0]] + list(_open)[:-(OPEN_MAX - 1)]:
            _open.pop(old, None)  # an older version of this index, or the least recently opened ones
        _open[key] = kb
    return kb
