"""The engine's own cost: per node (stub nodes that do nothing, in-process and in workers), per run,
and planning + validating a 200-node flow; and side by side, the SFT template (builtin:tiny-llama) through
`flowstudio run` and through its exported script (`python flow.py`), wall time of each whole process.
Prints measured numbers; asserts nothing.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/engine_overhead.py [--nodes 200] [--worker-nodes 40]
        [--export-steps 40] [--repeat 2] [--no-export | --export-only]

The run-vs-script comparison alternates the two sides (engine first, then script, `--repeat` times) and
prints every run, the best and the median of each side, and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("FLOWSTUDIO_HOME", tempfile.mkdtemp(prefix="flowstudio-bench-"))

from flowstudio.engine import ArtifactStore, DeviceInventory, Engine, RunOptions  # noqa: E402
from flowstudio.engine.plan import build_plan  # noqa: E402
from tests.stubs import make_flow, stub_registry  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from report import Figure, emit  # noqa: E402


def chain(n: int, node_type: str = "stub.add"):
    """c -> add1 -> add2 -> ... (each node waits for the previous one: no overlap hides the cost)."""
    nodes = [("c", "stub.const", {"value": 1})] + [(f"n{i}", node_type, {"bias": 1}) for i in range(n - 1)]
    edges = [("c.value", "n0.a")] + [(f"n{i}.value", f"n{i + 1}.a") for i in range(n - 2)]
    return make_flow(nodes, edges)


def worker_chain(n: int):
    nodes = [(f"w{i}", "stub.busy", {"sleep": 0.0, "tag": str(i)}) for i in range(n)]
    edges = [(f"w{i}.span", f"w{i + 1}.after") for i in range(n - 1)]
    return make_flow(nodes, edges)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{proc.stderr[-2000:]}")
    return took


# `python flow.py` with one change: the process ends the way FlowStudio's workers end (at-exit hooks, then
# os._exit), without the interpreter's module-by-module teardown (~2 s with torch + transformers + TRL
# imported). The engine's workers skip it, so this side compares the rest like for like.
FAST_EXIT = (
    "import atexit, os, runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))\n"
    "code = 0\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)\n"
    "atexit._run_exitfuncs()\n"
    "sys.stdout.flush(); sys.stderr.flush()\n"
    "os._exit(code)\n"
)


def export_vs_run(steps: int, repeat: int, work: Path) -> dict[str, list[float]]:
    """Wall times of `flowstudio run`, of `python flow.py` (the same flow, exported) and of flow.py without
    the interpreter's teardown, alternating."""
    flow = REPO / "templates" / "sft_lora.flow.json"
    sets = ["model.source=builtin:tiny-llama", f"sft.max_steps={steps}"]
    set_args = [a for s in sets for a in ("--set", s)]
    py = sys.executable
    _timed([py, "-m", "flowstudio", "run", str(flow), "--no-cache", "--quiet", "--json", *set_args], REPO)  # builds tiny-llama
    _timed([py, "-m", "flowstudio", "export", str(flow), "-o", str(work / "export"), *set_args], REPO)
    script = str(work / "export" / "flow.py")
    times: dict[str, list[float]] = {"run": [], "script": [], "script_fast_exit": []}
    for i in range(repeat):
        times["run"].append(_timed([py, "-m", "flowstudio", "run", str(flow), "--no-cache", "--quiet", "--json",
                                    "--run-dir", str(work / f"sft-run{i}"), *set_args], REPO))
        times["script"].append(_timed([py, script, "--output-dir", str(work / f"sft-out{i}")], work))
        times["script_fast_exit"].append(_timed([py, "-c", FAST_EXIT, script, "--output-dir",
                                                 str(work / f"sft-fast{i}")], work))
        run, plain, fast = (times[k][-1] for k in ("run", "script", "script_fast_exit"))
        print(f"  repeat {i + 1}: flowstudio run {run:6.2f} s, flow.py {plain:6.2f} s (ratio {run / plain:.3f}), "
              f"flow.py without teardown {fast:6.2f} s (ratio {run / fast:.3f})", flush=True)
    return times


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--worker-nodes", type=int, default=40)
    ap.add_argument("--export-steps", type=int, default=40, help="SFT steps of the run-vs-export comparison")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each side (the best is kept)")
    ap.add_argument("--no-export", action="store_true", help="skip the run-vs-export comparison")
    ap.add_argument("--export-only", action="store_true", help="only the run-vs-export comparison")
    args = ap.parse_args()
    if args.export_only:
        export_figures(args, Path(tempfile.mkdtemp(prefix="engine-bench-")), [])
        return
    reg = stub_registry()
    work = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    store = ArtifactStore(work / "cache")
    print(f"machine: {os.cpu_count()} CPUs, no GPU used (fake inventory with 0 GPUs); python {sys.version.split()[0]}")

    big = chain(args.nodes)
    t_plan = best(lambda: build_plan(big, reg, work), 5)
    print(f"plan + validate, {args.nodes}-node flow:             {t_plan * 1000:8.1f} ms")

    with Engine(reg, DeviceInventory.fake(gpus=0, cpu_count=2), store) as engine:
        counter = iter(range(10_000))

        def opts(**kw: object) -> RunOptions:
            return RunOptions(run_dir=work / f"run{next(counter)}", **kw)  # type: ignore[arg-type]

        tiny = make_flow([("c", "stub.const", {"value": 1})], [])
        engine.run(tiny, options=opts(use_cache=False))
        t_run = best(lambda: engine.run(tiny, options=opts(use_cache=False)), 10)
        print(f"one run of a 1-node flow (fixed cost per run):     {t_run * 1000:8.1f} ms")

        t_first = best(lambda: engine.run(big, options=opts(use_cache=False)), 3)
        print(f"{args.nodes} in-process no-op nodes, executed:          {t_first * 1000:8.1f} ms "
              f"({t_first / args.nodes * 1000:.2f} ms/node, includes storing each result)")
        t_cached = best(lambda: engine.run(big, options=opts()), 3)
        print(f"{args.nodes} nodes, all from the cache:                 {t_cached * 1000:8.1f} ms "
              f"({t_cached / args.nodes * 1000:.2f} ms/node)")

        wflow = worker_chain(args.worker_nodes)
        t0 = time.perf_counter()
        engine.close()
        cold = engine.run(make_flow([("w", "stub.busy", {"sleep": 0.0})], []), options=opts(use_cache=False))
        t_cold = time.perf_counter() - t0
        node_s = cold.summary["nodes"]["w"]["seconds"]
        print(f"first worker node (spawns a worker process):       {t_cold * 1000:8.1f} ms "
              f"(node {node_s * 1000:.0f} ms from start to result)")
        t_warm = best(lambda: engine.run(wflow, options=opts(use_cache=False)), 3)
        print(f"{args.worker_nodes} no-op nodes in a warm worker, executed:   {t_warm * 1000:8.1f} ms "
              f"({t_warm / args.worker_nodes * 1000:.2f} ms/node)")
        per_node = []
        for _ in range(3):
            res = engine.run(wflow, options=opts(use_cache=False))
            per_node += [info["seconds"] for info in res.summary["nodes"].values()]
        print(f"  median start-to-result per worker node:          {statistics.median(per_node) * 1000:8.2f} ms")
    figures = [
        Figure(f"plan + validate, {args.nodes}-node flow", round(t_plan * 1000, 2), "ms"),
        Figure("one run of a 1-node flow", round(t_run * 1000, 2), "ms"),
        Figure("in-process no-op node, executed", round(t_first / args.nodes * 1000, 3), "ms/node"),
        Figure("no-op node in a warm worker", round(t_warm / args.worker_nodes * 1000, 3), "ms/node"),
    ]
    if not args.no_export:
        export_figures(args, work, figures)
        return
    print(f"(work dir: {work})")
    emit("engine_overhead", figures, notes=NOTES)


