"""`benchmarks/run_all.py` collects what each benchmark emits and never drops a failed one from the page."""

from __future__ import annotations

import textwrap
from pathlib import Path

from benchmarks.run_all import BENCHMARKS, Benchmark, machine, render, run_one

REPO = Path(__file__).resolve().parents[2]


def _script(tmp_path, name: str, body: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_figures_round_trip_and_failures_are_listed(tmp_path):
    good = _script(tmp_path, "good.py", """
        import sys
        sys.path.insert(0, REPO)
        from benchmarks.report import Figure, emit
        print("human table")
        emit("good", [Figure("speed vs anchor", 1.25, "x", anchor="plain script", goal=">= 1.1", met=True)],
             notes="tiny")
    """.replace("REPO", repr(str(REPO))))
    bad = _script(tmp_path, "bad.py", "raise SystemExit('no GPU here')\n")
    silent = _script(tmp_path, "silent.py", "print('forgot to emit')\n")
    results = [run_one(Benchmark(n, str(p)), tmp_path) for n, p in (("good", good), ("bad", bad), ("silent", silent))]
    results.append(run_one(Benchmark("gone", "does_not_exist.py"), tmp_path))
    assert [r["status"] for r in results] == ["ok", "failed (exit 1)", "no figures", "missing"]
    assert results[0]["figures"][0]["value"] == 1.25 and results[0]["notes"] == "tiny"

    from datetime import UTC, datetime
    page = render(results, machine(), datetime.now(UTC), 1.0)
    assert "| speed vs anchor | 1.25 x | plain script | >= 1.1 | yes |" in page
    for name in ("bad", "silent", "gone"):
        assert f"## {name}" in page
    assert "no GPU here" in page and "did not call report.emit" in page
    assert "| gpu |" in page and "| cpu |" in page


def test_every_listed_benchmark_script_exists():
    folder = REPO / "benchmarks"
    missing = [b.script for b in BENCHMARKS if not (folder / b.script).exists()]
    assert not missing, f"run_all lists benchmarks that do not exist: {missing}"
