"""Where `model.save` may write, and what `overwrite` may replace: only what model.save itself wrote.

Every directory model.save writes carries a marker, `.flowstudio-model.json`, listing the files it
wrote. A model is built in a temp directory beside the target and renamed into place; an existing
target is replaced only when it is empty, or carries the marker and holds nothing but the files it
lists. Some places are never written at all: `/`, the user's home, the flow's own directory and
FlowStudio's own directories (or any directory above them), and anything inside the artifact
cache, the built-in models, the runs or the Hugging Face cache, or overlapping the model being saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from flowstudio.core.errors import NodeRunError
from flowstudio.core.paths import cache_dir, data_dir, hf_hub_cache_dir, models_dir, runs_dir

MARKER = ".flowstudio-model.json"
WRITER = "flowstudio model.save"
TEMP_TAGS = ("flowstudio-new", "flowstudio-old")

RefusalKind = Literal["location", "not_dir", "foreign", "exists"]


@dataclass(frozen=True)
class Refusal:
    """Why model.save will not write `path`: `kind` says which rule, `field` which param to change."""

    kind: RefusalKind
    message: str
    field: str
    hint: str


# ----------------------------------------------------------------------------------------- places


def _real(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(path)))


def _never_at_or_above(flow_dir: Path) -> list[tuple[Path, str]]:
    """Directories that must never be replaced, nor any directory that contains them."""
    import flowstudio

    return [(Path("/"), "the filesystem root"), (Path.home(), "your home directory"),
            (flow_dir, "the flow's own directory"), (data_dir(), "FlowStudio's data directory"),
            (Path(flowstudio.__file__).parent, "FlowStudio's installed package")]


def _never_inside() -> list[tuple[Path, str]]:
    """Directories FlowStudio manages: nothing is written into them, at them or above them."""
    return [(cache_dir(), "FlowStudio's artifact cache"), (models_dir(), "FlowStudio's built-in models"),
            (runs_dir(), "FlowStudio's runs directory"), (hf_hub_cache_dir(), "the Hugging Face cache")]


def source_paths(src: Path, base: str | None = None) -> list[Path]:
    """The model being saved, as places: its directory, what its links point to, an adapter's base."""
    found = [_real(src)]
    if src.is_dir():
        for item in src.iterdir():
            if item.is_symlink():
                found.append(_real(item).parent)
    if base:
        found.append(_real(Path(base)))
    return found


def location_refusal(out: Path, flow_dir: Path, sources: Iterable[Path] = ()) -> Refusal | None:
    """The refusal of a target that is a protected place (`out` and the places resolved first)."""
    out = _real(out)
    hint = "choose a new directory of its own for the model, e.g. ./my-model beside the flow file"
    for place, what in _never_at_or_above(_real(flow_dir)):
        place = _real(place)
        if place.is_relative_to(out):
            relation = "is" if place == out else "contains"
            return Refusal("location", f"{out} {relation} {what}: model.save never writes there", "path", hint)
    for place, what in _never_inside():
        place = _real(place)
        if out.is_relative_to(place) or place.is_relative_to(out):
            relation = "is" if out == place else ("is inside" if out.is_relative_to(place) else "contains")
            return Refusal("location", f"{out} {relation} {what}: model.save never writes there", "path", hint)
    for place in sources:
        place = _real(place)
        if out.is_relative_to(place) or place.is_relative_to(out):
            return Refusal("location", f"{out} overlaps the model being saved ({place}): saving it there "
                           "would destroy it", "path", "save the model to another directory")
    return None


# ----------------------------------------------------------------------------------------- marker


def read_marker(directory: Path) -> dict[str, Any] | None:
    """The marker model.save left in `directory`, or None (absent, unreadable or not ours)."""
    try:
        data = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != WRITER:
        return None
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return data


def _entries(directory: Path) -> list[str]:
    """Files and links under `directory` (relative, '/'-separated); links to directories not entered."""
    out = []
    for root, dirs, files in os.walk(directory):
        base = Path(root)
        for name in [*files, *(d for d in dirs if (base / d).is_symlink())]:
            out.append((base / name).relative_to(directory).as_posix())
    return sorted(out)


def foreign_entries(directory: Path) -> list[str]:
    """What in `directory` model.save did not write (everything, without a marker); [] when all ours."""
    marker = read_marker(directory)
    listed = set(marker["files"]) if marker else set()
    return [e for e in _entries(directory) if e != MARKER and e not in listed]


