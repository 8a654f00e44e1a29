"""`flowstudio export FLOW -o DIR`: write a standalone script of the flow, the node code it runs, and
accelerate/Slurm launchers. Nothing from the flow runs; no torch is imported."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="export a flow to a standalone Python script",
                       description="Write DIR/flow.py (runs without FlowStudio: python flow.py, accelerate launch "
                                   "flow.py, sbatch slurm.sbatch), DIR/flowlib/ (the node code it runs), "
                                   "requirements.txt, accelerate/*.yaml, slurm.sbatch and README.md.")
    p.add_argument("flow", metavar="FLOW", help="the flow file (*.flow.json)")
    p.add_argument("-o", "--output", dest="output", type=Path, required=True, metavar="DIR",
                   help="the export directory: new, empty, or an earlier export of a flow")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NODE_ID.PARAM=VALUE",
                   help="override a param in the export (VALUE is JSON, or else a string); repeatable")
    p.add_argument("--allow-code", action="store_true",
                   help="export nodes that run code written in the flow file (the script will run it)")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty directory that holds no earlier export (only the export's files)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flowstudio.core.flow import load_flow
    from flowstudio.export import export_flow

    flow_path = Path(args.flow)
    result = export_flow(load_flow(flow_path), flow_path.absolute().parent, args.output, sets=args.sets,
                         allow_code=args.allow_code, force=args.force)
    for warning in result.warnings:
        print(f"flowstudio: warning: {warning}", file=sys.stderr)
    print(f"exported {flow_path.name} to {result.out_dir} ({len(result.files)} files, "
          f"{len(result.modules)} FlowStudio modules vendored in flowlib/)")
    print(f"  run it:  cd {result.out_dir} && python flow.py --help")
    return 0
