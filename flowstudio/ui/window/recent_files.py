"""Recently opened flow files, newest first, kept in the app settings."""

from __future__ import annotations

from pathlib import Path

from ..settings import app_settings

KEY = "files/recent"
LIMIT = 10


def recent_files(existing_only: bool = True) -> list[Path]:
    value = app_settings().value(KEY, [])
    if isinstance(value, str):  # QSettings returns a single string for a one-item list
        value = [value]
    paths = [Path(v) for v in value or [] if v]
    return [p for p in paths if p.exists()] if existing_only else paths


def add_recent_file(path: Path) -> list[Path]:
    path = Path(path).resolve()
    paths = [path] + [p for p in recent_files(existing_only=False) if p != path]
    paths = paths[:LIMIT]
    app_settings().setValue(KEY, [str(p) for p in paths])
    return paths


def clear_recent_files() -> None:
    app_settings().setValue(KEY, [])
