"""The head of a data source, read cheaply and safely: for validation (before Run) and for the preview.

Reads at most `MAX_HEAD_BYTES` of a JSONL/CSV/JSON file (a larger .json that is not a list is not read),
only the footer and, when small, the first row group of a Parquet file, and only the metadata and the
first record batch of a `datasets` save_to_disk directory. Nothing here imports torch or `datasets`, and a
FIFO, a device or a huge file cannot block or exhaust memory. The check runs what `data.load` does to
the first rows (column mapping, format detection, row types), so a wrong dataset is reported in the
Problems panel and by `flowstudio validate`, not only when the run reaches the node.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.problems import Problem

from .formats import parse_mapping, renames, require_format, validate_rows

MAX_HEAD_BYTES = 1 << 20  # what a check or a preview reads of a text file
MAX_HEAD_ROWS = 100  # rows checked (data.load checks the same number at run time)
MAX_JSON_BYTES = 8 << 20  # a .json file (one document) is parsed whole only up to this size
MAX_ROW_GROUP_BYTES = 64 << 20  # a Parquet file's first row group is read only up to this size


@dataclass
class Head:
    columns: list[str]
    rows: list[dict[str, Any]]
    kind: str  # jsonl, json, csv, parquet, arrow
    total_rows: int | None = None  # known for Parquet and save_to_disk directories
    complete: bool = True  # False: only the first part of the file was read
    notes: list[str] = field(default_factory=list)


def _open_regular(path: Path) -> io.BufferedReader:
    """Open a regular file for reading without ever blocking on a FIFO or a device."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise NodeRunError(f"{path.name} is not a regular file", field="source", hint="choose a data file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    fh = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise NodeRunError(f"{path.name} is not a regular file", field="source", hint="choose a data file")
    return fh


def _head_text(path: Path, limit: int = MAX_HEAD_BYTES) -> tuple[str, bool]:
    """The first `limit` bytes as text (a cut UTF-8 character dropped) and whether that is the whole file."""
    with _open_regular(path) as fh:
        data = fh.read(limit + 1)
    complete = len(data) <= limit
    data = data[:limit]
    try:
        return data.decode("utf-8"), complete
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 3:
            return data[:exc.start].decode("utf-8"), complete
        raise NodeRunError(f"{path.name} is not UTF-8 text (byte {exc.start})", field="source",
                           hint="save the file as UTF-8") from None


def _lines(text: str, complete: bool) -> list[str]:
    lines = text.splitlines()
    if not complete and lines and not text.endswith("\n"):
        lines.pop()  # cut in the middle
    return lines


