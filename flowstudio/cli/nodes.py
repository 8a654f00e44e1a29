"""`flowstudio nodes [--json|--markdown]`: the installed node types with their ports and params."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flowstudio.core.node import Node, Port
from flowstudio.core.registry import default_registry


def register(sub: Any) -> None:
    p = sub.add_parser("nodes", help="list the installed node types")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="full declarations as JSON")
    fmt.add_argument("--markdown", action="store_true", help="a reference page in Markdown")
    p.set_defaults(func=run)


def _port_text(port: Port) -> str:
    text = f"{port.name}: {port.type.name}"
    if port.multiple:
        text += "[]"
    if port.optional:
        text += "?"
    return text


def _params_text(cls: type[Node]) -> list[tuple[str, str, str]]:
    rows = []
    for name, field in cls.Params.model_fields.items():
        default = field.get_default(call_default_factory=True)
        rows.append((name, repr(default), field.description or ""))
    return rows


def run(args: argparse.Namespace) -> int:
    registry = default_registry()
    for err in registry.plugin_errors:
        print(f"warning: plugin {err.entry_point} failed to load: {err.message}", file=sys.stderr)
    if args.json:
        print(json.dumps([cls.describe() for cls in registry], indent=2))
        return 0
    if args.markdown:
        for category, types in registry.categories().items():
            print(f"## {category}\n")
            for cls in types:
                print(f"### `{cls.type}` — {cls.title}\n\n{cls.description}\n")
                ins = ", ".join(_port_text(p) for p in cls.input_ports()) or "none"
                outs = ", ".join(_port_text(p) for p in cls.output_ports()) or "none"
                print(f"- inputs: {ins}\n- outputs: {outs}\n")
                rows = _params_text(cls)
                if rows:
                    print("| param | default | description |\n|---|---|---|")
                    for name, default, desc in rows:
                        print(f"| `{name}` | `{default}` | {desc} |")
                    print()
        return 0
    for category, types in registry.categories().items():
        print(category)
        for cls in types:
            ins = ", ".join(_port_text(p) for p in cls.input_ports())
            outs = ", ".join(_port_text(p) for p in cls.output_ports())
            print(f"  {cls.type:<22} {cls.title:<24} ({ins}) -> ({outs})")
    return 0
