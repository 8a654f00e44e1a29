"""`flowstudio run FLOW`: validate, run, show progress on stderr, print a table or (--json) the summary.

Exit status: 0 succeeded, 1 failed (or could not start), 130 stopped. Ctrl-C (SIGINT) stops the run
cleanly (training nodes save a checkpoint; continue with --resume RUN_DIR); a second Ctrl-C kills
the worker processes at once.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from flowstudio.core.errors import FlowStudioError


def _device(text: str) -> str:
    from flowstudio.engine.devices import parse_device

    try:
        parse_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip().lower()


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a flow", description="Run a flow file locally.")
    p.add_argument("flow", nargs="?", metavar="FLOW", help="the flow file (*.flow.json); optional with --resume")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NODE_ID.PARAM=VALUE",
                   help="override a param (VALUE is JSON, or else a string); repeatable")
    p.add_argument("--input", dest="inputs", action="append", default=[], metavar="NODE_ID=TEXT",
                   help="set the text of an io.text node; repeatable")
    p.add_argument("--device", type=_device, default="auto", metavar="auto|cpu|cuda|cuda:0,1",
                   help="auto: GPUs when there are any (default); cpu: never; cuda: require one; "
                        "cuda:0,2: only these GPUs (nvidia-smi's indices)")
    p.add_argument("--no-cache", action="store_true", help="run every node, even unchanged ones")
    p.add_argument("--run-dir", type=Path, help="where to keep this run: a new or empty directory (default: a new "
                   "directory under the runs dir); continue an earlier run with --resume instead")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped or failed run in its directory")
    p.add_argument("--until", metavar="NODE_ID", help="run only this node and what it needs")
    p.add_argument("--allow-code", action="store_true", help="allow nodes that run code written in the flow file")
    p.add_argument("--cpu-concurrency", type=int, metavar="N",
                   help="heavy CPU nodes at once (default: one per four cores, at least one)")
    p.add_argument("--seed", type=int, help="seed given to every node (ctx.seed)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------ progress


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


class ProgressView:
    """Progress on stderr: one bar per running node on a terminal, plain lines otherwise."""

    SYMBOLS = {"done": "✓", "cached": "≡", "failed": "✗", "cancelled": "■", "skipped": "-"}

    def __init__(self, out: TextIO, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.running: dict[str, dict[str, Any]] = {}
        self.drawn = 0
        self.last_draw = 0.0
        self.last_plain: dict[str, float] = {}
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self.lock:
            self._on(event)

    def _on(self, event: Any) -> None:
        kind = event.kind
        node = getattr(event, "node", "")
        if kind == "node_started":
            where = f"GPU {event.cuda_visible_devices}" if event.cuda_visible_devices else (
                "worker" if event.worker_pid else "in-process")
            self.running[node] = {"step": 0, "total": None, "message": "", "t0": time.time(), "where": where}
            self._line(f"▶ {node} ({event.node_type}, {where})", force=True)
        elif kind == "node_progress" and node in self.running:
            self.running[node].update(step=event.step, total=event.total, message=event.message)
            self._progress(node)
        elif kind == "node_metric" and node in self.running:
            self.running[node]["message"] = f"{event.name}={event.value:.4g}"
            self._progress(node)
        elif kind in ("node_finished", "node_cached", "node_failed", "node_cancelled", "node_skipped"):
            status = {"node_finished": "done", "node_cached": "cached", "node_failed": "failed",
                      "node_cancelled": "cancelled", "node_skipped": "skipped"}[kind]
            info = self.running.pop(node, None)
            took = f" {_fmt_seconds(time.time() - info['t0'])}" if info else ""
            detail = ""
            if kind == "node_failed":
                detail = f": {event.error}"
            elif kind == "node_skipped":
                detail = f": {event.reason}"
            elif kind == "node_cancelled" and event.message:
                detail = f": {event.message}"
            self._line(f"{self.SYMBOLS[status]} {node} {status}{took}{detail}", force=True)
        elif kind == "run_finished":
            self._clear()

    def _bar(self, node: str) -> str:
        info = self.running[node]
        elapsed = _fmt_seconds(time.time() - info["t0"])
        total = info["total"]
        if total:
            frac = min(1.0, max(0.0, info["step"] / total))
            filled = int(frac * 24)
            bar = "█" * filled + "░" * (24 - filled)
            text = f"  {node:<16} {bar} {info['step']}/{total} {elapsed}"
            spent = time.time() - info["t0"]
            if 0 < info["step"] < total and spent > 1:
                text += f" eta {_fmt_seconds(spent / info['step'] * (total - info['step']))}"
        else:
            text = f"  {node:<16} {'…':<24} step {info['step']} {elapsed}"
        if info["message"]:
            text += f"  {info['message']}"
        return text[:160]

    def _clear(self) -> None:
        if self.tty and self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def _redraw(self) -> None:
        if not self.tty:
            return
        self._clear()
        lines = [self._bar(n) for n in self.running]
        for line in lines:
            self.out.write(line + "\n")
        self.drawn = len(lines)
        self.out.flush()
        self.last_draw = time.time()

    def _line(self, text: str, force: bool = False) -> None:
        self._clear()
        self.out.write(text + "\n")
        self.out.flush()
        self._redraw()

    def _progress(self, node: str) -> None:
        now = time.time()
        if self.tty:
            if now - self.last_draw > 0.1:
                self._redraw()
        elif now - self.last_plain.get(node, 0.0) > 5.0:
            self.last_plain[node] = now
            self.out.write(self._bar(node).strip() + "\n")
            self.out.flush()


def format_table(summary: dict[str, Any]) -> str:
    rows = [("node", "status", "time", "metrics / error")]
    for node_id, info in summary["nodes"].items():
        if info.get("error"):
            detail = str(info["error"]).splitlines()[0] if info["error"] else ""
            if info.get("hint"):
                detail += f" (hint: {info['hint']})"
        else:
            detail = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in list(info.get("metrics", {}).items())[:4])
        rows.append((node_id, info["status"], _fmt_seconds(info.get("seconds") or 0.0), detail))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    lines.append(f"run {summary['status']} in {_fmt_seconds(summary.get('seconds', 0.0))}: {summary['run_dir']}")
    for node_id, value in summary.get("outputs", {}).items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"output {node_id}: {text}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- run


def install_sigint(engine: Any) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    presses = [0]

    def handler(signum: int, frame: Any) -> None:
        presses[0] += 1
        if presses[0] == 1:
            print("\nflowstudio: stopping (nodes save a checkpoint; Ctrl-C again to kill at once)", file=sys.stderr)
            engine.cancel()
        else:
            print("\nflowstudio: killing the workers", file=sys.stderr)
            engine.cancel(force=True)

    return signal.signal(signal.SIGINT, handler)


def run(args: argparse.Namespace) -> int:
    from flowstudio.core.flow import load_flow
    from flowstudio.engine import Engine, FlowInvalidError, RunOptions

    if args.flow is None and args.resume is None:
        raise FlowStudioError("run: give a FLOW file, or --resume RUN_DIR")
    if args.resume is not None and args.run_dir is not None and args.run_dir.absolute() != args.resume.absolute():
        raise FlowStudioError("run: --resume continues a run in its own directory; leave out --run-dir")
    options = RunOptions(sets=args.sets, inputs=args.inputs, until=args.until, device=args.device,
                         use_cache=not args.no_cache, run_dir=args.run_dir, allow_code=args.allow_code,
                         seed=args.seed, cpu_concurrency=args.cpu_concurrency,
                         source=str(Path(args.flow).absolute()) if args.flow else None)
    listeners = [] if args.quiet else [ProgressView(sys.stderr)]
    engine = Engine()
    previous = install_sigint(engine)
    try:
        if args.resume is not None:
            flow = load_flow(args.flow) if args.flow else None
            flow_dir = Path(args.flow).absolute().parent if args.flow else None
            result = engine.resume(args.resume, options, listeners, flow=flow, flow_dir=flow_dir)
        else:
            flow = load_flow(args.flow)
            result = engine.run(flow, Path(args.flow).absolute().parent, options, listeners)
    except FlowStudioError as exc:
        if args.json:
            problems = [p.to_dict() for p in exc.problems] if isinstance(exc, FlowInvalidError) else []
            print(json.dumps({"status": "invalid", "error": str(exc), "problems": problems, "nodes": {},
                              "outputs": {}, "run_dir": None}, indent=2))
        print(f"flowstudio: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        engine.close()
    summary = result.summary
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
        if not args.quiet:
            print(format_table(summary), file=sys.stderr)
    else:
        print(format_table(summary))
        for node_id, info in summary["nodes"].items():
            if info["status"] == "failed" and info.get("log_tail"):
                print(f"--- last lines of {node_id}'s log ({info.get('log')}) ---\n{info['log_tail']}", file=sys.stderr)
    if summary["status"] == "succeeded":
        return 0
    if summary["status"] == "cancelled":
        print(f"flowstudio: stopped; continue with: flowstudio run --resume {summary['run_dir']}", file=sys.stderr)
        return 130
    return 1
