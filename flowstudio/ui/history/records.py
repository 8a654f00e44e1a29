"""The past runs of one flow, read from the run directories (no Qt: what the Run History shows).

A run belongs to a flow when its `run.json` names the flow's file as `source` (runs started from the
app or `flowstudio run FILE`); an unsaved flow's runs are those without a source whose snapshot has the
flow's name. Everything is read defensively: a run directory may be half written (a run going on), old,
or received from someone else, so unreadable or oversized files count as missing, never as errors.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstudio.core.paths import runs_dir
from flowstudio.ui.run.recorded_metrics import Series, cached_metrics, read_metrics

MAX_JSON_BYTES = 16 * 1024 * 1024  # a summary or snapshot larger than this is not read
MAX_RUNS = 500
MISSING = "(default)"  # a param the snapshot does not set


def read_json(path: Path) -> Any:
    """A JSON file's value, or None when it is missing, unreadable, too large or not JSON."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_JSON_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None


@dataclass
class RunRecord:
    """One run directory as the history shows it."""

    path: Path
    info: dict[str, Any]
    summary: dict[str, Any]
    flow: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)  # "node.param" -> value, from the snapshot

    @property
    def run_id(self) -> str:
        return str(self.summary.get("run_id") or self.info.get("run_id") or self.path.name)

    @property
    def status(self) -> str:
        """succeeded / failed / cancelled, or "running" while there is no summary yet."""
        status = self.summary.get("status")
        return str(status) if isinstance(status, str) else "running"

    @property
    def started(self) -> float:
        for value in (self.summary.get("started"), _first_attempt(self.info)):
            if isinstance(value, (int, float)):
                return float(value)
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    @property
    def seconds(self) -> float | None:
        value = self.summary.get("seconds")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def attempts(self) -> int:
        attempts = self.info.get("attempts")
        return len(attempts) if isinstance(attempts, list) else 1

    def nodes(self) -> dict[str, dict[str, Any]]:
        nodes = self.summary.get("nodes")
        return {k: v for k, v in nodes.items() if isinstance(v, dict)} if isinstance(nodes, dict) else {}

    def final_metrics(self) -> dict[str, dict[str, float]]:
        """Each node's final metrics (only numbers), by node id."""
        out: dict[str, dict[str, float]] = {}
        for node_id, node in self.nodes().items():
            metrics = node.get("metrics")
            if isinstance(metrics, dict):
                numbers = {str(k): float(v) for k, v in metrics.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)}
                if numbers:
                    out[node_id] = numbers
        return out

    def series(self, node_id: str) -> Series:
        """Every metric the node recorded in this run; for a node that came from the cache, those of the
        run that produced its entry (as the Run panel plots them)."""
        own = read_metrics(self.path / "nodes" / node_id / "metrics.jsonl")
        if own:
            return own
        node = self.nodes().get(node_id, {})
        key = node.get("cache_key") or _result_key(self.path / "nodes" / node_id)
        if node.get("status") == "cached" and isinstance(key, str):
            return cached_metrics(node_id, key, self.path)
        return {}

    def metric_nodes(self) -> list[str]:
        """Nodes with recorded metrics (in the flow's order)."""
        order = list(self.nodes()) or [n.get("id", "") for n in self.flow.get("nodes", []) if isinstance(n, dict)]
        return [n for n in order if isinstance(n, str) and n and self.series(n)]

    def model_outputs(self) -> dict[str, dict[str, Any]]:
        """"node.port" -> the model artifact it produced (kind "model", path, meta)."""
        out: dict[str, dict[str, Any]] = {}
        for node_id, node in self.nodes().items():
            outputs = node.get("outputs")
            if not isinstance(outputs, dict) or node.get("status") not in ("done", "cached"):
                continue
            for port, value in outputs.items():
                if isinstance(value, dict) and value.get("__artifact__") and value.get("kind") == "model" \
                        and isinstance(value.get("path"), str):
                    out[f"{node_id}.{port}"] = value
        return out


def _first_attempt(info: dict[str, Any]) -> Any:
    attempts = info.get("attempts")
    if isinstance(attempts, list) and attempts and isinstance(attempts[0], dict):
        return attempts[0].get("started")
    return None


def _result_key(node_dir: Path) -> Any:
    result = read_json(node_dir / "result.json")
    return result.get("cache_key") if isinstance(result, dict) else None


def flow_params(flow: dict[str, Any]) -> dict[str, Any]:
    """A snapshot's params as "node.param" -> value (and "node.type" for each node)."""
    out: dict[str, Any] = {}
    for node in flow.get("nodes", []) if isinstance(flow.get("nodes"), list) else []:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            continue
        out[f"{node['id']}.type"] = node.get("type")
        params = node.get("params")
        for name, value in (params.items() if isinstance(params, dict) else ()):
            out[f"{node['id']}.{name}"] = value
    return out


def load_run(path: Path) -> RunRecord | None:
    """A run directory as a record (None when it is not a FlowStudio run)."""
    info = read_json(path / "run.json")
    flow = read_json(path / "flow.json")
    if not isinstance(info, dict) or not isinstance(flow, dict):
        return None
    summary = read_json(path / "summary.json")
    record = RunRecord(path, info, summary if isinstance(summary, dict) else {}, flow)
    record.params = flow_params(flow)
    return record


def _same_file(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).absolute() == b.absolute()


def runs_of_flow(flow_path: Path | None, flow_name: str, root: Path | None = None) -> list[RunRecord]:
    """The runs of a flow, newest first: by its file when saved, else unsaved runs with its name."""
    base = root if root is not None else runs_dir()
    try:
        dirs = sorted((p for p in base.iterdir() if p.is_dir() and not p.is_symlink()),
                      key=lambda p: p.name, reverse=True)[: MAX_RUNS * 4]
    except OSError:
        return []
    records: list[RunRecord] = []
    for path in dirs:
        info = read_json(path / "run.json")
        if not isinstance(info, dict):
            continue
        source = info.get("source")
        if flow_path is not None:
            if not isinstance(source, str) or not _same_file(source, flow_path):
                continue
        elif source:
            continue
        record = load_run(path)
        if record is None or (flow_path is None and record.flow.get("name") != flow_name):
            continue
        records.append(record)
        if len(records) >= MAX_RUNS:
            break
    records.sort(key=lambda r: r.started, reverse=True)
    return records


def differing_params(records: list[RunRecord]) -> list[str]:
    """The "node.param" keys whose value is not the same in every run (sorted)."""
    if len(records) < 2:
        return []
    keys = set().union(*(r.params for r in records))
    differ = []
    for key in keys:
        values = {json.dumps(r.params.get(key, MISSING), sort_keys=True, default=str) for r in records}
        if len(values) > 1:
            differ.append(key)
    return sorted(differ)


def format_value(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
