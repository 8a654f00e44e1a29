"""`flowstudio validate FLOW...`: every problem on its own line, exit 1 when any file has one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flowstudio.core.errors import FlowFileError
from flowstudio.core.flow import load_flow
from flowstudio.core.problems import errors
from flowstudio.core.registry import default_registry
from flowstudio.core.validation import validate_flow


def register(sub: Any) -> None:
    p = sub.add_parser("validate", help="check flow files without running them")
    p.add_argument("flows", nargs="+", metavar="FLOW", help="flow files (*.flow.json)")
    p.add_argument("--json", action="store_true", help="print the problems as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    registry = default_registry()
    report: dict[str, Any] = {}
    failed = False
    for name in args.flows:
        path = Path(name)
        try:
            flow = load_flow(path)
        except FlowFileError as exc:
            failed = True
            report[name] = {"valid": False, "error": str(exc), "problems": []}
            if not args.json:
                print(f"{exc}")
            continue
        problems = validate_flow(flow, registry, path.resolve().parent)
        bad = errors(problems)
        failed = failed or bool(bad)
        report[name] = {"valid": not bad, "error": None, "problems": [p.to_dict() for p in problems]}
        if not args.json:
            for problem in problems:
                print(problem.format(name))
            if not problems:
                print(f"{name}: ok ({len(flow.nodes)} nodes, {len(flow.edges)} edges)", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if failed else 0
