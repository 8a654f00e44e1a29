"""Reading data files into `datasets.Dataset`, and Dataset artifacts to and from disk.

Inputs are read-only: `datasets` writes the result of every `map`/`filter`/`select`/`train_test_split` (and
TRL's tokenization) as `cache-*.arrow` files beside the files a dataset was loaded from, which for an input
is a shared cache entry or the user's own directory. So a `save_to_disk` directory is loaded through symlinks
in a scratch directory (`ctx.scratch_dir`, removed when the node ends; without a ctx, a temporary directory
removed at exit): the arrow files are still memory-mapped in place, and what `datasets` writes lands there.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.paths import assets_dir
from flowstudio.core.values import Artifact

from .formats import detect_format

BUILTIN_DATASETS = {"sft-chat": "sft_chat.jsonl", "preference": "preference.jsonl", "qa": "qa.jsonl",
                    "corpus": "corpus.jsonl"}
FILE_TYPES = (".jsonl", ".json", ".csv", ".parquet")


def builtin_dataset_path(name: str) -> Path:
    if name not in BUILTIN_DATASETS:
        raise NodeRunError(f"unknown built-in dataset {name!r}", field="source",
                           hint="built-ins: " + ", ".join(f"builtin:{n}" for n in BUILTIN_DATASETS))
    return assets_dir() / "data" / BUILTIN_DATASETS[name]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                raise NodeRunError(f"{path.name} line {lineno} is not valid JSON: {err}", field="source",
                                   hint="each line of a .jsonl file must be one JSON object") from None
            if not isinstance(row, dict):
                raise NodeRunError(f"{path.name} line {lineno} is not a JSON object", field="source",
                                   hint='each line must look like {"column": value, ...}')
            rows.append(row)
    return rows


def _read_json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        if path.read_text(encoding="utf-8").lstrip().startswith("{"):
            return _read_jsonl(path)  # JSON Lines saved as .json
        raise NodeRunError(f"{path.name} is not valid JSON: {err}", field="source") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
        elif all(isinstance(v, list) for v in data.values()) and data:
            lengths = {len(v) for v in data.values()}
            if len(lengths) == 1:  # column-oriented {"col": [...], ...}
                n = lengths.pop()
                data = [{k: v[i] for k, v in data.items()} for i in range(n)]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise NodeRunError(f"{path.name} holds no list of records", field="source",
                           hint='use a list of objects: [{"text": ...}, ...], or JSON Lines')
    return data


_process_scratch: list[Path] = []


def scratch_root(ctx: Any = None) -> Path:
    """Where this node's temporary dataset files go: `ctx.scratch_dir` (the engine removes it when the node
    ends), else one temporary directory per process, removed at exit."""
    scratch = getattr(ctx, "scratch_dir", None)
    if scratch is not None:
        return Path(scratch)
    if not _process_scratch:
        _process_scratch.append(Path(tempfile.mkdtemp(prefix="flowstudio-datasets-")))
        atexit.register(shutil.rmtree, _process_scratch[0], True)
    return _process_scratch[0]


def _linked_copy(src: Path, ctx: Any) -> Path:
    """A fresh directory under the scratch root that mirrors `src` with symlinks to its files."""
    target = scratch_root(ctx) / f"{src.name or 'dataset'}-{uuid.uuid4().hex[:8]}"
    src = src.resolve()
    for root, _dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        (target / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if not name.startswith("cache-"):  # what `datasets` wrote there before inputs were read-only
                os.symlink(Path(root) / name, target / rel / name)
    return target


def load_from_disk_read_only(path: Path, ctx: Any = None) -> Any:
    """`datasets.load_from_disk(path)` that never writes into `path` (see the module docstring)."""
    import datasets

    if not Path(path).is_dir():
        raise FileNotFoundError(str(path))
    return datasets.load_from_disk(str(_linked_copy(Path(path), ctx)))


def read_data(path: Path, split: str = "train", ctx: Any = None) -> Any:
    """A local file or `save_to_disk` directory as a `datasets.Dataset` (the directory is only read)."""
    import datasets

    if path.is_dir():
        try:
            loaded = load_from_disk_read_only(path, ctx)
        except FileNotFoundError:
            raise NodeRunError(f"{path} is not a dataset saved with `datasets` (save_to_disk)", field="source",
                               hint=f"choose a {', '.join(FILE_TYPES)} file or a save_to_disk directory") from None
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise NodeRunError(f"{path} has no split {split!r}", field="split",
                                   hint="splits found: " + ", ".join(loaded))
            loaded = loaded[split]
        return loaded
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = _read_jsonl(path)
    elif suffix == ".json":
        rows = _read_json(path)
    elif suffix == ".csv":
        import pandas as pd

        return datasets.Dataset.from_pandas(pd.read_csv(path), preserve_index=False)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        return datasets.Dataset(pq.read_table(path))
    else:
        raise NodeRunError(f"{path.name}: unsupported file type {suffix or '(none)'}", field="source",
                           hint=f"use {', '.join(FILE_TYPES)} or a datasets save_to_disk directory")
    if not rows:
        raise NodeRunError(f"{path.name} has no rows", field="source")
    try:
        return datasets.Dataset.from_list(rows)
    except Exception as err:  # pyarrow refuses columns whose values mix types
        raise _mixed_types_error(path, rows, err) from None


def _mixed_types_error(path: Path, rows: list[dict[str, Any]], err: Exception) -> NodeRunError:
    first: dict[str, str] = {}
    for i, row in enumerate(rows):
        for col, value in row.items():
            kind = type(value).__name__
            if value is None:
                continue
            if first.setdefault(col, kind) != kind:
                return NodeRunError(f"{path.name} row {i}, column {col!r}: a {kind} where earlier rows have a "
                                    f"{first[col]} ({str(value)[:60]!r})", field="source",
                                    hint="every row must hold the same kind of value in a column")
    return NodeRunError(f"{path.name} cannot be read as a table: {err}", field="source")


def save_dataset(ds: Any, out_dir: Path, fmt: str | None = None, **meta: Any) -> Artifact:
    """Save with `save_to_disk` and return the Dataset artifact (format detected when not given)."""
    import datasets

    datasets.disable_progress_bars()
    out_dir = Path(out_dir)
    ds.save_to_disk(str(out_dir))
    fmt = fmt or detect_format(ds.column_names) or "unknown"
    return Artifact("dataset", str(out_dir.resolve()),
                    {"format": fmt, "columns": list(ds.column_names), "rows": len(ds), **meta})


def load_dataset_artifact(value: Any, field: str = "dataset", ctx: Any = None) -> tuple[Any, str]:
    """(datasets.Dataset, format) of a Dataset input, read-only: what `datasets` writes while the node
    transforms it goes to the node's scratch dir (pass `ctx`), never into the input's directory."""
    if not isinstance(value, Artifact):
        raise NodeRunError(f"input {field!r} is not a dataset", field=field, hint="connect a data.load output")
    if not value.as_path.exists():
        raise NodeRunError(f"the dataset at {value.path} no longer exists", field=field,
                           hint="re-run the node that produced it")
    ds = load_from_disk_read_only(value.as_path, ctx)
    fmt = (value.meta or {}).get("format") or detect_format(ds.column_names) or "unknown"
    return ds, fmt
