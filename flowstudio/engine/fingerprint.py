"""What the cache key sees of local files, directories and hub snapshots: their content.

A file is fingerprinted by an xxh3-128 hash of its bytes (4-5 GB/s, several times sha256 or blake2b),
memoised by (device, inode, size, mtime_ns, ctime_ns) so one version of a file is read once: in this
process, and across restarts through a small JSON memo under `cache_dir()` (files of 1 MiB and more).
ctime cannot be set by `touch`, `cp -p`, `rsync -a` or `tar x`, so a file whose bytes changed is
rehashed even when its size and mtime were restored. A file changed less than `RACY_SECONDS` ago is
not memoised (ctime ticks are coarse: a rewrite in the same tick would keep the same stamp).

A directory is fingerprinted by (relative path, size, content hash) of every file in it. A hub id
(`org/name`) found in the local Hugging Face cache by its `refs/main` is fingerprinted by that
revision (a commit hash) and the blob each snapshot file links to (blobs are named by content hash).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import xxhash

from flowstudio.core.paths import cache_dir, hf_hub_cache_dir

HASH = "xxh3_128"
MAX_DIR_FILES = 10_000
PERSIST_MIN_BYTES = 2**20  # smaller files are rehashed after a restart (under a millisecond each)
MEMO_MAX_ENTRIES = 50_000
MEMO_FILE = "hash-memo.json"
RACY_SECONDS = 2.0  # covers file systems with one-second (or two-second) time stamps

StatKey = tuple[int, int, int, int, int]

_lock = threading.Lock()
_memory: dict[StatKey, str] = {}


def _hash_file(path: Path) -> str:
    """xxh3-128 of a file's bytes (the one place that reads them)."""
    h = xxhash.xxh3_128()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(st: os.stat_result) -> StatKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _DiskMemo:
    """The persistent part of the memo: `{"dev:ino": [size, mtime_ns, ctime_ns, hash]}` in one JSON file.

    Written by atomic replace after merging what is on disk (a concurrent writer loses at most some
    entries, which costs a rehash); an unreadable or malformed file is ignored.
    """

    def __init__(self) -> None:
        self.path: Path | None = None
        self.stamp: tuple[int, int] | None = None
        self.entries: dict[str, list[Any]] = {}
        self.dirty: dict[str, list[Any]] = {}

    def _read(self, path: Path) -> dict[str, list[Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            raw = data["entries"] if data.get("version") == 1 else {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, list) and len(v) == 4
                and all(isinstance(x, int) for x in v[:3]) and isinstance(v[3], str)}

    def _refresh(self) -> None:
        path = cache_dir() / MEMO_FILE
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if path != self.path or stamp != self.stamp:
            self.path, self.stamp = path, stamp
            self.entries = self._read(path) if stamp is not None else {}
            self.entries.update(self.dirty)

    def get(self, key: StatKey) -> str | None:
        self._refresh()
        found = self.entries.get(f"{key[0]}:{key[1]}")
        return found[3] if found is not None and tuple(found[:3]) == key[2:] else None

    def put(self, key: StatKey, digest: str) -> None:
        value = [key[2], key[3], key[4], digest]
        self.entries[f"{key[0]}:{key[1]}"] = value
        self.dirty[f"{key[0]}:{key[1]}"] = value

    def flush(self) -> None:
        if not self.dirty or self.path is None:
            return
        path = self.path
        merged = self._read(path)
        merged.update(self.dirty)
        if len(merged) > MEMO_MAX_ENTRIES:  # oldest insertions go first
            merged = dict(list(merged.items())[-MEMO_MAX_ENTRIES:])
        tmp = path.with_name(f".{MEMO_FILE}.{uuid.uuid4().hex[:8]}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": 1, "entries": merged}, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            return
        self.dirty = {}
        self.entries = merged
        with contextlib.suppress(OSError):
            st = path.stat()
            self.stamp = (st.st_mtime_ns, st.st_size)


_disk = _DiskMemo()


def forget_memory() -> None:
    """Drop the in-process memo (as a restart would); the persistent memo stays."""
    with _lock:
        _memory.clear()


def file_digest(path: Path, st: os.stat_result | None = None) -> str:
    """The content hash of a file, read once per version of the file."""
    st = st if st is not None else path.stat()
    key = _stat_key(st)
    with _lock:
        found = _memory.get(key)
        if found is None and st.st_size >= PERSIST_MIN_BYTES:
            found = _disk.get(key)
            if found is not None:
                _memory[key] = found
    if found is not None:
        return found
    digest = _hash_file(path)
    try:
        after = _stat_key(path.stat())
    except OSError:
        return digest
    settled = time.time() - max(st.st_mtime_ns, st.st_ctime_ns) / 1e9 >= RACY_SECONDS
    if after == key and settled:  # unchanged while it was read, and not too fresh to trust the stamps
        with _lock:
            _memory[key] = digest
            if st.st_size >= PERSIST_MIN_BYTES:
                _disk.put(key, digest)
    return digest


def fresh_digest(path: Path) -> str:
    """The content hash of a file read afresh, whatever the memo says (for full integrity checks)."""
    return _hash_file(path)


def _flush() -> None:
    with _lock:
        _disk.flush()


def flush_memo() -> None:
    """Write what `file_digest` learnt to the persistent memo (`fingerprint_path` does it itself)."""
    _flush()


def _file_entry(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {HASH: file_digest(path, st), "size": st.st_size}


def fingerprint_path(path: Path) -> Any:
    """A fingerprint of a local file or directory: the content of every file (and, in a directory, its name)."""
    try:
        if path.is_file():
            return _file_entry(path)
        if not path.exists():
            return {"missing": str(path)}
        entries: list[Any] = []
        for i, sub in enumerate(sorted(path.rglob("*"))):
            if i >= MAX_DIR_FILES:
                entries.append("...")
                break
            try:
                if sub.is_file():
                    st = sub.stat()
                    entries.append([sub.relative_to(path).as_posix(), st.st_size, file_digest(sub, st)])
            except OSError:
                continue
        return {"dir": hashlib.sha256(json.dumps(entries).encode("utf-8")).hexdigest()}
    except OSError:
        return {"missing": str(path)}
    finally:
        _flush()


def hub_snapshot(repo_id: str) -> tuple[str, Path] | None:
    """(revision, snapshot dir) of a hub id in the local HF cache, as `snapshot_download(local_files_only)`
    finds it for the default branch; None when it is not there."""
    repo = hf_hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    try:
        revision = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    snapshot = repo / "snapshots" / revision
    if not revision or "/" in revision or not snapshot.is_dir():
        return None
    return revision, snapshot


def hub_fingerprint(repo_id: str) -> dict[str, Any] | None:
    """The revision of a cached hub model and what each of its files holds (the blob it links to, or the
    content of a file that is not a link); None when the model is not in the local cache."""
    found = hub_snapshot(repo_id)
    if found is None:
        return None
    revision, snapshot = found
    files: list[Any] = []
    try:
        for sub in sorted(snapshot.rglob("*")):
            if len(files) >= MAX_DIR_FILES:
                files.append("...")
                break
            with contextlib.suppress(OSError):
                if sub.is_symlink() and sub.is_file():
                    files.append([sub.relative_to(snapshot).as_posix(), "blob", Path(os.readlink(sub)).name])
                elif sub.is_file():
                    files.append([sub.relative_to(snapshot).as_posix(), HASH, file_digest(sub)])
    finally:
        _flush()
    return {"hub": repo_id, "revision": revision, "files": hashlib.sha256(json.dumps(files).encode()).hexdigest()}