NOTES = ("stub nodes; SFT on builtin:tiny-llama, 1 thread, whole processes timed (imports included), "
         "best of --repeat; the machine may be shared")


def export_figures(args: argparse.Namespace, work: Path, figures: list[Figure]) -> None:
    """The run-vs-script comparison: print it, add its figures, emit."""
    load_before = _load()
    times = export_vs_run(args.export_steps, args.repeat, work)
    run_best, run_median = min(times["run"]), statistics.median(times["run"])
    for side, words in (("script", "exported flow.py"), ("script_fast_exit", "flow.py without teardown")):
        best, median = min(times[side]), statistics.median(times[side])
        ratio, median_ratio = run_best / best, run_median / median
        print(f"SFT template, tiny-llama, {args.export_steps} steps, {args.repeat} runs each: flowstudio run "
              f"best {run_best:.2f} s / median {run_median:.2f} s, {words} {best:.2f} s / {median:.2f} s; ratio "
              f"of bests {ratio:.3f}, of medians {median_ratio:.3f} (goal <= 1.10)")
        figures.append(Figure(f"SFT flow wall time, flowstudio run vs {words} ({args.export_steps} steps)",
                              round(ratio, 3), "x", anchor="python flow.py (flowstudio export)"
                              + ("" if side == "script" else ", ended with os._exit"),
                              goal="<= 1.10", met=ratio <= 1.10,
                              extra={"run_s": round(run_best, 2), "script_s": round(best, 2),
                                     "median_ratio": round(median_ratio, 3)}))
    print(f"load average (1, 5, 15 min): before {load_before}, after {_load()}")
    print(f"(work dir: {work})")
    emit("engine_overhead", figures, notes=NOTES)


if __name__ == "__main__":
    main()
