"""Tokenizer nodes: load one alone (model directory, GGUF file, built-in), or train a byte-level BPE one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowstudio.nodes.hf.bpe import CHATML_TEMPLATE, DEFAULT_SPECIAL_TOKENS
from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import ModelSourceField, Node, NodeParams, Port, Ports, Resources, TextField
from flowstudio.core.ports import Dataset, Tokenizer
from flowstudio.core.problems import Problem


class LoadTokenizer(Node):
    type = "tokenizer.load"
    resources = Resources(isolated=True)  # flow data can make it slow or big: keep it killable
    title = "Load tokenizer"
    category = "Model"
    icon = "mdi6.alphabetical-variant"
    description = ("A tokenizer alone, from a built-in, a model or tokenizer directory, a GGUF file, or a hub id in "
                   "the local cache; optionally with another chat template.")

    class Outputs(Ports):
        tokenizer = Port(Tokenizer, "The tokenizer")

    class Params(NodeParams):
        source: str = ModelSourceField("builtin:smollm2-135m-instruct", "builtin:NAME, a model/tokenizer "
                                       "directory, a .gguf file, or a cached hub id")
        chat_template: str = TextField("", "A Jinja chat template replacing the tokenizer's own (empty: keep)",
                                       code=True)
        trust_remote_code: bool = Field(False, description="Run Python code shipped with the tokenizer (needs "
                                        "consent: --allow-code)")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        from .model import source_problems

        assert isinstance(params, cls.Params)
        return source_problems(params.source, flow_dir)

    @classmethod
    def code_risk(cls, params: Mapping[str, Any]) -> str | None:
        from .model import model_code_risk

        return model_code_risk(params)

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import (
            is_gguf,
            load_tokenizer,
            resolve_model_source,
            tokenizer_artifact,
        )

        from flowstudio.core.paths import BUILTIN_PREFIX

        path = _tokenizer_source(params.source, ctx.flow_dir) if not params.source.startswith(BUILTIN_PREFIX) \
            else resolve_model_source(params.source, ctx.flow_dir)
        try:
            tok = load_tokenizer(path, params.chat_template or None, params.trust_remote_code)
        except (OSError, ValueError, TypeError) as err:
            raise NodeRunError(f"no usable tokenizer at {path}: {err}", field="source",
                               hint="choose a directory with tokenizer.json / tokenizer_config.json") from None
        if params.chat_template or is_gguf(path):
            path = Path(ctx.work_dir) / "tokenizer"
            tok.save_pretrained(path)
        ctx.log(f"{type(tok).__name__} with {len(tok)} tokens")
        return {"tokenizer": tokenizer_artifact(path, source=params.source)}


def _tokenizer_source(source: str, flow_dir: Path | None) -> Path:
    """Like resolve_model_source, but a directory with only tokenizer files is fine too."""
    from flowstudio.nodes.hf.loading import resolve_model_source

    from flowstudio.core.paths import resolve_user_path

    path = resolve_user_path(source.strip(), flow_dir)
    if path.is_dir() and any(path.glob("tokenizer*.json")):
        return path
    return resolve_model_source(source, flow_dir)


class TrainTokenizer(Node):
    type = "tokenizer.train"
    resources = Resources(isolated=True)  # flow data can make it slow or big: keep it killable
    title = "Train tokenizer"
    category = "Model"
    icon = "mdi6.alphabetical"
    description = ("Train a byte-level BPE tokenizer on a dataset's text (every string round-trips), with special "
                   "tokens and a chat template. builtin:tiny-llama's tokenizer is made the same way.")

    class Inputs(Ports):
        dataset = Port(Dataset, "Text to learn the vocabulary from (any format: all its text is used)")

    class Outputs(Ports):
        tokenizer = Port(Tokenizer, "The trained tokenizer")

    class Params(NodeParams):
        vocab_size: int = Field(1024, ge=260, le=262144, description="Vocabulary size, including the 256 bytes "
                                "and the special tokens")
        min_frequency: int = Field(2, ge=1, description="A pair must occur this often to be merged")
        special_tokens: str = Field(", ".join(DEFAULT_SPECIAL_TOKENS), description="Comma-separated special tokens")
        eos_token: str = Field("<|im_end|>", description="End-of-sequence token (added to the special tokens)")
        bos_token: str = Field("<|im_start|>", description="Beginning-of-sequence token (empty: none)")
        pad_token: str = Field("<|pad|>", description="Padding token")
        chat_template: str = TextField(CHATML_TEMPLATE, "Jinja chat template; keep the {% generation %} markers "
                                       "around assistant turns for assistant-only training loss", code=True)

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.data.storage import load_dataset_artifact
        from flowstudio.nodes.hf.bpe import train_bpe_tokenizer
        from flowstudio.nodes.hf.loading import tokenizer_artifact

        ds, fmt = load_dataset_artifact(inputs.dataset, ctx=ctx)
        specials = [t.strip() for t in params.special_tokens.split(",") if t.strip()]
        texts = list(_all_text(ds))
        if not texts:
            raise NodeRunError("the dataset holds no text", field="dataset")
        ctx.progress(0, 1, f"training on {len(texts)} texts")
        tok = train_bpe_tokenizer(texts, params.vocab_size, specials, params.chat_template or None,
                                  params.min_frequency, params.eos_token, params.bos_token or None,
                                  params.pad_token)
        out = Path(ctx.work_dir) / "tokenizer"
        tok.save_pretrained(out)
        ctx.progress(1, 1)
        ctx.metric("vocab_size", len(tok))
        return {"tokenizer": tokenizer_artifact(out, trained_on=fmt)}


def _all_text(ds: Any) -> Any:
    """Every string in every row (chat message contents included)."""
    def walk(value: Any) -> Any:
        if isinstance(value, str):
            if value.strip():
                yield value
        elif isinstance(value, dict):
            yield from walk(value.get("content", "")) if "content" in value else (
                s for v in value.values() for s in walk(v))
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    for row in ds:
        yield from walk(list(row.values()))
