"""Trainer checkpoints that are known to be complete, and resuming from the newest such one.

The HF Trainer writes `checkpoint-N/` in place (weights, optimizer, scheduler, RNG, then trainer_state.json),
so a kill during a save leaves a partial directory that `get_last_checkpoint` would pick and every resume would
then fail on. The training callbacks call `mark_complete` in `on_save`, which the Trainer calls after the whole
checkpoint was written: it writes `flowstudio-complete.json` there, listing each file and its size. A
checkpoint is complete when its marker is there and every listed file has its size. One without a marker (an
earlier FlowStudio, or a kill between the save and the marker) is complete when its trainer_state.json is
readable and names step N, every safetensors file is as long as its header says, and every torch file is a
whole zip archive. `newest_complete_checkpoint` skips and removes newer incomplete ones, with a log line.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

MARKER = "flowstudio-complete.json"
TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def checkpoint_step(path: Path) -> int | None:
    tail = path.name.rpartition("-")[2]
    return int(tail) if path.name.startswith("checkpoint-") and tail.isdigit() else None


def mark_complete(checkpoint: Path) -> None:
    """Record that `checkpoint` was written completely: its files and their sizes (replaced atomically)."""
    if not checkpoint.is_dir():
        return
    files = {p.relative_to(checkpoint).as_posix(): p.stat().st_size for p in sorted(checkpoint.rglob("*"))
             if p.is_file() and not p.name.startswith((MARKER, f".{MARKER}"))}
    tmp = checkpoint / f".{MARKER}.tmp"
    tmp.write_text(json.dumps({"step": checkpoint_step(checkpoint), "files": files}, indent=1), encoding="utf-8")
    os.replace(tmp, checkpoint / MARKER)


def _safetensors_problem(path: Path) -> str:
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > size:
                return f"{path.name} is truncated"
            header = json.loads(fh.read(length))
    except (OSError, ValueError, struct.error):
        return f"{path.name} has no readable header"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    return "" if size == 8 + length + end else f"{path.name} has {size} bytes, its header needs {8 + length + end}"


def _unmarked_problem(path: Path, step: int | None) -> str:
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "trainer_state.json is missing or unreadable"
    if not isinstance(state, dict) or state.get("global_step") != step:
        return f"trainer_state.json does not describe step {step}"
    weights = False
    for item in sorted(path.iterdir()):
        if item.suffix == ".safetensors":
            weights = True
            if problem := _safetensors_problem(item):
                return problem
        elif item.suffix in TORCH_SUFFIXES and not zipfile.is_zipfile(item):
            return f"{item.name} is not a whole torch file"
    return "" if weights or any(path.glob("pytorch_model*.bin")) else "it holds no model weights"


def checkpoint_problem(path: Path) -> str:
    """Why `path` is not a complete checkpoint ("" when it is)."""
    marker = path / MARKER
    if not marker.exists():
        return _unmarked_problem(path, checkpoint_step(path))
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{MARKER} is unreadable"
    for rel, size in files.items():
        try:
            actual = (path / rel).stat().st_size
        except OSError:
            return f"{rel} is missing"
        if actual != size:
            return f"{rel} has {actual} bytes, {size} were written"
    return ""


def newest_complete_checkpoint(directory: Path, ctx: Any = None) -> Path | None:
    """The newest complete `checkpoint-N` in `directory`; newer incomplete ones are removed (and logged), so
    neither the resume nor the Trainer's rotation ever sees them."""
    found = sorted(((step, p) for p in Path(directory).glob("checkpoint-*")
                    if p.is_dir() and (step := checkpoint_step(p)) is not None), reverse=True)
    for _step, path in found:
        problem = checkpoint_problem(path)
        if not problem:
            return path
        if ctx is not None:
            ctx.log(f"{path.name} is incomplete ({problem}; its save was interrupted): removed it")
        shutil.rmtree(path, ignore_errors=True)
    return None

