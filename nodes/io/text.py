"""Inputs and outputs of a flow: text typed in the inspector or given at run time, and marked results."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from flowstudio.core.node import Node, NodeParams, Port, Ports, TextField
from flowstudio.core.ports import Any as AnyValue
from flowstudio.core.ports import Text

PREVIEW_CHARS = 400


class TextInput(Node):
    type = "io.text"
    title = "Text"
    category = "Input / Output"
    icon = "mdi6.form-textbox"
    description = "A text value typed here, or given at run time with `flowstudio run FLOW --input NODE_ID=TEXT`."

    class Outputs(Ports):
        text = Port(Text, "The text")

    class Params(NodeParams):
        text: str = TextField("", "The text this node outputs; `--input NODE_ID=...` replaces it for one run")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        return {"text": params.text}


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A one-value summary for logs: text as is, other values as compact JSON, cut at `limit` characters."""
    if isinstance(value, str):
        text = value
    else:
        to_json = getattr(value, "to_json", None)
        try:
            text = json.dumps(to_json() if callable(to_json) else value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


class Output(Node):
    type = "io.output"
    title = "Output"
    category = "Input / Output"
    icon = "mdi6.export"
    description = "Marks a value as a result of the run: shown in the run summary (`outputs`) and in the app."
    cacheable = False

    class Inputs(Ports):
        value = Port(AnyValue, "The value to return")

    class Params(NodeParams):
        label: str = Field("", description="A name for this result in the app (the summary keys results by node id)")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        ctx.log(f"{params.label or ctx.node_id}: {preview(inputs.value)}")
        return {"value": inputs.value}
