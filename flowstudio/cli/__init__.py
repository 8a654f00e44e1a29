"""`flowstudio ...`: one module per verb; each has `register(subparsers)` and sets `func` on its parser.

Verb modules import only what they need to build their parser; the work happens in `func`, so
`flowstudio validate` never pays for torch or Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from flowstudio import __version__
from flowstudio.core.errors import FlowStudioError

VERB_MODULES = ("gui", "run", "demo", "validate", "export", "serve", "nodes", "schema", "cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowstudio", description="Build, run and export language-model flows offline.")
    parser.add_argument("--version", action="version", version=f"flowstudio {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(f"flowstudio.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"flowstudio.cli.{name}":
                continue  # verb not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0].endswith(".json") or (argv[0] not in VERB_MODULES and Path(argv[0]).is_file()):
        argv = ["gui", *argv]  # `flowstudio` and `flowstudio FLOW` open the app
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FlowStudioError as exc:
        print(f"flowstudio: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("flowstudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
