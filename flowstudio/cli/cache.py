"""`flowstudio cache info|clear`: how big the artifact cache is, and emptying it."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("cache", help="show the size of the result cache, or clear it")
    verbs = p.add_subparsers(dest="cache_verb", metavar="info|clear", required=True)
    info = verbs.add_parser("info", help="entries and size, by node type")
    info.add_argument("--json", action="store_true", help="print as JSON")
    verbs.add_parser("clear", help="remove every cached result (run directories keep their logs and summaries)")
    p.set_defaults(func=run)


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def run(args: argparse.Namespace) -> int:
    from flowstudio.engine.cache import ArtifactStore

    store = ArtifactStore()
    if args.cache_verb == "clear":
        freed = store.clear()
        print(f"cleared {store.root} ({human_size(freed)} freed)")
        return 0
    report = store.info()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['path']}: {report['entries']} entries, {human_size(report['bytes'])}")
    for type_id, slot in sorted(report["by_type"].items(), key=lambda kv: -kv[1]["bytes"]):
        print(f"  {type_id:<28} {slot['entries']:>5} entries  {human_size(slot['bytes']):>10}")
    return 0
