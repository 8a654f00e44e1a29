"""`flowstudio serve`: models and flows on a local OpenAI-compatible endpoint (see docs/serve.md).

Prints `flowstudio serve: listening on http://HOST:PORT/v1` on stdout once every model is loaded
(the app's Run → Serve dialog waits for that line). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from flowstudio.core.errors import FlowStudioError


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve models and flows on an OpenAI-compatible endpoint",
                       description="Serve local models and flows with the OpenAI API (chat, completions, "
                                   "embeddings, streaming). Binds to 127.0.0.1 unless told otherwise.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--api-key", default=os.environ.get("FLOWSTUDIO_API_KEY"),
                   help="require `Authorization: Bearer KEY` on every request (default: $FLOWSTUDIO_API_KEY)")
    p.add_argument("--model", dest="models", action="append", default=[], metavar="NAME=SOURCE",
                   help="serve a model as NAME: anything model.load takes (builtin:tiny-llama, a model "
                        "directory, a .gguf file, a hub id in the local cache, a LoRA adapter); repeatable")
    p.add_argument("--flow", dest="flows", action="append", default=[], metavar="NAME=FLOW",
                   help="serve a flow with an io.text input and an io.output as NAME; repeatable")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NODE_ID.PARAM=VALUE",
                   help="override a param of the served flows (as in `flowstudio run`); repeatable")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where models run (auto: a GPU when there is one)")
    p.add_argument("--max-tokens", type=int, default=256, help="max_tokens when a request gives none (256)")
    p.add_argument("--max-request-bytes", type=int, default=4 * 1024 * 1024,
                   help="larger request bodies get 413 (default 4 MiB)")
    p.add_argument("--allow-code", action="store_true", help="allow served flows to run code from the flow file")
    p.set_defaults(func=run)


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for value in values:
        name, sep, source = value.partition("=")
        if not sep:  # `--model builtin:tiny-llama`: named after the source
            source = value
            name = Path(value.split(":", 1)[-1] if value.startswith("builtin:") else value).name
            name = name.removesuffix(".flow.json").removesuffix(".gguf")
        if not name or not source:
            raise FlowStudioError(f"--{what} {value!r}: expected NAME=SOURCE")
        out.append((name.strip(), source.strip()))
    return out


def _device(choice: str) -> str:
    if choice == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if choice == "cuda":
        raise FlowStudioError("--device cuda: no GPU is visible")
    return "cpu"


def run(args: argparse.Namespace) -> int:
    from flowstudio.serve.app import build_app
    from flowstudio.serve.backends import HFBackend
    from flowstudio.serve.flows import FlowBackend
    from flowstudio.serve.pool import ModelPool
    from flowstudio.serve.server import READY_PREFIX, base_url, bind, serve_forever

    models, flows = _pairs(args.models, "model"), _pairs(args.flows, "flow")
    if not models and not flows:
        raise FlowStudioError("nothing to serve: give --model NAME=SOURCE or --flow NAME=FLOW")
    pool = ModelPool()
    try:
        device = _device(args.device) if models else "cpu"
        for name, source in models:
            pool.add(HFBackend(name, source, Path.cwd(), device=device))
        for name, path in flows:
            pool.add(FlowBackend(name, path, sets=args.sets, device=args.device, allow_code=args.allow_code))
    except (ValueError, OSError) as err:
        raise FlowStudioError(str(err)) from None
    sock = bind(args.host, args.port)  # before loading: a port in use fails at once
    try:
        pool.load_all(lambda name, s: print(f"flowstudio serve: {name} ready ({s:.1f} s)", file=sys.stderr,
                                            flush=True))
    except (ValueError, OSError) as err:
        raise FlowStudioError(str(err)) from None
    url = base_url(sock)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.api_key:
        print("flowstudio serve: warning: listening beyond this machine without --api-key", file=sys.stderr)

    def ready() -> None:
        print(READY_PREFIX + url, flush=True)

    app = build_app(pool, api_key=args.api_key, max_body_bytes=args.max_request_bytes,
                    default_max_tokens=args.max_tokens, on_ready=ready)
    try:
        serve_forever(app, sock)
    finally:
        pool.close()
    return 0
