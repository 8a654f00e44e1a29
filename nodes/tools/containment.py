"""Where the python tool's process runs: the strongest jail this machine offers, chosen once per process.

- `bwrap` (bubblewrap, Debian/Ubuntu package `bubblewrap`): the whole file system read-only except the
  snippet's scratch directory and a private /tmp; new PID, network, IPC and UTS namespaces, so the snippet
  sees only its own processes in /proc (not the engine's environment), cannot signal the engine, and has
  no network but a loopback of its own; it dies with its parent.
- `unshare` (util-linux, when unprivileged user namespaces work): new user, PID and network namespaces and
  a private /proc; the file system stays writable where the user can write.
- `none`: only what `sandbox.py` does everywhere (rlimits, a minimal environment, a scratch dir, the
  supervisor that kills every descendant, a process-count watchdog).

`FLOWSTUDIO_SANDBOX=bwrap|unshare|none` forces a mode (tests use it to check each one).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

MODES = ("bwrap", "unshare", "none")
_UNSHARE_FLAGS = ("--user", "--map-root-user", "--pid", "--net", "--fork", "--mount-proc", "--")


def _works(args: list[str]) -> bool:
    try:
        return subprocess.run([*args, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def _detected() -> str:
    bwrap = shutil.which("bwrap")
    if bwrap and _works([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                         "--die-with-parent", "--"]):
        return "bwrap"
    return "unshare" if _unshare_works() else "none"


def mode() -> str:
    """The containment in use: FLOWSTUDIO_SANDBOX when it names a mode that works here, else the best found."""
    wanted = os.environ.get("FLOWSTUDIO_SANDBOX", "").strip().lower()
    if wanted == "none":
        return "none"
    if wanted == "unshare":
        return "unshare" if _unshare_works() else "none"
    return _detected()


@functools.cache
def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and _works([unshare, *_UNSHARE_FLAGS])


def wrap(args: list[str], scratch: Path) -> list[str]:
    """`args` prefixed with the jail of `mode()`; the command runs with `scratch` as its working directory."""
    chosen = mode()
    scratch = scratch.resolve()
    if chosen == "bwrap":
        # /tmp becomes private; the interpreter (a venv under /tmp, say) is bound back read-only
        keep = [arg for path in _interpreter_paths() if _under(path, Path("/tmp"))
                for arg in ("--ro-bind", str(path), str(path))]
        return [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", *keep, "--bind", str(scratch), str(scratch), "--chdir", str(scratch),
                "--unshare-all", "--die-with-parent", "--new-session", "--", *args]
    if chosen == "unshare":
        return [shutil.which("unshare") or "unshare", *_UNSHARE_FLAGS, *args]
    return list(args)


def _interpreter_paths() -> list[Path]:
    """What `python -I` needs to start: the venv, the base installation, the real executable's directory."""
    found: list[Path] = []
    for value in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                  os.path.dirname(os.path.abspath(sys.executable))):
        path = Path(value).resolve()
        if path.exists() and not any(_under(path, other) for other in found):
            found = [other for other in found if not _under(other, path)] + [path]
    return found


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def describe() -> str:
    """One line for logs and docs: what holds on this machine."""
    return {
        "bwrap": "bubblewrap: read-only file system except the scratch dir, own PID/network namespaces",
        "unshare": "user namespaces: own PID/network namespaces and /proc; the file system is not read-only",
        "none": "no namespaces available: rlimits, minimal environment and process supervision only",
    }[mode()]