def _jsonl(path: Path, max_rows: int) -> Head:
    text, complete = _head_text(path)
    rows = []
    for lineno, line in enumerate(_lines(text, complete), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as err:
            raise NodeRunError(f"{path.name} line {lineno} is not valid JSON: {err}", field="source",
                               hint="each line of a .jsonl file must be one JSON object") from None
        if not isinstance(row, dict):
            raise NodeRunError(f"{path.name} line {lineno} is not a JSON object", field="source",
                               hint='each line must look like {"column": value, ...}')
        rows.append(row)
        if len(rows) >= max_rows:
            complete = False
            break
    if not rows and complete:
        raise NodeRunError(f"{path.name} has no rows", field="source")
    notes = [] if rows else [f"the first row is longer than {MAX_HEAD_BYTES >> 20} MiB: checked when the node runs"]
    return Head(_columns(rows), rows, "jsonl", None, complete, notes)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def _json(path: Path, max_rows: int) -> Head | None:
    size = os.stat(path).st_size
    if size > MAX_JSON_BYTES:  # a list is read object by object from its start; anything else waits for the run
        text, _complete = _head_text(path)
        start = text.lstrip()
        if start.startswith("{"):
            return _jsonl(path, max_rows)  # JSON Lines saved as .json
        if not start.startswith("["):
            return None
        decoder, pos, rows = json.JSONDecoder(), len(text) - len(start) + 1, []
        while len(rows) < max_rows:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            try:
                row, pos = decoder.raw_decode(text, pos)
            except ValueError:
                break  # the cut at the end of the head
            if not isinstance(row, dict):
                raise NodeRunError(f"{path.name} holds no list of records", field="source",
                                   hint='use a list of objects: [{"text": ...}, ...], or JSON Lines')
            rows.append(row)
        return Head(_columns(rows), rows, "json", None, False)
    text, _complete = _head_text(path, MAX_JSON_BYTES)
    try:
        data = json.loads(text)
    except ValueError as err:
        if text.lstrip().startswith("{"):
            return _jsonl(path, max_rows)
        raise NodeRunError(f"{path.name} is not valid JSON: {err}", field="source") from None
    except RecursionError:
        raise NodeRunError(f"{path.name} is nested too deeply to be a table", field="source") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
        elif data and all(isinstance(v, list) for v in data.values()) and len({len(v) for v in data.values()}) == 1:
            n = len(next(iter(data.values())))
            data = [{k: v[i] for k, v in data.items()} for i in range(n)]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise NodeRunError(f"{path.name} holds no list of records", field="source",
                           hint='use a list of objects: [{"text": ...}, ...], or JSON Lines')
    if not data:
        raise NodeRunError(f"{path.name} has no rows", field="source")
    return Head(_columns(data[:max_rows]), data[:max_rows], "json", len(data), len(data) <= max_rows)


def _csv(path: Path, max_rows: int) -> Head:
    text, complete = _head_text(path)
    lines = _lines(text, complete)
    if not lines and not complete:
        return Head([], [], "csv", None, False, [f"the header is longer than {MAX_HEAD_BYTES >> 20} MiB"])
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    try:
        columns = list(reader.fieldnames or [])
        rows = []
        for row in reader:
            rows.append({k: v for k, v in row.items() if k is not None})
            if len(rows) >= max_rows:
                complete = False
                break
    except csv.Error as err:
        raise NodeRunError(f"{path.name} is not readable as CSV: {err}", field="source") from None
    if not columns:
        raise NodeRunError(f"{path.name} has no header row", field="source",
                           hint="the first line of a CSV file names its columns")
    return Head(columns, rows, "csv", None, complete)


def _parquet(path: Path, max_rows: int) -> Head:
    import pyarrow.parquet as pq

    with _open_regular(path) as fh:
        try:
            pf = pq.ParquetFile(fh)
            columns = list(pf.schema_arrow.names)
            total = pf.metadata.num_rows
            rows: list[dict[str, Any]] = []
            notes = []
            if pf.metadata.num_row_groups and pf.metadata.row_group(0).total_byte_size <= MAX_ROW_GROUP_BYTES:
                rows = pf.read_row_group(0).slice(0, max_rows).to_pylist()
            elif pf.metadata.num_row_groups:
                notes.append("the first row group is too large to preview; columns only")
        except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds for a broken file
            raise NodeRunError(f"{path.name} is not a readable Parquet file: {err}", field="source") from None
    return Head(columns, rows, "parquet", total, total <= len(rows), notes)


def _saved_dataset(path: Path, split: str, max_rows: int) -> Head:
    """A `save_to_disk` directory: columns from dataset_info.json, rows from the first arrow batch."""
    def read_json(file: Path) -> Any:
        try:
            with _open_regular(file) as fh:
                return json.loads(fh.read(MAX_HEAD_BYTES))
        except (OSError, ValueError, NodeRunError):
            return None

    splits = read_json(path / "dataset_dict.json")
    if isinstance(splits, dict) and isinstance(splits.get("splits"), list):
        if split not in splits["splits"]:
            raise NodeRunError(f"{path} has no split {split!r}", field="split",
                               hint="splits found: " + ", ".join(map(str, splits["splits"])))
        path = path / split
    info, state = read_json(path / "dataset_info.json"), read_json(path / "state.json")
    if not isinstance(info, dict) or not isinstance(state, dict):
        raise NodeRunError(f"{path} is not a dataset saved with `datasets` (save_to_disk)", field="source",
                           hint="choose a .jsonl .json .csv .parquet file or a save_to_disk directory")
    features = info.get("features")
    columns = list(features) if isinstance(features, dict) else []
    rows: list[dict[str, Any]] = []
    files = state.get("_data_files") or []
    if files and isinstance(files[0], dict) and isinstance(files[0].get("filename"), str):
        import pyarrow as pa

        total: int | None = 0
        for entry in files[:1000]:
            arrow = path / Path(str(entry.get("filename", "")) if isinstance(entry, dict) else "").name
            try:
                if not stat.S_ISREG(os.stat(arrow).st_mode):
                    raise OSError("not a regular file")
                with pa.memory_map(str(arrow)) as source:  # mapped, not read: big batches cost no memory
                    for batch in pa.ipc.open_stream(source):
                        if not rows:
                            rows = batch.slice(0, max_rows).to_pylist()
                            columns = columns or list(batch.schema.names)
                        total += batch.num_rows  # type: ignore[operator]
            except (OSError, pa.ArrowInvalid):
                total = None
                break
    else:
        total = None
    return Head(columns, rows, "arrow", total, False)


def read_head(path: Path, split: str = "train", max_rows: int = MAX_HEAD_ROWS) -> Head | None:
    """The first rows of a data source; None when it cannot be read cheaply (the run will read it)."""
    if path.is_dir():
        return _saved_dataset(path, split, max_rows)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl(path, max_rows)
    if suffix == ".json":
        return _json(path, max_rows)
    if suffix == ".csv":
        return _csv(path, max_rows)
    if suffix == ".parquet":
        return _parquet(path, max_rows)
    return None


SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
                  "tool": "tool", "function_call": "assistant", "observation": "tool"}


