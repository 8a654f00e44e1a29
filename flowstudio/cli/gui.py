"""`flowstudio gui [FLOW]`: open the desktop app; `--screenshot OUT.png` renders the window and exits."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from flowstudio.core.errors import FlowStudioError


def register(sub: Any) -> None:
    p = sub.add_parser("gui", help="open the desktop app (the default verb)")
    p.add_argument("flow", nargs="?", metavar="FLOW", help="a flow file to open")
    p.add_argument("--theme", choices=("dark", "light"), help="colour theme (default: the last one used)")
    p.add_argument("--template", action="store_true",
                   help="open FLOW as a new, unsaved flow (as the start page does with templates)")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window to an image and exit")
    p.add_argument("--size", default="1600x1000", metavar="WxH", help="window size for --screenshot")
    p.add_argument("--select", action="append", default=[], metavar="NODE_ID",
                   help="select a node before the screenshot (shows it in the inspector); repeatable")
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise FlowStudioError(f"--size must look like 1600x1000, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def run(args: argparse.Namespace) -> int:
    flow = Path(args.flow) if args.flow else None
    if flow is not None:
        from flowstudio.core.flow import load_flow

        load_flow(flow)  # a clear error on the command line rather than a dialog
    if args.screenshot:
        from flowstudio.ui.app import render_screenshot

        out = render_screenshot(Path(args.screenshot), flow, args.theme or "dark", _size(args.size),
                                args.select, template=args.template)
        print(out)
        return 0
    if sys.platform.startswith("linux") and not any(
            os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        raise FlowStudioError("no display to open the app on (DISPLAY is not set); "
                              "use --screenshot OUT.png to render the window without one")
    from flowstudio.ui.app import run_app

    return run_app(flow, args.theme)
