"""The content-addressed artifact store: a node's outputs (and the files it wrote) by cache key.

Key = sha256 of canonical JSON of: node type, node version, params (canonical, paths absolute),
the keys of the node's inputs (the upstream node's key and port; for values from a node that is
not cacheable, a fingerprint of the value itself), and fingerprints of the local files the params
name (`PathField`s and local model sources: a content hash of every file, see `fingerprint.py`; hub ids:
their cached revision).

Layout under `cache_dir()`:

    entries/<k[:2]>/<key>/entry.json   outputs (JSON), metrics, node type, size, created
    entries/<k[:2]>/<key>/files/       what the node wrote in ctx.work_dir (artifact paths point here)
    tmp/                               entries being written (renamed into place atomically)
    hash-memo.json                     content hashes of big files by inode and stamps (fingerprint.py)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowstudio.core.paths import cache_dir
from flowstudio.engine.fingerprint import fingerprint_path


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def value_fingerprint(value: Any) -> str:
    """Fingerprint a JSON port value (artifacts include a fingerprint of what their path holds)."""
    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            if v.get("__artifact__") is True:
                return {"artifact": v.get("kind"), "meta": v.get("meta"), "files": fingerprint_path(Path(v["path"]))}
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return digest(walk(value))


def compute_key(node_type: str, version: int, params: dict[str, Any], inputs: dict[str, list[str]],
                files: dict[str, Any]) -> str:
    return digest({"type": node_type, "version": version, "params": params, "inputs": inputs, "files": files})


@dataclass
class CacheEntry:
    key: str
    outputs: dict[str, Any]  # JSON outputs, artifact paths pointing into the store
    metrics: dict[str, float]
    path: Path


def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def rewrite_paths(value: Any, old_root: Path, new_root: Path) -> Any:
    """Point artifacts under `old_root` at the same place under `new_root`."""
    old = str(old_root)
    if isinstance(value, dict):
        if value.get("__artifact__") is True:
            path = str(value.get("path", ""))
            if path == old or path.startswith(old + os.sep):
                value = dict(value)
                value["path"] = str(new_root) + path[len(old):]
            return value
        return {k: rewrite_paths(v, old_root, new_root) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_paths(v, old_root, new_root) for v in value]
    return value


class ArtifactStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir()

    def _entry_dir(self, key: str) -> Path:
        return self.root / "entries" / key[:2] / key

    def get(self, key: str) -> CacheEntry | None:
        entry_dir = self._entry_dir(key)
        try:
            data = json.loads((entry_dir / "entry.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        outputs = data.get("outputs", {})
        if not artifacts_exist(outputs):
            return None  # someone removed files by hand: treat as a miss
        with contextlib.suppress(OSError):
            os.utime(entry_dir / "entry.json")  # last use, for a future LRU trim
        return CacheEntry(key, outputs, data.get("metrics", {}), entry_dir)

    def put(self, key: str, node_type: str, outputs: dict[str, Any], metrics: dict[str, float],
            work_dir: Path | None, move: bool = True) -> CacheEntry:
        """Store outputs; the files in `work_dir` move into the store and artifact paths follow them."""
        final = self._entry_dir(key)
        tmp = self.root / "tmp" / f"{key[:16]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True, exist_ok=True)
        files = final / "files"
        if work_dir is not None and Path(work_dir).is_dir():
            if move:
                try:
                    os.rename(work_dir, tmp / "files")
                except OSError:
                    shutil.copytree(work_dir, tmp / "files", symlinks=True)
                    shutil.rmtree(work_dir, ignore_errors=True)
            else:
                shutil.copytree(work_dir, tmp / "files", symlinks=True)
            outputs = rewrite_paths(outputs, Path(work_dir), files)
        else:
            (tmp / "files").mkdir()
        record = {"key": key, "node_type": node_type, "outputs": outputs, "metrics": metrics,
                  "created": time.time(), "size": _dir_size(tmp / "files")}
        (tmp / "entry.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final)
        except OSError:
            # The key is stored already (an earlier or concurrent run, or --no-cache): the fresh result
            # replaces it. Paths stay the same (they are named by key), so readers keep working.
            trash = self.root / "tmp" / f"old-{key[:16]}-{uuid.uuid4().hex[:8]}"
            with contextlib.suppress(OSError):
                os.rename(final, trash)
            try:
                os.rename(tmp, final)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # lost a race: theirs is as good
            # Deleting is slow on some file systems (ms per directory): do it off the run's thread.
            threading.Thread(target=shutil.rmtree, args=(trash, True), daemon=True).start()
        return CacheEntry(key, outputs, metrics, final)

    # -- maintenance

    def info(self) -> dict[str, Any]:
        entries = 0
        size = 0
        by_type: dict[str, dict[str, int]] = {}
        for entry_json in (self.root / "entries").glob("*/*/entry.json"):
            try:
                data = json.loads(entry_json.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            entries += 1
            esize = int(data.get("size", 0))
            size += esize
            slot = by_type.setdefault(data.get("node_type", "?"), {"entries": 0, "bytes": 0})
            slot["entries"] += 1
            slot["bytes"] += esize
        return {"path": str(self.root), "entries": entries, "bytes": size, "by_type": by_type}

    def trim(self, max_bytes: int | None = None, older_than_s: float | None = None) -> tuple[int, int]:
        """Remove least recently used entries: those unused for `older_than_s` seconds, then more until the
        store holds at most `max_bytes`. Returns (entries removed, bytes freed)."""
        found = []
        for entry_json in (self.root / "entries").glob("*/*/entry.json"):
            try:
                used = entry_json.stat().st_mtime  # touched on every cache hit
                size = int(json.loads(entry_json.read_text(encoding="utf-8")).get("size", 0))
            except (OSError, ValueError):
                continue
            found.append((used, size, entry_json.parent))
        found.sort()  # least recently used first
        total = sum(size for _, size, _ in found)
        now = time.time()
        removed = freed = 0
        for used, size, entry_dir in found:
            too_old = older_than_s is not None and now - used > older_than_s
            too_big = max_bytes is not None and total > max_bytes
            if not (too_old or too_big):
                continue
            shutil.rmtree(entry_dir, ignore_errors=True)
            total -= size
            removed += 1
            freed += size
        return removed, freed

    def clear(self) -> int:
        """Remove every entry; returns the bytes freed."""
        freed = _dir_size(self.root) if self.root.exists() else 0
        for sub in ("entries", "tmp"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        return freed


def artifacts_exist(value: Any) -> bool:
    """Whether every artifact path in a JSON value still exists."""
    if isinstance(value, dict):
        if value.get("__artifact__") is True:
            return Path(value.get("path", "")).exists()
        return all(artifacts_exist(v) for v in value.values())
    if isinstance(value, list):
        return all(artifacts_exist(v) for v in value)
    return True