def is_sharegpt(messages: Any) -> bool:
    return isinstance(messages, list) and bool(messages) and isinstance(messages[0], dict) \
        and "from" in messages[0] and "value" in messages[0]


@dataclass
class Applied:
    """What data.load makes of a head: columns renamed, the format found, rows as the trainer sees them."""

    head: Head
    renamed: dict[str, str]
    columns: list[str]
    format: str
    rows: list[dict[str, Any]]


def apply_load(head: Head, fmt: str, column_mapping: str) -> Applied:
    """data.load's steps on the head; a NodeRunError names the field and the fix (as the run would)."""
    if not head.columns and not head.complete:
        raise NodeRunError(head.notes[0] if head.notes else "no complete row in the first part of the file",
                           field="source", hint="the run reads the whole file")
    rename = renames(head.columns, parse_mapping(column_mapping))
    clashes = {dst for src, dst in rename.items() if dst in head.columns and dst not in rename}
    columns = [rename.get(c, c) for c in head.columns if c not in clashes]
    found = require_format(columns, fmt)
    rows = [{rename.get(k, k): v for k, v in row.items() if k not in clashes} for row in head.rows]
    if found == "messages" and rows and is_sharegpt(rows[0].get("messages")):
        rows = [{**r, "messages": [{"role": SHAREGPT_ROLES.get(str(m.get("from")), str(m.get("from"))),
                                    "content": str(m.get("value", ""))} for m in r["messages"]]}
                if isinstance(r.get("messages"), list) else r for r in rows]
    validate_rows(found, rows, field="source")
    return Applied(head, rename, columns, found, rows)


_CHECKED: OrderedDict[tuple[Any, ...], list[Problem]] = OrderedDict()
_LOCK = threading.Lock()  # the app validates on the GUI thread and in the engine's run thread


def check_data(path: Path, fmt: str, column_mapping: str, split: str) -> list[Problem]:
    """Problems of the data's first rows under data.load's settings (cached per file version)."""
    try:
        st = os.stat(path)
    except OSError:
        return []  # the source check reports a missing path
    key = (str(path), st.st_size, st.st_mtime_ns, fmt, column_mapping, split)
    with _LOCK:
        if key in _CHECKED:
            _CHECKED.move_to_end(key)
            return _CHECKED[key]
    try:
        head = read_head(path, split)
        if head is not None and (head.columns or head.complete):  # else: nothing to judge before the run
            apply_load(head, fmt, column_mapping)
        problems = []
    except NodeRunError as err:
        problems = [Problem("bad_dataset", str(err), field=err.field or "source", hint=err.hint)]
    except (OSError, ValueError, ImportError) as err:
        problems = [Problem("bad_dataset", f"{path.name} cannot be read: {err}", field="source")]
    with _LOCK:
        _CHECKED[key] = problems
        while len(_CHECKED) > 64:
            _CHECKED.popitem(last=False)
    return problems
