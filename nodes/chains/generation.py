"""Local text generation shared by `chain.generate` and `agent.tools`: warm models, chat prompts, streaming.

Models are loaded through `flowstudio.core.warm.get_or_load`, keyed by path, a fingerprint of the
weight files, dtype and device, so a long-lived worker serves the second run of a chain without
reloading. Tokens stream through `on_text` as they come; stop strings end generation as soon as they
appear and are never streamed (text that could be the start of one is held back until it is not).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.values import Artifact

Message = dict[str, Any]


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    first_token_s: float  # from the call to the first generated token
    seconds: float
    stop_reason: str  # "eos", "stop", "length" or "cancelled"

    @property
    def tokens_per_s(self) -> float:
        decode = self.seconds - self.first_token_s
        return (self.new_tokens - 1) / decode if self.new_tokens > 1 and decode > 0 else 0.0


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    path: str
    device: str
    load_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


# -------------------------------------------------------------------------------------------- loading


def _fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and mtimes of the files that define a model, so a retrained dir is not served stale."""
    if path.is_file():
        files = [path]
    else:
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in {".json", ".safetensors", ".bin",
                                                                                  ".gguf", ".model", ".jinja"})
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)


def model_path(value: Any, field_name: str = "model") -> tuple[Path, dict[str, Any]]:
    from flowstudio.nodes.hf.loading import artifact_path

    path = artifact_path(value, "model", field_name)
    meta = dict(value.meta) if isinstance(value, Artifact) else {}
    return path, meta


def warm_key(path: Path, dtype: str, device: str) -> tuple[Any, ...]:
    return ("chain.causal_lm", str(path.resolve()), _fingerprint(path), dtype, device)


def load_model(value: Any, device: str = "cpu", dtype: str | None = None, field_name: str = "model",
               on_load: Callable[[], None] | None = None) -> LoadedModel:
    """The model and tokenizer of a Model input, loaded once per worker process and kept warm.

    `on_load` is called when the model is actually loaded (not found warm)."""
    from flowstudio.core.warm import get_or_load

    path, meta = model_path(value, field_name)
    dtype = dtype or meta.get("dtype", "auto")

    def loader() -> LoadedModel:
        from flowstudio.nodes.hf.loading import load_causal_lm, load_tokenizer

        if on_load is not None:
            on_load()
        started = time.perf_counter()
        trust = bool(meta.get("trust_remote_code", False))
        model = load_causal_lm(path, dtype=dtype, device=device, trust_remote_code=trust)
        model.eval()
        tokenizer = load_tokenizer(path, trust_remote_code=trust)
        return LoadedModel(model, tokenizer, str(path), device, time.perf_counter() - started, meta)

    return get_or_load(warm_key(path, dtype, device), loader)


