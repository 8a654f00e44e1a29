"""Run a flow through the engine and through its export, side by side, and compare what they report."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from flowstudio.core.flow import load_flow
from flowstudio.core.paths import templates_dir
from flowstudio.engine import Engine, RunOptions
from flowstudio.export import export_flow

# timings differ between any two runs; everything else must match
TIMING = ("runtime", "per_second", "step_time", "seconds")
POISON = 'raise ImportError("an exported script must not import flowstudio")\n'


def template(name: str) -> Path:
    return templates_dir() / f"{name}.flow.json"


def engine_run(flow_path: Path, sets: list[str], run_dir: Path, allow_code: bool = False,
               workers: bool = True) -> dict[str, Any]:
    """`flowstudio run` through the Engine (workers=False: heavy nodes in this process, as the script runs them)."""
    options = RunOptions(sets=sets, use_cache=False, run_dir=run_dir, allow_code=allow_code, workers=workers)
    engine = Engine()
    try:
        summary = engine.run(load_flow(flow_path), flow_path.parent, options).summary
    finally:
        engine.close()
    assert summary["status"] == "succeeded", json.dumps(summary, indent=1, default=str)[-3000:]
    return summary


def poisoned_path(root: Path) -> Path:
    """A directory whose `flowstudio` package fails to import; put it first on PYTHONPATH."""
    fake = root / "poison" / "flowstudio"
    fake.mkdir(parents=True, exist_ok=True)
    (fake / "__init__.py").write_text(POISON)
    return fake.parent


def run_script(export_dir: Path, root: Path, *args: str, timeout: float = 300) -> dict[str, Any]:
    """`python flow.py` where `import flowstudio` fails, from a directory outside the repository."""
    cwd = root / "elsewhere"
    cwd.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(poisoned_path(root)), OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1")
    proc = subprocess.run([sys.executable, str(export_dir / "flow.py"), "--output-dir", str(root / "out"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def export_and_run(flow_path: Path, sets: list[str], root: Path, allow_code: bool = False) -> dict[str, Any]:
    export_flow(load_flow(flow_path), flow_path.parent, root / "export", sets=sets, allow_code=allow_code)
    return run_script(root / "export", root)


def comparable(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not (k.endswith("_s") or any(t in k for t in TIMING))}


def assert_same_metrics(engine: dict[str, Any], script: dict[str, Any], rel: float = 1e-4) -> int:
    """Every node's metrics (timings aside) agree within `rel`; returns how many numbers were compared."""
    assert set(script["nodes"]) == set(engine["nodes"])
    compared = 0
    for node_id, info in engine["nodes"].items():
        want, got = comparable(info["metrics"]), comparable(script["nodes"][node_id]["metrics"])
        assert set(got) == set(want), (node_id, sorted(set(got) ^ set(want)))
        for name, value in want.items():
            assert math.isclose(got[name], value, rel_tol=rel, abs_tol=1e-9), (node_id, name, value, got[name])
            compared += 1
    return compared
