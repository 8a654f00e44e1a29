"""Data nodes: load a dataset (local files or built-in demo sets), split it, measure its token lengths."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, PathField, Port, Ports, Resources
from flowstudio.core.paths import BUILTIN_PREFIX, is_builtin_reference, resolve_user_path
from flowstudio.core.ports import Dataset, Metrics, Tokenizer
from flowstudio.core.problems import Problem

from .formats import EXPECTED, is_conversational, parse_mapping, renames, require_format, validate_rows
from .head import SHAREGPT_ROLES, check_data
from .storage import BUILTIN_DATASETS, FILE_TYPES, load_dataset_artifact, read_data, save_dataset

FormatName = Literal["auto", "messages", "prompt_completion", "text", "preference", "qa"]


class LoadData(Node):
    type = "data.load"
    resources = Resources(isolated=True)  # flow data can make it slow or big: keep it killable
    title = "Load data"
    category = "Data"
    icon = "mdi6.database"
    description = ("A dataset from a local JSONL/JSON/CSV/Parquet file or `datasets` directory, or a built-in demo "
                   "set; its format (messages, prompt/completion, preference, QA, text) is detected and checked. "
                   f"Formats: {EXPECTED}.")

    class Outputs(Ports):
        dataset = Port(Dataset, "The dataset, columns renamed to the format's canonical names")

    class Params(NodeParams):
        source: str = PathField("builtin:sft-chat", "A local file (.jsonl .json .csv .parquet), a `datasets` "
                                "save_to_disk directory, or a built-in: " + ", ".join(
                                    f"builtin:{n}" for n in BUILTIN_DATASETS),
                                kind="any", must_exist=False, filters="Data (*.jsonl *.json *.csv *.parquet)")
        format: FormatName = Field("auto", description="Expected format; auto detects it from the columns")
        column_mapping: str = Field("", description="Rename columns first: `instruction=prompt, output=completion`")
        split: str = Field("train", description="Split to read from a DatasetDict directory")
        limit: int = Field(0, ge=0, description="Keep only the first N rows (0: all)")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, cls.Params)
        try:
            path = _source_path(params.source, flow_dir)
            parse_mapping(params.column_mapping)
        except NodeRunError as err:
            return [Problem("bad_source" if err.field == "source" else "bad_param", str(err), field=err.field,
                            hint=err.hint)]
        return check_data(path, params.format, params.column_mapping, params.split)  # the first rows, bounded

    @classmethod
    def preview(cls, params: NodeParams, flow_dir: Path | None, tokenizer_source: str | None = None) -> dict[str, Any]:
        """The Dataset panel's view of the source: first rows, format, mapping, token lengths (no torch)."""
        from .preview import preview_data

        assert isinstance(params, cls.Params)
        try:
            path = _source_path(params.source, flow_dir)
        except NodeRunError as err:
            return {"error": str(err), "hint": err.hint, "field": err.field}
        return preview_data(path, params.format, params.column_mapping, params.split, flow_dir, tokenizer_source)

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        path = _source_path(params.source, ctx.flow_dir)
        ds = read_data(path, params.split, ctx)
        if params.limit:
            ds = ds.select(range(min(params.limit, len(ds))))
        rename = renames(ds.column_names, parse_mapping(params.column_mapping))
        if rename:
            clashes = [dst for src, dst in rename.items() if dst in ds.column_names and dst not in rename]
            if clashes:
                ds = ds.remove_columns(clashes)
            ds = ds.rename_columns(rename)
        fmt = require_format(ds.column_names, params.format)
        if fmt == "messages" and _is_sharegpt(ds[0]["messages"]):
            ds = ds.map(lambda row: {"messages": [_from_sharegpt(m) for m in row["messages"]]})
            ctx.log("converted ShareGPT turns (from/value) to role/content messages")
        head = ds.select(range(min(100, len(ds)))).to_list()
        validate_rows(fmt, head, field="source")
        ctx.log(f"{len(ds)} rows, format {fmt}, columns {ds.column_names}")
        artifact = save_dataset(ds, Path(ctx.work_dir) / "dataset", fmt,
                                conversational=is_conversational(head, fmt), source=params.source)
        ctx.metric("rows", len(ds))
        return {"dataset": artifact}


def _is_sharegpt(messages: Any) -> bool:
    return isinstance(messages, list) and bool(messages) and isinstance(messages[0], dict) \
        and "from" in messages[0] and "value" in messages[0]


def _from_sharegpt(turn: dict[str, Any]) -> dict[str, str]:
    role = SHAREGPT_ROLES.get(str(turn.get("from")))
    if role is None:
        raise NodeRunError(f"unknown ShareGPT speaker {turn.get('from')!r}", field="source",
                           hint="speakers understood: " + ", ".join(SHAREGPT_ROLES))
    return {"role": role, "content": str(turn.get("value", ""))}


