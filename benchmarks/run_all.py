"""Run every benchmark, one after another, and write `docs/benchmarks.md` from what they measured.

    .venv/bin/python benchmarks/run_all.py [--only NAME ...] [--skip NAME ...] [--out docs/benchmarks.md]
    make bench

Each benchmark runs in its own process (so one cannot warm up another), with `OMP_NUM_THREADS=1` unless the
benchmark sets its own, and hands its figures back through `benchmarks/report.py`. A benchmark that fails or
times out is listed as such in the page — never left out. Every figure that is a ratio names its anchor,
measured in the same run of the same script. The page starts with the machine, as measured now.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.report import ENV_VAR, Figure  # noqa: E402


@dataclass
class Benchmark:
    name: str
    script: str
    args: list[str] = field(default_factory=list)
    timeout_s: int = 1800
    what: str = ""


BENCHMARKS = [
    Benchmark("engine_overhead", "engine_overhead.py", ["--export-steps", "200", "--repeat", "3"],
              what="the engine's own cost; a flow run vs its exported script"),
    Benchmark("train_throughput", "train_throughput.py", what="SFT tokens/s vs a plain TRL script and TRL defaults"),
    Benchmark("generate_latency", "generate_latency.py", what="chain.generate vs plain transformers generate"),
    Benchmark("ppo_throughput", "ppo_throughput.py", ["--repeats", "3"], timeout_s=3600,
              what="PPO samples/s vs TRL 0.11.4 PPOv2"),
    Benchmark("serve_throughput", "serve_throughput.py", what="the OpenAI-compatible server vs plain generate"),
    Benchmark("retrieval", "retrieval.py", what="a 10,000-chunk knowledge base: build, size, query latency"),
    Benchmark("ui_latency", "ui_latency.py", what="GUI event-loop latency while SFT trains vs idle"),
    Benchmark("canvas_scale_1000", "canvas_scale.py", ["--nodes", "1000"], what="the canvas at 1,000 nodes"),
    Benchmark("canvas_scale_5000", "canvas_scale.py", ["--nodes", "5000"], what="the canvas at 5,000 nodes"),
    Benchmark("startup", "startup.py", what="launch → first painted window, vs PySide6 alone"),
]


def machine() -> dict[str, str]:
    """The machine as it is now: CPU, cores, memory, GPU (via nvidia-smi, without importing torch), versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")))
        memory = f"{kib / 1024 ** 2:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    gpu = "none"
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        gpu = "; ".join(line.strip() for line in out.stdout.splitlines() if line.strip()) or "none (driver error)"

    def version(dist: str) -> str:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as _version

        try:
            return _version(dist)
        except PackageNotFoundError:
            return "not installed"

    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "memory": memory,
        "gpu": gpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": ", ".join(f"{d} {version(d)}" for d in ("torch", "transformers", "trl", "peft", "PySide6")),
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a",
    }


def import_cost(repeat: int = 7) -> list[Figure]:
    """Time to import the core and the engine in a fresh interpreter, against a bare interpreter start."""
    def best(code: str) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
            times.append(time.perf_counter() - started)
        return min(times)

    bare = best("pass")
    core = best("import flowstudio.core.flow, flowstudio.core.registry, flowstudio.engine")
    return [
        Figure("interpreter start + import flowstudio.core and flowstudio.engine", round(core * 1000, 1), "ms"),
        Figure("of which the imports (minus a bare interpreter start)", round((core - bare) * 1000, 1), "ms",
               anchor=f"bare `python -c pass`: {bare * 1000:.1f} ms"),
    ]


def run_one(bench: Benchmark, scratch: Path) -> dict:
    script = REPO / "benchmarks" / bench.script  # an absolute `script` stays as it is
    if not script.exists():
        return {"benchmark": bench.name, "status": "missing", "error": f"{bench.script} does not exist", "figures": []}
    out = scratch / f"{bench.name}.json"
    env = {**os.environ, ENV_VAR: str(out)}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    started = time.perf_counter()
    print(f"== {bench.name}: {bench.script} {' '.join(bench.args)}", flush=True)
    try:
        done = subprocess.run([sys.executable, str(script), *bench.args], cwd=REPO, env=env, timeout=bench.timeout_s,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        return {"benchmark": bench.name, "status": "timed out", "error": f"over {bench.timeout_s} s", "figures": []}
    seconds = time.perf_counter() - started
    print(done.stdout[-4000:], flush=True)
    if done.returncode != 0:
        tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        return {"benchmark": bench.name, "status": f"failed (exit {done.returncode})", "error": tail[0],
                "figures": [], "seconds": seconds}
    if not out.exists():
        return {"benchmark": bench.name, "status": "no figures", "error": "the script did not call report.emit",
                "figures": [], "seconds": seconds}
    payload = json.loads(out.read_text(encoding="utf-8"))
    return {**payload, "benchmark": bench.name, "status": "ok", "seconds": seconds}


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(results: list[dict], box: dict[str, str], started: datetime, total_s: float, note: str = "") -> str:
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`benchmarks/run_all.py`); do not edit by hand. Each figure is measured in one",
        "run of its script; a ratio names its **anchor**, measured side by side in that same run. Details and",
        "earlier runs: `benchmarks/RESULTS.md`; each script's docstring says exactly what it does.",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {total_s / 60:.0f} min in all.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {key} | {cell(value)} |" for key, value in box.items()],
        "",
        *([note, ""] if note else []),
    ]
    for result in results:
        bench = next((b for b in BENCHMARKS if b.name == result["benchmark"]), None)
        title = result["benchmark"] + (f" — {bench.what}" if bench and bench.what else "")
        lines += [f"## {title}", ""]
        if bench is not None:
            lines += [f"`benchmarks/{bench.script}{' ' + ' '.join(bench.args) if bench.args else ''}`"
                      + (f", {result['seconds']:.0f} s" if result.get("seconds") else ""), ""]
        if result["status"] != "ok":
            lines += [f"**{result['status']}**: {cell(result.get('error', ''))}", ""]
            continue
        if result.get("notes"):
            lines += [cell(result["notes"]), ""]
        lines += ["| figure | value | anchor | goal | met |", "|---|---|---|---|---|"]
        for fig in result["figures"]:
            met = "" if fig.get("met") is None else ("yes" if fig["met"] else "**no**")
            value = f"{fig['value']:.4g} {fig.get('unit', '')}".strip()
            lines.append(f"| {cell(fig['label'])} | {cell(value)} | {cell(fig.get('anchor') or '—')} | "
                         f"{cell(fig.get('goal') or '')} | {met} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="run only these benchmarks (names as listed)")
    parser.add_argument("--skip", nargs="*", default=[], help="leave these out")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--note", default="", help="a line under the machine table (e.g. what else ran)")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if (args.only is None or b.name in args.only) and b.name not in args.skip]
    started, t0 = datetime.now(UTC), time.perf_counter()
    box = machine()
    results = [{"benchmark": "import_cost", "status": "ok", "figures": [vars(f) for f in import_cost()],
                "notes": "best of 7 fresh interpreters"}]
    with tempfile.TemporaryDirectory(prefix="flowstudio-bench-") as scratch:
        for bench in chosen:
            results.append(run_one(bench, Path(scratch)))
    box["load"] += f" (1/5/15-min load average at the start); at the end {os.getloadavg()[0]:.2f}"
    args.out.write_text(render(results, box, started, time.perf_counter() - t0, args.note) + "\n", encoding="utf-8")
    failed = [r["benchmark"] for r in results if r["status"] != "ok"]
    print(f"wrote {args.out}" + (f"; not measured: {', '.join(failed)}" if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
