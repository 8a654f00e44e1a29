"""Reading and writing files a user or a shared flow names, safely.

- `read_regular_file` reads a regular file of bounded size and refuses anything else (a FIFO, a device
  such as /dev/zero, a directory) without blocking, after following symlinks.
- `atomic_write_bytes` writes through symlinks (the link stays, its target gets the new content) by
  writing a recognisable temp file beside the target, fsync, rename. Temp files left by saves that were
  killed are removed by `clean_stale_temps`, which every save runs on its directory.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
import tempfile
import time
from pathlib import Path

TEMP_MARK = ".flowstudio-save-"
"""In every temp file name: `.<name>.flowstudio-save-<host>-<pid>-<random>.tmp`."""

DEAD_OWNER_GRACE_S = 60.0
"""A temp of this machine whose process is gone is removed once it is this old."""

STALE_TEMP_S = 15 * 60.0
"""A temp whose owner cannot be checked (another machine, an older FlowStudio) is removed once it is this
old: no save of a flow file (at most 32 MiB) takes that long."""

ORPHAN_TEMP_S = 24 * 3600.0
"""Any temp this old is removed, even when its pid is alive (pids are reused)."""

_TEMP = re.compile(r"^\..*" + re.escape(TEMP_MARK) + r"(?P<host>[A-Za-z0-9-]*)-(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")


class NotARegularFileError(OSError):
    """The path names a FIFO, a device, a socket or a directory, not a regular file."""


class FileTooLargeError(OSError):
    """The file is larger than the caller's limit; nothing was read."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"{size:,} bytes, over the limit of {limit:,}")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (symlinks followed). Never blocks on a FIFO
    and never reads more than `limit + 1` bytes, whatever the file turns out to be."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFileError(errno.EINVAL, f"is {_kind(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise FileTooLargeError(st.st_size, limit)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())  # the path may have been swapped since the first look
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFileError(errno.EINVAL, f"is {_kind(st.st_mode)}, not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FileTooLargeError(len(data), limit)
    return data


def write_target(path: str | os.PathLike[str]) -> Path:
    """Where a write to `path` lands: the final target when `path` is a symlink (or under one)."""
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath stops inside a symlink loop
        raise OSError(errno.ELOOP, "too many levels of symbolic links", str(path))
    return target


def host_tag() -> str:
    """This machine in temp file names (letters, digits and -)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> Path:
    """Replace the file at `path` (its target, when a symlink) so that readers see the old or the new
    content, never half of one. The link itself is kept. Returns the file that was written."""
    target = write_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target.parent, known=(target.name,))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise NotARegularFileError(errno.EINVAL, f"{target} is {_kind(st.st_mode)}; not replacing it")
    prefix = f".{target.name[:100]}{TEMP_MARK}{host_tag()}-{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, st.st_mode & 0o777 if st is not None else mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable where the platform allows (not on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when unsure)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _legacy_temp(name: str, known: tuple[str, ...]) -> bool:
    """A temp file an older FlowStudio wrote while saving one of `known`: `.<name>.<8 characters>.tmp`."""
    return any(re.fullmatch(r"\." + re.escape(k) + r"\.[a-z0-9_]{8}\.tmp", name) for k in known)


def is_stale_temp(name: str, mtime: float, now: float | None = None, known: tuple[str, ...] = ()) -> bool:
    """Whether a file called `name`, last written at `mtime`, is a temp file that no save will finish.
    `known`: file names whose temps from older versions (no owner in the name) may be judged by age."""
    age = (time.time() if now is None else now) - mtime
    found = _TEMP.match(name)
    if found is None:
        return _legacy_temp(name, known) and age >= STALE_TEMP_S
    if age >= ORPHAN_TEMP_S:
        return True
    if found["host"] == host_tag():
        return age >= DEAD_OWNER_GRACE_S and not pid_alive(int(found["pid"]))
    return age >= STALE_TEMP_S


def clean_stale_temps(directory: str | os.PathLike[str], known: tuple[str, ...] = ()) -> list[Path]:
    """Remove the temp files that killed saves left in `directory`; returns what was removed.

    Our own temps (`TEMP_MARK` in the name) are judged by their owner and age; temps of older versions
    are only removed for the files named in `known` (and when old), since their names say less."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.endswith(".tmp") or not name.startswith("."):
            continue
        if TEMP_MARK not in name and not _legacy_temp(name, known):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and is_stale_temp(name, st.st_mtime, now, known):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone already, or not ours to remove
    return removed
