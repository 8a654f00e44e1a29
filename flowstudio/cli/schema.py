"""`flowstudio schema`: the flow file's JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from flowstudio.core.flow import flow_json_schema


def register(sub: Any) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of flow files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(flow_json_schema(), indent=2))
    return 0
