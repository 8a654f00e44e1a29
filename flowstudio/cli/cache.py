"""`flowstudio cache info|verify|clear|trim`: how big the artifact cache is; checking, emptying or trimming it."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("cache", help="show the size of the result cache, or clear it")
    verbs = p.add_subparsers(dest="cache_verb", metavar="info|verify|clear|trim", required=True)
    info = verbs.add_parser("info", help="entries and size on disk, by node type")
    info.add_argument("--json", action="store_true", help="print as JSON")
    verify = verbs.add_parser("verify", help="reread every cached file, remove the damaged results (they are "
                                             "rebuilt by the next run that needs them)")
    verify.add_argument("--quick", action="store_true", help="check sizes and time stamps only, not every byte")
    verify.add_argument("--json", action="store_true", help="print as JSON")
    verbs.add_parser("clear", help="remove every cached result (run directories keep their logs and summaries)")
    trim = verbs.add_parser("trim", help="remove the least recently used results")
    trim.add_argument("--max-size", type=parse_size, metavar="SIZE", help="keep at most this much, e.g. 20GB")
    trim.add_argument("--older-than", type=parse_age, metavar="AGE", help="remove results unused for AGE, e.g. 30d")
    p.set_defaults(func=run)


def parse_size(text: str) -> int:
    units = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20, "MIB": 2**20,
             "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40, "TIB": 2**40}
    raw = text.strip().upper().replace(" ", "")
    number = raw.rstrip("KMGTIB")
    unit = raw[len(number):]
    try:
        return int(float(number) * units[unit])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write e.g. 500MB or 20GB") from None


def parse_age(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    raw = text.strip().lower()
    try:
        return float(raw[:-1]) * units[raw[-1]] if raw[-1:] in units else float(raw) * 86400
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 12h, 30d or 2w") from None


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def run(args: argparse.Namespace) -> int:
    from flowstudio.engine.cache import ArtifactStore

    store = ArtifactStore()
    if args.cache_verb == "verify":
        return verify(store, full=not args.quick, as_json=args.json)
    if args.cache_verb == "trim":
        if args.max_size is None and args.older_than is None:
            print("flowstudio cache trim: give --max-size SIZE and/or --older-than AGE")
            return 2
        removed, freed = store.trim(args.max_size, args.older_than)
        print(f"removed {removed} entries ({human_size(freed)} freed); {human_size(store.info()['bytes'])} left")
        return 0
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
    if report.get("other_bytes"):
        print(f"  {'(not in an entry)':<28} {'':>5}          {human_size(report['other_bytes']):>10}")
    return 0


def verify(store: Any, full: bool, as_json: bool) -> int:
    """Check every entry; exit status 1 when some were damaged (they are removed)."""
    import time

    t0 = time.time()
    checked, nbytes, bad = store.verify_all(full=full)
    seconds = time.time() - t0
    if as_json:
        print(json.dumps({"checked": checked, "bytes": nbytes, "seconds": round(seconds, 3), "removed": bad},
                         indent=2))
    else:
        how = "every byte" if full else "sizes and time stamps"
        print(f"checked {checked} entries ({human_size(nbytes)}, {how}) in {seconds:.1f} s: "
              f"{len(bad)} damaged" + (" (removed; the next run that needs them rebuilds them)" if bad else ""))
        for item in bad:
            print(f"  {item['key'][:12]}  {item['node_type']:<24} {item['problem']}")
    return 1 if bad else 0
