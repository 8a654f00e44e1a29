"""Node types this plugin adds. FlowStudio registers every `Node` subclass declared in this module.

A node is one declarative class: its ports, its params (a pydantic model: the app builds the inspector
from it, the flow file stores it), and `run`. Keep heavy imports (torch, transformers) inside `run`, so
the app starts fast.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from flowstudio.core.node import Node, NodeParams, Port, Ports
from flowstudio.core.ports import Metrics, Text

SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")


class TextStatistics(Node):
    type = "textstats.count"  # a type id is forever: flows store it
    title = "Text statistics"
    category = "Text"
    icon = "mdi6.counter"
    description = "Counts the words, sentences and characters of a text; optionally only words longer than a minimum."

    class Inputs(Ports):
        text = Port(Text, "The text to measure")

    class Outputs(Ports):
        metrics = Port(Metrics, "words, sentences, characters, long_words")

    class Params(NodeParams):
        min_long_word: int = Field(7, ge=1, le=100, description="A word of at least this many letters counts as long")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        text = inputs.text or ""
        words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text)
        metrics = {
            "words": len(words),
            "sentences": len(SENTENCE_END.findall(text.strip() + " ")) if text.strip() else 0,
            "characters": len(text),
            "long_words": sum(1 for word in words if len(word) >= params.min_long_word),
        }
        for name, value in metrics.items():
            ctx.metric(name, float(value))
        return {"metrics": metrics}
