"""Vectors by content: a chunk's embedding is stored under a hash of (model, prefix, text), so a rebuilt
index embeds only the chunks it has never seen: editing one document re-embeds that document's changed
chunks and nothing else.

One SQLite file per embedding model under `cache_dir()/knowledge-vectors/` (WAL mode: several worker
processes may read and write it at once). Every vector can be recomputed, so a damaged or foreign file
is set aside and started afresh.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import xxhash

from flowstudio.core.paths import cache_dir

BATCH = 500  # below SQLite's limit on bound variables


def text_hash(text: str, prefix: str = "") -> str:
    return xxhash.xxh3_128_hexdigest(f"{len(prefix)}:{prefix}{text}".encode())


def store_path(model: str) -> Path:
    return cache_dir() / "knowledge-vectors" / f"{model}.sqlite"


class VectorStore:
    """`get(hashes)` and `put({hash: vector})` for one model's vectors (float32, fixed dimension)."""

    def __init__(self, model: str, dim: int, path: Path | None = None) -> None:
        self.path = path or store_path(model)
        self.dim = dim
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError:  # not a database (damaged): set it aside, start afresh
            self.path.replace(self.path.with_suffix(".damaged"))
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        return db

    def get(self, hashes: Iterable[str]) -> dict[str, Any]:
        import numpy as np

        wanted = list(dict.fromkeys(hashes))
        found: dict[str, Any] = {}
        for start in range(0, len(wanted), BATCH):
            part = wanted[start:start + BATCH]
            rows = self.db.execute(f"SELECT hash, vec FROM vectors WHERE hash IN ({','.join('?' * len(part))})",
                                   part).fetchall()
            for h, blob in rows:
                vec = np.frombuffer(blob, dtype="float32")
                if vec.shape == (self.dim,):  # a vector of another size is treated as missing
                    found[h] = vec
        return found

    def put(self, vectors: dict[str, Any]) -> None:
        import numpy as np

        rows = [(h, np.asarray(v, dtype="float32").tobytes()) for h, v in vectors.items()]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO vectors (hash, vec) VALUES (?, ?)", rows)

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
