"""A flow served as a chat model: `io.text` → … → `io.output`, run by the engine for each request.

The input is the flow's `io.text` node (the only one, or the one whose id is `input`, `prompt`,
`question`, `message` or `query`); it gets the request's last user message. A second `io.text` node with
the id `history`, when the flow has one, gets the earlier turns as a `Role: content` transcript. The
answer is the `io.output` node's value (the one with id `answer`/`output`/`reply`, else the first), as
text (JSON for other values). The engine keeps its workers warm, so the models a flow loads stay loaded;
one run at a time per served flow (the engine runs one at a time), queued like model requests.
Sampling fields of the request are not applied (the flow's own params are); `seed` becomes `ctx.seed`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .backends import Cancelled, Completion, OnText
from .errors import APIError

INPUT_IDS = ("input", "prompt", "question", "message", "query")
OUTPUT_IDS = ("answer", "output", "reply", "result")
HISTORY_ID = "history"


def _pick(ids: list[str], preferred: tuple[str, ...], what: str, path: Path) -> str:
    if len(ids) == 1:
        return ids[0]
    for name in preferred:
        if name in ids:
            return name
    if not ids:
        raise ValueError(f"{path} cannot be served: it has no {what} node")
    if what == "io.output":
        return ids[0]
    raise ValueError(f"{path} has several io.text nodes ({', '.join(ids)}); name the input one "
                     f"{' or '.join(preferred)}")


class FlowBackend:
    kind = "flow"

    def __init__(self, name: str, path: Path | str, sets: list[str] | None = None, device: str = "auto",
                 allow_code: bool = False) -> None:
        from flowstudio.core.flow import load_flow

        self.name, self.path = name, Path(path).resolve()
        self.flow = load_flow(self.path)
        self.sets, self.device, self.allow_code = list(sets or []), device, allow_code
        texts = [n.id for n in self.flow.nodes if n.type == "io.text"]
        outputs = [n.id for n in self.flow.nodes if n.type == "io.output"]
        self.history_id = HISTORY_ID if HISTORY_ID in texts and len(texts) > 1 else None
        self.input_id = _pick([t for t in texts if t != self.history_id], INPUT_IDS, "io.text", self.path)
        self.output_id = _pick(outputs, OUTPUT_IDS, "io.output", self.path)
        self.engine: Any = None

    def load(self) -> None:
        """Validate the flow once (with `sets` applied), so a broken flow fails at startup, not per request."""
        from flowstudio.core.validation import validate_flow
        from flowstudio.engine import Engine
        from flowstudio.engine.plan import apply_overrides

        self.engine = Engine()
        prepared = apply_overrides(self.flow, self.sets, (), self.engine.registry)
        problems = [p for p in validate_flow(prepared, self.engine.registry, flow_dir=self.path.parent)
                    if p.severity == "error"]
        if problems:
            raise ValueError(f"{self.path} is not valid: " + "; ".join(
                f"{p.node_id or 'flow'}: {p.message}" for p in problems[:5]))

    def chat(self, messages: list[dict[str, Any]], sampling: Any, tools: list[dict[str, Any]],
             on_text: OnText, cancelled: Cancelled) -> Completion:
        from flowstudio.engine import RunOptions

        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        if not users:
            raise APIError(400, "the conversation has no user message for the flow's input", param="messages")
        last = users[-1]
        inputs = [f"{self.input_id}={messages[last].get('content') or ''}"]
        if self.history_id:
            earlier = [m for m in messages[:last] if m["role"] in ("user", "assistant", "system")]
            transcript = "\n".join(f"{m['role'].capitalize()}: {m.get('content') or ''}" for m in earlier)
            inputs.append(f"{self.history_id}={transcript}")
        run_root = Path(tempfile.mkdtemp(prefix="flowstudio-serve-"))

        def listener(event: Any) -> None:
            if cancelled():
                self.engine.cancel()

        try:
            options = RunOptions(sets=self.sets, inputs=inputs, device=self.device, run_dir=run_root / "run",
                                 allow_code=self.allow_code, seed=sampling.seed, source=str(self.path))
            result = self.engine.run(self.flow, self.path.parent, options, listeners=[listener])
        finally:
            shutil.rmtree(run_root, ignore_errors=True)
        summary = result.summary
        if summary.get("status") != "succeeded":
            errors = [f"{nid}: {n.get('error')}" for nid, n in summary.get("nodes", {}).items() if n.get("error")]
            raise APIError(500, f"the flow {self.name!r} {summary.get('status')}: " + "; ".join(errors)[:2000],
                           type="server_error", code="flow_failed")
        value = summary.get("outputs", {}).get(self.output_id)
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if on_text is not None and text:
            on_text(text)
        return Completion(text, 0, 0, "stop")

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
