"""Test backends: tiny-llama with a tool-calling chat template and scripted replies, and a slowed tiny-llama.

Everything of the server runs for real (request parsing, the chat template with `tools`, reading the
tool call back out of the reply, the response shape); only the text the model "generates" is scripted,
because tiny-llama's random weights never write a tool call.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace
from typing import Any

from flowstudio.serve.backends import Completion, HFBackend

TOOLS_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n{% endif %}"
    "# Tools\n<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools><|im_end|>\n{% endif %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'system' and tools %}"
    "{%- elif m.role == 'tool' %}<|im_start|>tool\n<tool_response>{{ m.content }}</tool_response><|im_end|>\n"
    "{%- elif m.tool_calls %}<|im_start|>assistant\n{% for c in m.tool_calls %}<tool_call>"
    "{{ {'name': c.function.name, 'arguments': c.function.arguments} | tojson }}</tool_call>{% endfor %}<|im_end|>\n"
    "{%- else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{%- endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
ANSWER = "It is sunny in Paris."


class ScriptedToolModel(HFBackend):
    """Calls `get_weather` until the prompt holds a tool response, then answers."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "builtin:tiny-llama")
        self.prompts: list[str] = []

    def load(self) -> None:
        super().load()
        tokenizer = copy.deepcopy(self.loaded.tokenizer)  # the warm tokenizer is shared with other backends
        tokenizer.chat_template = TOOLS_TEMPLATE
        self.loaded = replace(self.loaded, tokenizer=tokenizer)

    def _generate(self, prompt: str, sampling: Any, chat: bool, on_text: Any, cancelled: Any) -> Completion:
        self.prompts.append(prompt)
        text = ANSWER if "<tool_response>" in prompt else CALL
        if on_text is not None:
            on_text(text)
        return Completion(text, len(prompt), 5, "stop")


class SlowTinyLlama(HFBackend):
    """tiny-llama that takes ~5 ms a token and records each generation's token count and stop reason."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "builtin:tiny-llama")
        self.finished: list[Completion] = []

    def _generate(self, prompt: str, sampling: Any, chat: bool, on_text: Any, cancelled: Any) -> Completion:
        def slow(text: str) -> None:
            time.sleep(0.005)
            if on_text is not None:
                on_text(text)

        result = super()._generate(prompt, sampling, chat, slow, cancelled)
        self.finished.append(result)
        return result


def tool_schema() -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def dumps(value: Any) -> str:
    return json.dumps(value)