def write_marker(directory: Path, node_id: str, source: str, files: list[str], complete: bool) -> None:
    """Say in `directory` that model.save wrote it, and which files."""
    data = {"written_by": WRITER, "node": node_id, "source": source, "complete": complete,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname(), "pid": os.getpid(),
            "files": files}
    (directory / MARKER).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------ rules


def target_refusal(out: Path, flow_dir: Path, overwrite: bool, sources: Iterable[Path] = ()) -> Refusal | None:
    """Why model.save may not write `out` with this `overwrite`, or None when it may."""
    refusal = location_refusal(out, flow_dir, sources)
    if refusal is not None:
        return refusal
    out = _real(out)
    if not out.exists():
        return None
    if not out.is_dir():
        return Refusal("not_dir", f"{out} is a file, not a directory", "path",
                       "give a directory (it is created) for the model's files")
    try:
        if not any(out.iterdir()):
            return None
        marker = read_marker(out)
        foreign = foreign_entries(out) if marker else sorted(p.name for p in out.iterdir())
    except OSError as err:
        return Refusal("foreign" if overwrite else "exists", f"{out} cannot be read ({err.strerror})",
                       "overwrite" if overwrite else "path", "choose a new or empty directory")
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        if overwrite:
            return Refusal("foreign", f"{out} holds files model.save did not write ({shown}); overwrite only "
                           "replaces a model saved there before", "overwrite",
                           "choose a new or empty directory, or move those files out first")
        return Refusal("exists", f"{out} exists and is not empty ({shown})", "path",
                       "choose a new or empty directory")
    if not overwrite:
        return Refusal("exists", f"{out} exists and is not empty (a model saved there before)", "path",
                       "choose another directory or turn on overwrite to replace that model")
    return None


# ---------------------------------------------------------------------------------------- writing


def _temp_name(out: Path, tag: str) -> Path:
    return out.parent / f".{out.name[:100]}.{tag}-{uuid.uuid4().hex[:8]}"


def _alive_here(marker: dict[str, Any]) -> bool:
    if marker.get("host") != socket.gethostname():
        return True  # another machine's: not ours to judge
    try:
        os.kill(int(marker.get("pid", 0)), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def remove_owned(directory: Path) -> None:
    """Delete a directory model.save wrote, marker last (an interrupted delete stays recognisable)."""
    for entry in directory.iterdir():
        if entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    (directory / MARKER).unlink(missing_ok=True)
    directory.rmdir()


def clean_leftovers(out: Path) -> list[Path]:
    """Remove temp dirs beside `out` left by killed saves: a new model being built (ours by marker, its
    process gone) and an old one being replaced (ours by marker, nothing else in it)."""
    removed = []
    for tag in TEMP_TAGS:
        for path in out.parent.glob(f".{out.name[:100]}.{tag}-*"):
            marker = read_marker(path) if path.is_dir() and not path.is_symlink() else None
            if marker is None:
                continue
            if tag == "flowstudio-new" and _alive_here(marker):
                continue  # a save in progress
            if tag == "flowstudio-old" and foreign_entries(path):
                continue
            with contextlib.suppress(OSError):
                remove_owned(path)
                removed.append(path)
    return removed


def write_model_dir(out: Path, build: Callable[[Path], None], *, node_id: str, source: str, flow_dir: Path,
                    overwrite: bool, sources: Iterable[Path] = ()) -> Path:
    """Build a model directory with `build(tmp)` beside `out`, mark it, and rename it to `out`; an
    existing `out` is replaced only if `target_refusal` allows it (checked again just before)."""
    sources = list(sources)
    out = _real(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    tmp = _temp_name(out, "flowstudio-new")
    tmp.mkdir()
    write_marker(tmp, node_id, source, [], complete=False)
    try:
        build(tmp)
        write_marker(tmp, node_id, source, [e for e in _entries(tmp) if e != MARKER], complete=True)
        refusal = target_refusal(out, flow_dir, overwrite, sources)
        if refusal is not None:
            raise NodeRunError(refusal.message, field=refusal.field, hint=refusal.hint)
        old = None
        if out.exists() and read_marker(out) is not None:
            old = _temp_name(out, "flowstudio-old")
            os.rename(out, old)
        try:
            os.replace(tmp, out)  # onto nothing or an empty directory; never a non-empty one
        except OSError:
            if old is not None:
                os.rename(old, out)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        with contextlib.suppress(OSError):  # the new model is in place; a leftover is removed next time
            remove_owned(old)
    return out
