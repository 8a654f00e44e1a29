"""Metrics recorded in run directories: what the Run panel plots for a node that came from the cache.

A cached node reports no metric events, but the run that produced its cache entry recorded every one
in `nodes/<id>/metrics.jsonl`; that run's `nodes/<id>/result.json` has `status: done` and the same
`cache_key`. On resume (`source == "run"`) the current run directory holds them from an earlier attempt.
"""

from __future__ import annotations

import json
from pathlib import Path

from flowstudio.core.paths import runs_dir

Series = dict[str, list[tuple[float, float]]]
MAX_RUNS_SCANNED = 500


def read_metrics(path: Path) -> Series:
    """`metrics.jsonl` as series by name: (step, value); a step-less metric gets its index."""
    series: Series = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return series
    for line in lines:
        try:
            record = json.loads(line)
            name, value = str(record["name"]), float(record["value"])
        except (ValueError, KeyError, TypeError):
            continue  # a half-written last line
        points = series.setdefault(name, [])
        step = record.get("step")
        points.append((float(step) if isinstance(step, (int, float)) else float(len(points) + 1), value))
    return series


def _produced(node_dir: Path, cache_key: str) -> bool:
    try:
        result = json.loads((node_dir / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(result, dict) and result.get("status") == "done" and result.get("cache_key") == cache_key


def producing_node_dir(node_id: str, cache_key: str, current: Path | None = None,
                       root: Path | None = None) -> Path | None:
    """The node directory of the run that produced `cache_key` (newest first), if it is still there."""
    if not cache_key:
        return None
    if current is not None and _produced(current / "nodes" / node_id, cache_key):
        return current / "nodes" / node_id
    base = root if root is not None else runs_dir()
    try:
        runs = sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None
    runs = runs[:MAX_RUNS_SCANNED]
    for run in runs:  # the same node id first: the usual case
        if _produced(run / "nodes" / node_id, cache_key):
            return run / "nodes" / node_id
    for run in runs:  # renamed since: any node of that run with that key
        for node_dir in (run / "nodes").glob("*"):
            if node_dir.name != node_id and _produced(node_dir, cache_key):
                return node_dir
    return None


def cached_metrics(node_id: str, cache_key: str, current: Path | None = None, source: str = "cache") -> Series:
    """The metrics a cached node recorded when it really ran (empty when that run is gone)."""
    if source == "run" and current is not None:
        series = read_metrics(current / "nodes" / node_id / "metrics.jsonl")
        if series:
            return series
    node_dir = producing_node_dir(node_id, cache_key, current)
    return read_metrics(node_dir / "metrics.jsonl") if node_dir is not None else {}