def _source_path(source: str, flow_dir: Path | None) -> Path:
    source = source.strip()
    if not source:
        raise NodeRunError("no data source given", field="source",
                           hint="choose a data file, or a built-in such as builtin:sft-chat")
    if is_builtin_reference(source):
        from .storage import builtin_dataset_path

        return builtin_dataset_path(source[len(BUILTIN_PREFIX):])
    path = resolve_user_path(source, flow_dir)
    if not path.exists():
        raise NodeRunError(f"data path {path} does not exist", field="source",
                           hint="choose an existing file or directory (relative paths are relative to the flow file)")
    if path.is_file() and path.suffix.lower() not in FILE_TYPES:
        raise NodeRunError(f"{path.name}: unsupported file type {path.suffix or '(none)'}", field="source",
                           hint=f"use {', '.join(FILE_TYPES)} or a datasets save_to_disk directory")
    return path


class SplitData(Node):
    type = "data.split"
    resources = Resources(isolated=True)  # flow data can make it slow or big: keep it killable
    title = "Train/eval split"
    category = "Data"
    icon = "mdi6.call-split"
    description = "Split a dataset into a training and an evaluation part, shuffled with a seed."

    class Inputs(Ports):
        dataset = Port(Dataset, "The dataset to split")

    class Outputs(Ports):
        train = Port(Dataset, "The training part")
        eval = Port(Dataset, "The evaluation part")

    class Params(NodeParams):
        eval_fraction: float = Field(0.1, gt=0, lt=1, description="Share of rows held out for evaluation")
        eval_rows: int = Field(0, ge=0, description="Exact number of eval rows (overrides eval_fraction when > 0)")
        seed: int = Field(42, description="Shuffle seed: the same seed gives the same split")
        shuffle: bool = Field(True, description="Shuffle before splitting")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
        n_eval = params.eval_rows or max(1, round(len(ds) * params.eval_fraction))
        if len(ds) < 2 or n_eval >= len(ds):
            raise NodeRunError(f"cannot hold out {n_eval} of {len(ds)} rows", field="eval_fraction",
                               hint="lower eval_fraction / eval_rows or use a larger dataset")
        parts = ds.train_test_split(test_size=n_eval, seed=params.seed, shuffle=params.shuffle)
        extra = {k: v for k, v in (inputs.dataset.meta or {}).items() if k not in ("format", "columns", "rows")}
        work = Path(ctx.work_dir)
        ctx.log(f"train {len(parts['train'])} rows, eval {len(parts['test'])} rows")
        return {"train": save_dataset(parts["train"], work / "train", fmt, **extra),
                "eval": save_dataset(parts["test"], work / "eval", fmt, **extra)}


class TokenStats(Node):
    type = "data.tokenize"
    resources = Resources(isolated=True)  # flow data can make it slow or big: keep it killable
    title = "Token lengths"
    category = "Data"
    icon = "mdi6.counter"
    description = ("Token-length statistics of a dataset under a tokenizer (mean, p50, p95, max) and the share of "
                   "rows a max length would truncate — pick max_length before training.")

    class Inputs(Ports):
        dataset = Port(Dataset, "The dataset")
        tokenizer = Port(Tokenizer, "The tokenizer (a model.load or tokenizer.load output)")

    class Outputs(Ports):
        stats = Port(Metrics, "mean, p50, p95, max, truncated_share, rows")

    class Params(NodeParams):
        max_length: int = Field(512, gt=0, description="Rows longer than this (in tokens) count as truncated")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import artifact_path, load_tokenizer

        from .formats import render_texts, require_chat_template

        ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
        tok = load_tokenizer(artifact_path(inputs.tokenizer, "tokenizer", "tokenizer"))
        if (inputs.dataset.meta or {}).get("conversational") or fmt == "messages":
            require_chat_template(tok)
        lengths: list[int] = []
        total = len(ds)
        for i, row in enumerate(ds):
            for text in render_texts(row, fmt, tok):
                lengths.append(len(tok(text, add_special_tokens=True)["input_ids"]))
            if i % 200 == 0 or i == total - 1:
                ctx.progress(i + 1, total)
        stats = length_stats(lengths, params.max_length)
        for name, value in stats.items():
            ctx.metric(name, value)
        return {"stats": stats}


def length_stats(lengths: list[int], max_length: int) -> dict[str, float]:
    if not lengths:
        raise NodeRunError("the dataset is empty", field="dataset")
    ordered = sorted(lengths)

    def pct(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))])

    return {"rows": float(len(ordered)), "mean": sum(ordered) / len(ordered), "p50": pct(0.5), "p95": pct(0.95),
            "max": float(ordered[-1]), "truncated_share": sum(n > max_length for n in ordered) / len(ordered)}

