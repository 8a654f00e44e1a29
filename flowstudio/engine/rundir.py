"""The run directory: everything one run leaves behind, readable without FlowStudio.

    RUN_DIR/flow.json            the flow as run (after --set / --input)
    RUN_DIR/run.json             run id, flow file, flow dir, options, attempts (one per start/resume)
    RUN_DIR/events.jsonl         every event, one JSON object a line (appended by each attempt)
    RUN_DIR/summary.json         the final summary (the `flowstudio run --json` object)
    RUN_DIR/nodes/<id>/log.txt   the node's log: ctx.log lines, and in workers its stdout/stderr
    RUN_DIR/nodes/<id>/result.json   status, cache key, outputs, final metrics, error
    RUN_DIR/nodes/<id>/metrics.jsonl every metric the node reported (name, value, step, t)
    RUN_DIR/nodes/<id>/work/     what the node wrote (a link into the cache once stored there)
    RUN_DIR/nodes/<id>/checkpoint/   kept across stop and resume

A new run starts only in a new or empty directory (`run_dir_refusal`); an existing run is continued
with `Engine.resume` / `flowstudio run --resume RUN_DIR`, never started over in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from flowstudio.core.flow import Flow, atomic_write_text, load_flow
from flowstudio.core.paths import runs_dir
from flowstudio.engine.events import Event, NodeMetric


def run_dir_refusal(path: Path) -> str | None:
    """Why a new run may not start in `path` (None: it does not exist yet, or is an empty directory).

    A run writes flow.json, run.json, events.jsonl and nodes/<id>/ (emptying each node's work dir),
    so a directory holding anything else is refused: another program's files, or another run, which
    is continued with `--resume` (`Engine.resume`) and never started over in place."""
    if path.is_symlink() and not path.exists():
        return f"run dir {path} is a broken link; give a new or empty directory"
    if not path.exists():
        return None
    if not path.is_dir():
        return f"run dir {path} is a file, not a directory; give a new or empty directory"
    if not any(path.iterdir()):
        return None
    if (path / "run.json").is_file() and (path / "flow.json").is_file():
        return (f"run dir {path} already holds a FlowStudio run; a new run there would overwrite it. "
                f"Continue that run with: flowstudio run --resume {path} (or give a new or empty directory)")
    return (f"run dir {path} is not empty and is not a FlowStudio run: a run would overwrite files there. "
            "Give a new or empty directory (or leave out --run-dir: each run gets its own)")


def new_run_dir(flow_name: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", flow_name).strip("-")[:40] or "flow"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return runs_dir() / f"{stamp}-{slug}-{uuid.uuid4().hex[:6]}"


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path).absolute()
        self._events_fh: Any = None
        self._lock = threading.Lock()

    # -- layout

    def node_dir(self, node_id: str) -> Path:
        return self.path / "nodes" / node_id

    def unlink_planted(self, node_id: str) -> None:
        """Remove symlinks standing where FlowStudio keeps real directories (`nodes/`, `nodes/<id>/`,
        `nodes/<id>/scratch`): a run dir received from someone else must not make FlowStudio empty or delete a
        directory elsewhere. Only the link goes; what it pointed to is untouched. (`work` may be a link: into
        the cache, which `link_work` made; the engine unlinks it rather than deleting through it.)"""
        for path in (self.path / "nodes", self.node_dir(node_id), self.node_dir(node_id) / "scratch"):
            if path.is_symlink():
                path.unlink()

    def work_dir(self, node_id: str) -> Path:
        return self.node_dir(node_id) / "work"

    def checkpoint_dir(self, node_id: str) -> Path:
        return self.node_dir(node_id) / "checkpoint"

    def log_path(self, node_id: str) -> Path:
        return self.node_dir(node_id) / "log.txt"

    # -- writing

    def open(self, flow: Flow, info: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / "flow.json", flow.to_json_text())
        run_info = self.read_info()
        attempts = run_info.get("attempts", [])
        attempts.append({"started": time.time(), "options": info.get("options", {})})
        run_info.update({k: v for k, v in info.items() if k != "options"})
        run_info["attempts"] = attempts
        atomic_write_text(self.path / "run.json", json.dumps(run_info, indent=2) + "\n")
        self._events_fh = (self.path / "events.jsonl").open("a", encoding="utf-8")

    def record(self, event: Event) -> None:
        line = json.dumps(event.to_dict(), ensure_ascii=False, default=str)
        with self._lock:
            if self._events_fh is not None:
                self._events_fh.write(line + "\n")
                self._events_fh.flush()
            if isinstance(event, NodeMetric):
                path = self.node_dir(event.node) / "metrics.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"name": event.name, "value": event.value, "step": event.step,
                                         "t": event.t}) + "\n")

    def write_node_result(self, node_id: str, result: dict[str, Any]) -> None:
        # Renamed into place (never half written) but not fsynced: one fsync per node costs ~4 ms.
        path = self.node_dir(node_id) / "result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".result.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.path / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")

    def close(self) -> None:
        with self._lock:
            if self._events_fh is not None:
                self._events_fh.close()
                self._events_fh = None

    def link_work(self, node_id: str, store_files: Path) -> None:
        """After the work dir moved into the cache, leave a link where it was."""
        work = self.work_dir(node_id)
        if work.exists() or work.is_symlink():
            return
        with contextlib.suppress(OSError):
            os.symlink(store_files, work, target_is_directory=True)

    # -- reading

    def read_info(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def read_flow(self) -> Flow:
        return load_flow(self.path / "flow.json")

    def read_node_results(self) -> dict[str, dict[str, Any]]:
        out = {}
        for path in (self.path / "nodes").glob("*/result.json"):
            try:
                out[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
        return out

    def log_tail(self, node_id: str, lines: int = 20, max_chars: int = 4000) -> str:
        try:
            with self.log_path(node_id).open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 64_000))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return tail[-max_chars:]
