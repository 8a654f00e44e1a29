"""Writing an export into its directory: only inside it, never over what it did not write.

A directory is ours when it holds the manifest `.flowstudio-export` (the files of the previous export);
re-exporting removes those files and writes the new ones. Any other non-empty directory is refused unless
`force`, and then only the export's own files are written (nothing is removed). No write follows a
symlink: a link planted at any path of the export is refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flowstudio.core.flow import Flow
from flowstudio.core.registry import NodeRegistry

from .exporter import ExportError, render

MANIFEST = ".flowstudio-export"


@dataclass
class ExportResult:
    out_dir: Path
    files: list[str]
    warnings: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)


def _inside(out: Path, rel: str) -> Path:
    target = out / rel
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise ExportError(f"refusing to write {rel!r} outside the export directory")
    parent = out
    for part in Path(rel).parts:
        parent = parent / part
        if parent.is_symlink():
            raise ExportError(f"{parent} is a symbolic link; the export writes no file through a link")
    return target


def _previous(out: Path) -> list[str] | None:
    manifest = out / MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else None


def _remove_previous(out: Path, files: list[str]) -> None:
    for rel in files:
        try:
            target = _inside(out, rel)
        except ExportError:
            continue
        if target.is_file():
            target.unlink()
    for rel in sorted({str(Path(f).parent) for f in files}, key=len, reverse=True):
        folder = out / rel
        if rel != "." and folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()


def export_flow(flow: Flow, flow_dir: Path, out_dir: str | os.PathLike[str], *, sets: Sequence[str] = (),
                allow_code: bool = False, force: bool = False, registry: NodeRegistry | None = None) -> ExportResult:
    """Render the export of `flow` and write it into `out_dir`."""
    rendered = render(flow, flow_dir, sets=sets, allow_code=allow_code, registry=registry)
    out = Path(out_dir).expanduser().absolute()
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ExportError(f"{out} is not a directory; choose a new or empty directory with -o")
    previous = _previous(out) if out.is_dir() else None
    if out.is_dir() and any(out.iterdir()) and previous is None and not force:
        raise ExportError(f"{out} is not empty and holds no earlier export; choose a new or empty directory, or "
                          "pass --force to write the export's files into it (nothing else there is touched)")
    out.mkdir(parents=True, exist_ok=True)
    if previous:
        _remove_previous(out, previous)
    names = sorted({*rendered.files, *rendered.copies})
    for rel in names:
        target = _inside(out, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in rendered.copies:
            shutil.copyfile(rendered.copies[rel], target)
        else:
            target.write_text(rendered.files[rel], encoding="utf-8")
    (out / "slurm.sbatch").chmod(0o755)
    (out / MANIFEST).write_text(json.dumps({"files": names}, indent=1) + "\n", encoding="utf-8")
    return ExportResult(out, names, rendered.warnings, rendered.modules)