# --------------------------------------------------------------------------------------------- prompts


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def supports_native_tools(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders a `tools` list (Qwen, Llama 3.1+, Hermes, ...)."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("tool_use") or template.get("default") or ""
    return bool(template) and "tools" in str(template)


def as_messages(prompt: Any) -> list[Message] | None:
    """A Messages value as a list of {role, content}, or None when `prompt` is plain text."""
    if isinstance(prompt, str):
        return None
    if isinstance(prompt, dict) and "role" in prompt:
        prompt = [prompt]
    if isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
        return [dict(m) for m in prompt]
    raise NodeRunError(f"the prompt must be text or a list of {{role, content}} messages, got {type(prompt).__name__}",
                       field="prompt", hint="connect a chain.prompt output (text or messages) or an io.text node")


def plain_chat(messages: Sequence[Message]) -> str:
    """A readable transcript for models without a chat template."""
    lines = [f"{m['role'].capitalize()}: {m.get('content') or ''}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


def render_prompt(tokenizer: Any, prompt: Any, *, use_chat_template: bool = True,
                  tools: list[dict[str, Any]] | None = None) -> tuple[str, bool]:
    """The prompt text to feed the model and whether it came from the chat template.

    Text goes through the chat template as one user message (when there is a template and
    `use_chat_template`); messages always do, falling back to a plain transcript without a template.
    """
    messages = as_messages(prompt)
    if messages is None:
        if not (use_chat_template and has_chat_template(tokenizer)):
            return str(prompt), False
        messages = [{"role": "user", "content": str(prompt)}]
    if not has_chat_template(tokenizer):
        return plain_chat(messages), False
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": True}
    if tools:
        kwargs["tools"] = tools
    try:
        return tokenizer.apply_chat_template(messages, **kwargs), True
    except Exception as err:  # a template that rejects these roles or fields (jinja raises its own types)
        raise NodeRunError(f"the model's chat template could not render these messages: {err}", field="prompt",
                           hint="check the roles (system, user, assistant, tool) or turn off use_chat_template") from None


# ------------------------------------------------------------------------------------------ generation


class _Streamer:
    """A transformers streamer: decodes new tokens, holds back possible stop-string prefixes, stops at one."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], on_text: Callable[[str], None] | None,
                 started: float) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.on_text = on_text
        self.started = started
        self.prompt_seen = False
        self.ids: list[int] = []
        self.text = ""
        self.emitted = 0
        self.first_token_at: float | None = None
        self.stopped = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        if self.stopped:
            return
        self.ids.extend(int(t) for t in value.reshape(-1).tolist())
        self.text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        for s in self.stop:
            at = self.text.find(s, max(0, self.emitted - len(s)))
            if at >= 0:
                self.text = self.text[:at]
                self.stopped = True
        safe = len(self.text) if self.stopped else len(self.text) - self.hold
        while safe > self.emitted and self.text[safe - 1] == "\ufffd":  # an incomplete UTF-8 sequence
            safe -= 1
        self._emit(safe)

    def end(self) -> None:
        self._emit(len(self.text))

    def _emit(self, upto: int) -> None:
        if upto > self.emitted:
            chunk = self.text[self.emitted:upto]
            self.emitted = upto
            if self.on_text is not None:
                self.on_text(chunk)


def generation_kwargs(loaded: LoadedModel, sampling: Sampling) -> dict[str, Any]:
    """The keyword arguments for `model.generate` (the same ones the benchmark gives plain transformers)."""
    tok = loaded.tokenizer
    kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "do_sample": not sampling.greedy,
                              "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id}
    if sampling.greedy:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or None)
    if sampling.repetition_penalty != 1.0:
        kwargs["repetition_penalty"] = sampling.repetition_penalty
    special = _special_stop_ids(tok, sampling.stop)
    if special:  # special tokens never reach the decoded text, so stop on their ids instead
        eos = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
        eos = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        kwargs["eos_token_id"] = eos + [i for i in special if i not in eos]
    return kwargs


def _special_stop_ids(tok: Any, stop: Sequence[str]) -> list[int]:
    specials = set(getattr(tok, "all_special_tokens", []) or []) | set(getattr(tok, "get_added_vocab", dict)())
    ids = []
    for s in stop:
        if s in specials:
            token_id = tok.convert_tokens_to_ids(s)
            if isinstance(token_id, int) and token_id >= 0:
                ids.append(token_id)
    return ids


def generate(loaded: LoadedModel, prompt_text: str, sampling: Sampling, *, chat: bool = True,
             on_text: Callable[[str], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> Generation:
    """Generate a continuation of `prompt_text`; `on_text` gets the new text piece by piece."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    started = time.perf_counter()
    tok, model = loaded.tokenizer, loaded.model
    encoded = tok(prompt_text, return_tensors="pt", add_special_tokens=not chat)
    input_ids = encoded["input_ids"].to(model.device)
    attention = encoded["attention_mask"].to(model.device)
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    max_new = sampling.max_new_tokens
    if isinstance(limit, int) and limit > 0:
        room = limit - int(input_ids.shape[1])
        if room <= 0:
            raise NodeRunError(f"the prompt is {input_ids.shape[1]} tokens, but the model reads at most {limit}",
                               field="prompt", hint="shorten the prompt (or the conversation), or use a model "
                                                    "with a longer context")
        max_new = min(max_new, room)
    streamer = _Streamer(tok, sampling.stop, on_text, started)
    was_cancelled = [False]

    class _Stop(StoppingCriteria):
        def __call__(self, ids: Any, scores: Any, **kw: Any) -> Any:
            if cancelled is not None and cancelled():
                was_cancelled[0] = True
            done = streamer.stopped or was_cancelled[0]
            return torch.full((ids.shape[0],), done, dtype=torch.bool, device=ids.device)

    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    with torch.inference_mode():
        output = model.generate(input_ids=input_ids, attention_mask=attention, streamer=streamer,
                                stopping_criteria=StoppingCriteriaList([_Stop()]),
                                **{**generation_kwargs(loaded, sampling), "max_new_tokens": max_new})
    streamer.end()
    finished = time.perf_counter()
    new_ids = output[0, input_ids.shape[1]:].tolist()
    if was_cancelled[0]:
        reason = "cancelled"
    elif streamer.stopped:
        reason = "stop"
    elif len(new_ids) >= max_new:
        reason = "length"
    else:
        reason = "eos"
    first = (streamer.first_token_at or finished) - started
    return Generation(streamer.text, int(input_ids.shape[1]), len(new_ids), first, finished - started, reason)


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
