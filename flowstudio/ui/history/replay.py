"""Reopen a past run: its recorded events replayed into a Run panel (table, log, plots, outputs).

`events.jsonl` holds every event of every attempt, so the replayed panel shows what the live one did,
metrics of cached nodes included (read back from the run that produced them). A file that is cut short
(a run still going, or killed) replays up to its last whole line.
"""

from __future__ import annotations

import json
from pathlib import Path

from flowstudio.engine import RunResult
from flowstudio.engine.events import event_from_dict
from flowstudio.ui.run.panel import RunPanel

from .records import RunRecord

MAX_EVENT_BYTES = 64 * 1024 * 1024
MAX_EVENTS = 200_000


def read_events(path: Path) -> list[dict]:
    """The recorded events as dicts (unknown kinds and broken lines skipped; at most MAX_EVENTS)."""
    out: list[dict] = []
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_EVENT_BYTES)
    except OSError:
        return out
    for raw in data.decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("event"), str):
            out.append(record)
            if len(out) >= MAX_EVENTS:
                break
    return out


def replay(panel: RunPanel, record: RunRecord, label: str) -> int:
    """Show `record` in `panel` as it was; returns how many events were replayed."""
    panel.begin(f"{label}: replaying…")
    count = 0
    for data in read_events(record.path / "events.jsonl"):
        try:
            event = event_from_dict(data)
        except (KeyError, TypeError, ValueError):
            continue
        panel.on_event(event)
        count += 1
    summary = record.summary or {"status": "unfinished", "seconds": 0.0, "outputs": {}}
    panel.finish(RunResult(summary, [], record.path))
    note = "" if record.summary else " (no summary: still running, or it was interrupted)"
    panel.state.setText(f"{label} — " + panel.state.text() + note)
    panel.dir_label.setText(str(record.path))
    panel.open_dir.setEnabled(True)
    return count
