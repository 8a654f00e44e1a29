"""What a served name answers with. `HFBackend` is a transformers causal LM (anything `model.load` takes);
`flows.FlowBackend` runs a flow. Each method runs in the name's worker thread (see `pool`), one call at a time.

A backend has `name`, `kind` ("model" | "flow"), `load()` and `chat(...)`; models add `complete(...)` and
`embed(...)`. `on_text` receives new text as it is generated; `cancelled()` turning true stops generation
within a token.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstudio.core.errors import FlowStudioError

from .errors import APIError, bad_request
from .tool_calls import prepare_messages, read_tool_calls

OnText = Callable[[str], None] | None
Cancelled = Callable[[], bool]


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length" | "tool_calls" | "cancelled"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


FINISH = {"eos": "stop", "stop": "stop", "length": "length", "cancelled": "stop"}


def as_api_error(err: FlowStudioError) -> APIError:
    text = str(err)
    if "reads at most" in text:
        return bad_request(f"This model's maximum context length was exceeded: {text}", param="messages",
                           code="context_length_exceeded")
    return bad_request(text, code=None)


class HFBackend:
    kind = "model"

    def __init__(self, name: str, source: str, flow_dir: Path | None = None, device: str = "cpu",
                 dtype: str = "auto") -> None:
        self.name, self.source, self.flow_dir, self.device, self.dtype = name, source, flow_dir, device, dtype
        self.loaded: Any = None
        self.load_seconds = 0.0

    # ------------------------------------------------------------------------------------------ loading

    def load(self) -> None:
        if self.loaded is not None:
            return
        from flowstudio.nodes.chains.generation import load_model
        from flowstudio.nodes.hf.loading import model_artifact, resolve_model_source

        path = resolve_model_source(self.source, self.flow_dir or Path.cwd())
        self.loaded = load_model(model_artifact(path, source=self.source, dtype=self.dtype), device=self.device)
        self.load_seconds = self.loaded.load_seconds

    @property
    def native_tools(self) -> bool:
        from flowstudio.nodes.chains.generation import supports_native_tools

        return supports_native_tools(self.loaded.tokenizer)

    # --------------------------------------------------------------------------------------- generation

    def _generate(self, prompt: str, sampling: Any, chat: bool, on_text: OnText, cancelled: Cancelled) -> Completion:
        from flowstudio.nodes.chains.generation import generate

        try:
            gen = generate(self.loaded, prompt, sampling, chat=chat, on_text=on_text, cancelled=cancelled)
        except FlowStudioError as err:
            raise as_api_error(err) from None
        return Completion(gen.text, gen.prompt_tokens, gen.new_tokens, FINISH.get(gen.stop_reason, "stop"))

    def chat(self, messages: list[dict[str, Any]], sampling: Any, tools: list[dict[str, Any]],
             on_text: OnText, cancelled: Cancelled) -> Completion:
        from flowstudio.nodes.chains.generation import render_prompt

        native = self.native_tools
        prepared = prepare_messages(messages, tools, native)
        try:
            prompt, chat = render_prompt(self.loaded.tokenizer, prepared, tools=tools if native and tools else None)
        except FlowStudioError as err:
            raise as_api_error(err) from None
        result = self._generate(prompt, sampling, chat, None if tools else on_text, cancelled)
        if tools:
            result.text, result.tool_calls = read_tool_calls(result.text)
            if result.tool_calls:
                result.finish_reason = "tool_calls"
        return result

    def complete(self, prompt: str, sampling: Any, on_text: OnText, cancelled: Cancelled) -> Completion:
        return self._generate(prompt, sampling, False, on_text, cancelled)

    # --------------------------------------------------------------------------------------- embeddings

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Mean-pooled last hidden states (attention-masked), L2-normalised; and the tokens read."""
        import torch

        tok, model = self.loaded.tokenizer, self.loaded.model
        limit = getattr(model.config, "max_position_embeddings", 2048) or 2048
        vectors: list[list[float]] = []
        tokens = 0
        with torch.inference_mode():
            for text in texts:
                enc = tok(text or " ", return_tensors="pt", truncation=True, max_length=int(limit))
                enc = {k: v.to(model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
                out = model(**enc, output_hidden_states=True)
                hidden = out.hidden_states[-1][0].float()
                mask = enc["attention_mask"][0].unsqueeze(-1).float()
                mean = (hidden * mask).sum(0) / mask.sum().clamp(min=1.0)
                vectors.append(torch.nn.functional.normalize(mean, dim=0).tolist())
                tokens += int(enc["input_ids"].shape[1])
        return vectors, tokens


def encode_embedding(vector: list[float], encoding_format: str, dimensions: int | None) -> list[float] | str:
    if dimensions is not None:
        if dimensions > len(vector):
            raise bad_request(f"dimensions must be at most {len(vector)} for this model", param="dimensions")
        vector = vector[:dimensions]
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector
