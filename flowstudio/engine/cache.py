"""The content-addressed artifact store: a node's outputs (and the files it wrote) by cache key.

Key = sha256 of canonical JSON of: node type, node version, params (canonical, paths absolute),
the keys of the node's inputs (the upstream node's key and port; for values from a node that is
not cacheable, a fingerprint of the value itself), and fingerprints of the local files the params
name (`PathField`s and local model sources: a content hash of every file, see `fingerprint.py`; hub ids:
their cached revision).

Layout under `cache_dir()`:

    entries/<k[:2]>/<key>/entry.json   outputs (JSON), metrics, node type, size, created, the manifest, checksum
    entries/<k[:2]>/<key>/files/       what the node wrote in ctx.work_dir (artifact paths point here)
    tmp/                               entries being written (renamed into place atomically)
    hash-memo.json                     content hashes of big files by inode and stamps (fingerprint.py)

Integrity: `put` makes the stored files read-only and records a manifest (per file: size, xxh3-128 content
hash, mtime_ns, ctime_ns; per symlink: its target) and a sha256 checksum of the record itself. `lookup`
checks an entry before serving it: the record's checksum, that files/ holds exactly the manifest's files
with their sizes, and the content hash of any file whose time stamps changed (ctime cannot be set back, so
unchanged stamps mean unchanged bytes); every `FULL_VERIFY_AFTER_S` it rereads every byte. A damaged entry is
removed and reported, so the node runs again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowstudio.core.paths import cache_dir
from flowstudio.engine.fingerprint import HASH, file_digest, fingerprint_path, flush_memo, fresh_digest

RECORD_VERSION = 2
FULL_VERIFY_AFTER_S = 7 * 86400.0  # reread every byte of an entry served this long after its last full check


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
    """Bytes of every file under `path` as it is on disk now (links count as themselves)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _walk_files(root: Path) -> list[tuple[str, str, os.stat_result]]:
    """(relative posix path, path, lstat) of everything under `root` that is not a directory, sorted."""
    found: list[tuple[str, str, os.stat_result]] = []

    def visit(directory: str, prefix: str) -> None:
        with os.scandir(directory) as it:
            for item in it:
                rel = prefix + item.name
                if item.is_dir(follow_symlinks=False):
                    visit(item.path, rel + "/")
                else:
                    found.append((rel, item.path, item.stat(follow_symlinks=False)))

    if root.is_dir():
        visit(str(root), "")
    found.sort(key=lambda f: f[0])
    return found


def _read_only(root: Path) -> None:
    """Clear the write bits of every stored file (directories stay writable so the entry can be removed);
    sockets and FIFOs a node left behind mean nothing once it ended: they are not stored."""
    for _rel, path, st in _walk_files(root):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o222:
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o222)
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                os.unlink(path)


def _manifest(root: Path) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """({rel: [size, content hash, mtime_ns, ctime_ns]} of regular files, {rel: [target, whether it resolved]}
    of symlinks: e.g. weights linked from an input model, which must still be there when the entry is served)."""
    files: dict[str, list[Any]] = {}
    links: dict[str, list[Any]] = {}
    try:
        for rel, path, st in _walk_files(root):
            if stat.S_ISLNK(st.st_mode):
                links[rel] = [os.readlink(path), os.path.exists(path)]
            elif stat.S_ISREG(st.st_mode):
                files[rel] = [st.st_size, file_digest(Path(path), st), st.st_mtime_ns, st.st_ctime_ns]
    finally:
        flush_memo()
    return files, links


def _record_checksum(record: dict[str, Any]) -> str:
    return digest({k: v for k, v in record.items() if k != "checksum"})


