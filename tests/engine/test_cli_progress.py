"""The CLI's progress view and final table, fed with real events from a run."""

from __future__ import annotations

import io

from flowstudio.cli.run import ProgressView, format_table
from flowstudio.engine import Engine
from tests.stubs import make_flow


def flow():
    return make_flow([("m", "stub.model", {}), ("t", "stub.train", {"steps": 3}), ("bad", "stub.fail", {}),
                      ("after", "stub.echo", {})],
                     [("m.model", "t.model"), ("bad.value", "after.value")])


def test_plain_progress_lines_and_table(engine: Engine, run_opts) -> None:
    out = io.StringIO()
    result = engine.run(flow(), options=run_opts(), listeners=[ProgressView(out, tty=False)])
    text = out.getvalue()
    assert "▶ t (stub.train, worker)" in text
    assert "✓ t done" in text
    assert any(line.startswith("✗ bad failed") and "RuntimeError: stub failure" in line for line in text.splitlines())
    assert "- after skipped: upstream node(s) bad did not finish" in text
    table = format_table(result.summary)
    assert "loss=0.3333" in table and "failed" in table and result.summary["run_dir"] in table
    again = io.StringIO()
    engine.run(flow(), options=run_opts(), listeners=[ProgressView(again, tty=False)])
    assert "≡ t cached" in again.getvalue()


def test_terminal_progress_draws_bars_and_clears_them(engine: Engine, run_opts) -> None:
    out = io.StringIO()
    engine.run(make_flow([("m", "stub.model", {}), ("t", "stub.train", {"steps": 4, "step_seconds": 0.12})],
                         [("m.model", "t.model")]), options=run_opts(), listeners=[ProgressView(out, tty=True)])
    text = out.getvalue()
    assert "█" in text and "/4" in text  # a bar with step/total was drawn
    assert "\x1b[" in text  # and redrawn in place
    last = text.rstrip().splitlines()[-1]
    assert "✓ t done" in last and "█" not in last  # the bar was cleared, the result line stays