def _write_record(entry_dir: Path, record: dict[str, Any]) -> None:
    """Write entry.json (with a fresh checksum) by atomic replace."""
    record["checksum"] = _record_checksum(record)
    tmp = entry_dir / f".entry.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(record, indent=1, allow_nan=True), encoding="utf-8")
    os.replace(tmp, entry_dir / "entry.json")


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
    def __init__(self, root: Path | None = None, full_verify_after_s: float = FULL_VERIFY_AFTER_S) -> None:
        self.root = Path(root) if root is not None else cache_dir()
        self.full_verify_after_s = full_verify_after_s

    def _entry_dir(self, key: str) -> Path:
        return self.root / "entries" / key[:2] / key

    def get(self, key: str) -> CacheEntry | None:
        """The stored entry if it is intact (see `lookup`), else None."""
        return self.lookup(key)[0]

    def lookup(self, key: str, full: bool = False) -> tuple[CacheEntry | None, str]:
        """(entry, "") for an intact entry; (None, "") when there is none; (None, why) when the entry was damaged
        (it is removed: the caller runs the node again). `full` rereads every byte, as does the first lookup
        `full_verify_after_s` after the entry's last full check."""
        entry_dir = self._entry_dir(key)
        for _attempt in range(2):
            try:
                before = os.stat(entry_dir).st_ino
            except OSError:
                return None, ""
            record, problem = self._check(entry_dir, key, full)
            if record is not None:
                with contextlib.suppress(OSError):
                    os.utime(entry_dir / "entry.json")  # last use, for LRU trims
                return CacheEntry(key, record.get("outputs", {}), record.get("metrics", {}), entry_dir), ""
            if not problem:
                return None, ""
            if self._drop(entry_dir, before):
                return None, problem
            # a concurrent run replaced the entry while it was read: look at the new one
        return None, ""

    def verify(self, key: str, full: bool = True) -> str:
        """Why the entry is damaged ("" when intact or absent), without removing it."""
        return self._check(self._entry_dir(key), key, full)[1]

    def _check(self, entry_dir: Path, key: str, full: bool) -> tuple[dict[str, Any] | None, str]:
        """(record, "") when intact, (None, "") when absent, (None, why) when damaged."""
        try:
            text = (entry_dir / "entry.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, ("entry.json is missing" if (entry_dir / "files").exists() else "")
        except (OSError, UnicodeDecodeError) as exc:
            return None, f"entry.json cannot be read ({exc})"
        try:
            record = json.loads(text)
        except ValueError:
            return None, "entry.json is not valid JSON"
        if not isinstance(record, dict):
            return None, "entry.json holds no record"
        if record.get("version") != RECORD_VERSION or "checksum" not in record:
            return None, "it was stored without checksums (by an earlier FlowStudio)"
        if record.get("checksum") != _record_checksum(record):
            return None, "entry.json was changed after it was stored (its checksum does not match)"
        if record.get("key") != key:
            return None, "entry.json belongs to another key"
        try:
            full = full or time.time() - float(record.get("verified", 0)) > self.full_verify_after_s
            problem, restamped = self._check_files(entry_dir / "files", record, full)
            if not problem and not artifacts_exist(record.get("outputs", {})):
                problem = "a file its outputs name is missing"
        except (TypeError, ValueError, AttributeError, KeyError):
            problem = "entry.json is malformed"
        if problem:
            return None, problem
        if full:
            record["verified"] = time.time()
            restamped = True
        if restamped:
            with contextlib.suppress(OSError):
                _write_record(entry_dir, record)
        return record, ""

    @staticmethod
    def _check_files(files_dir: Path, record: dict[str, Any], full: bool) -> tuple[str, bool]:
        """(why files/ differs from the manifest or "", whether a file's stamps changed with its bytes intact)."""
        expected: dict[str, list[Any]] = record["files"]
        links: dict[str, list[Any]] = record["links"]
        restamped = False
        seen = 0
        try:
            found = _walk_files(files_dir)
        except OSError as exc:
            return f"its files cannot be listed ({exc})", False
        try:
            for rel, path, st in found:
                if rel in links:
                    seen += 1
                    target, resolved = links[rel]
                    try:
                        same = stat.S_ISLNK(st.st_mode) and os.readlink(path) == target
                    except OSError:
                        same = False
                    if not same:
                        return f"files/{rel} is not the link that was stored", False
                    if resolved and not os.path.exists(path):
                        return f"files/{rel} links to {target}, which is gone", False
                    continue
                want = expected.get(rel)
                if want is None:
                    return f"files/{rel} was added after it was stored", False
                seen += 1
                if not stat.S_ISREG(st.st_mode):
                    return f"files/{rel} is no longer a regular file", False
                size, content, mtime_ns, ctime_ns = want
                if st.st_size != size:
                    return f"files/{rel} has {st.st_size} bytes, {size} were stored", False
                stamped = st.st_mtime_ns == mtime_ns and st.st_ctime_ns == ctime_ns
                if full or not stamped:
                    try:
                        actual = fresh_digest(Path(path)) if full else file_digest(Path(path), st)
                    except OSError as exc:
                        return f"files/{rel} cannot be read ({exc})", False
                    if actual != content:
                        return f"files/{rel} holds other bytes than were stored", False
                    if not stamped:
                        want[2], want[3] = st.st_mtime_ns, st.st_ctime_ns
                        restamped = True
        finally:
            flush_memo()
        if seen != len(expected) + len(links):
            missing = sorted((set(expected) | set(links)) - {rel for rel, _, _ in found})
            return f"files/{missing[0] if missing else '?'} is missing", False
        return "", restamped

    def _drop(self, entry_dir: Path, inode: int) -> bool:
        """Remove a damaged entry unless another run replaced it meanwhile (then False)."""
        try:
            if os.stat(entry_dir).st_ino != inode:
                return False
            trash = self.root / "tmp" / f"damaged-{entry_dir.name[:16]}-{uuid.uuid4().hex[:8]}"
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(entry_dir, trash)
        except FileNotFoundError:
            return True  # another reader removed it
        except OSError:
            shutil.rmtree(entry_dir, ignore_errors=True)
            return True
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def put(self, key: str, node_type: str, outputs: dict[str, Any], metrics: dict[str, float],
            work_dir: Path | None, move: bool = True) -> CacheEntry:
        """Store outputs; the files in `work_dir` move into the store (read-only) and artifact paths follow them."""
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
        _read_only(tmp / "files")  # before the manifest: chmod changes ctime
        manifest, links = _manifest(tmp / "files")
        now = time.time()
        record = {"version": RECORD_VERSION, "key": key, "node_type": node_type, "outputs": outputs,
                  "metrics": metrics, "created": now, "verified": now,
                  "size": sum(f[0] for f in manifest.values()), "hash": HASH, "files": manifest, "links": links}
        _write_record(tmp, record)
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

    def _entry_dirs(self) -> list[Path]:
        return sorted(p for p in (self.root / "entries").glob("*/*") if p.is_dir())

    def info(self) -> dict[str, Any]:
        """Entries and the bytes really on disk (walked, not as recorded), by node type; `other_bytes`: what is
        not in a readable entry (entries being written or removed, unreadable entries, the hash memo)."""
        entries = 0
        size = 0
        by_type: dict[str, dict[str, int]] = {}
        for entry_dir in self._entry_dirs():
            try:
                data = json.loads((entry_dir / "entry.json").read_text(encoding="utf-8"))
                node_type = str(data.get("node_type", "?"))
            except (OSError, ValueError, AttributeError):
                continue
            entries += 1
            esize = _dir_size(entry_dir)
            size += esize
            slot = by_type.setdefault(node_type, {"entries": 0, "bytes": 0})
            slot["entries"] += 1
            slot["bytes"] += esize
        total = _dir_size(self.root) if self.root.exists() else 0
        return {"path": str(self.root), "entries": entries, "bytes": size, "by_type": by_type,
                "other_bytes": max(0, total - size)}

    def verify_all(self, full: bool = True) -> tuple[int, int, list[dict[str, str]]]:
        """Check every entry (`full`: every byte) and remove the damaged ones.
        Returns (entries checked, bytes checked, [{"key", "node_type", "problem"}] of those removed)."""
        checked = nbytes = 0
        bad: list[dict[str, str]] = []
        for entry_dir in self._entry_dirs():
            key = entry_dir.name
            node_type = "?"
            with contextlib.suppress(OSError, ValueError, AttributeError):
                node_type = str(json.loads((entry_dir / "entry.json").read_text(encoding="utf-8"))["node_type"])
            size = _dir_size(entry_dir)
            entry, problem = self.lookup(key, full=full)
            if entry is None and not problem:
                continue
            checked += 1
            nbytes += size
            if problem:
                bad.append({"key": key, "node_type": node_type, "problem": problem})
        return checked, nbytes, bad

    def trim(self, max_bytes: int | None = None, older_than_s: float | None = None) -> tuple[int, int]:
        """Remove least recently used entries: those unused for `older_than_s` seconds, then more until the
        store holds at most `max_bytes`. Returns (entries removed, bytes freed)."""
        found = []
        for entry_dir in self._entry_dirs():
            try:
                used = (entry_dir / "entry.json").stat().st_mtime  # touched on every cache hit
            except OSError:
                continue
            found.append((used, _dir_size(entry_dir), entry_dir))
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
