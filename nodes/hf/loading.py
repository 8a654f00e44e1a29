"""Shared Hugging Face helpers for the training, RL and chain nodes: where models come from and how they load.

Teammates import these; the names and conventions below are stable.

Functions
---------
- `resolve_model_source(source, flow_dir) -> Path`: a model source as typed in a node (`builtin:NAME`, a local
  model directory, a local `.gguf` file, or a hub id already in the local HF cache) to a local path. Built-ins
  are materialised on first use. Never downloads. Raises `NodeRunError` with a hint.
- `builtin_model_dir(name) -> Path` (in `builtin_models`): the directory of a built-in model ("tiny-llama",
  "smollm2-135m-instruct"), created once under `models_dir()`.
- `build_tiny_llama(out_dir) -> Path` (in `builtin_models`): the deterministic tiny Llama (byte-level BPE tokenizer trained on
  `assets/corpus/tiny_corpus.txt`, ChatML template with generation markers). Same bytes every time.
- `load_causal_lm(path, dtype="auto", device="cpu", trust_remote_code=False, merge_adapter=True)`: a model
  directory, a GGUF file, or a LoRA adapter directory (see below) as an `AutoModelForCausalLM`.
- `load_model_artifact(artifact, device="cpu", **kw)`: the same, reading dtype / trust_remote_code from meta.
- `load_tokenizer(path, chat_template=None, trust_remote_code=False)`: the tokenizer of a model/tokenizer
  directory or GGUF file; a pad token is always set (eos when the tokenizer has none).
- `torch_device(ctx) -> str`: "cuda" when the engine gave the node a GPU and torch sees one, else "cpu".
- `torch_dtype(dtype, device)`: "auto" is float32 on CPU and bfloat16 (float32 without bf16 support) on CUDA.
  This is the dtype of weights that are only *used* (inference, frozen references, frozen LoRA bases).
- Precision rule for training: weights that an optimizer steps are always float32 (`TRAINABLE_DTYPE`,
  `fp32_master_weights`); bf16/fp16 is only the *compute* dtype, under autocast. A bf16 weight cannot take
  an update smaller than ~1/256 of itself, so pure-bf16 AdamW at lr 3e-6 leaves most weights unchanged.
- `save_model_dir(model, tokenizer, out_dir)`: safetensors + config + tokenizer files, loadable by transformers.
- `model_artifact(path, **meta)`, `tokenizer_artifact(path)`: build artifacts with the conventional meta.

Artifact conventions
--------------------
- Model = `Artifact("model", dir)`: a HF model directory that also holds its tokenizer files. meta:
  {"source": str, "dtype": "auto"|"float32"|"bfloat16"|"float16", "trust_remote_code": bool,
   "model_type": str, "adapter": bool, "base": str|None}.
  A LoRA adapter is a PEFT adapter directory (`adapter_config.json` + adapter weights + tokenizer files) with
  meta {"adapter": true, "base": <absolute base model dir>}; `adapter_config.json`'s `base_model_name_or_path`
  is that same absolute path, so `load_causal_lm(adapter_dir)` loads the base and applies (by default merges)
  the adapter. `is_adapter_dir(path)` tells them apart.
- Tokenizer = `Artifact("tokenizer", dir)` (a `save_pretrained` tokenizer directory).
- Dataset = `Artifact("dataset", dir)`: a `datasets.save_to_disk` directory, meta {"format": "messages" |
  "prompt_completion" | "text" | "preference" | "qa", "columns": [...], "rows": N}. Columns are already
  renamed to the canonical names of the format (see `flowstudio/nodes/data/formats.py`).
- RewardModel = `Artifact("reward_model", dir)`: an `AutoModelForSequenceClassification` directory (num_labels=1,
  pad_token_id set) with its tokenizer files; always a full model (LoRA is merged before saving).
- LoraSpec = a plain dict {"r", "alpha", "dropout", "target_modules": list[str] | "auto", "bias"}.
- Table = `Artifact("table", file.jsonl)`; Metrics = a plain dict of name -> float.

Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.paths import hf_hub_cache_dir, is_hub_id, resolve_user_path
from flowstudio.core.values import Artifact

from .builtin_models import BUILTIN_MODELS, BUILTIN_PREFIX, builtin_model_dir

if TYPE_CHECKING:
    from flowstudio.core.node import RunContext

GGUF_HINT = "pip install gguf"
DTYPES = ("auto", "float32", "bfloat16", "float16")


# ------------------------------------------------------------------------------------------ sources


def resolve_model_source(source: str, flow_dir: Path | None) -> Path:
    """A model source to a local directory or `.gguf` file; built-ins are created on first use."""
    source = (source or "").strip()
    if not source:
        raise NodeRunError("no model source given", field="source",
                           hint="pick a built-in (builtin:tiny-llama), a local model directory or a .gguf file")
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX):]
        if name not in BUILTIN_MODELS:
            raise NodeRunError(f"unknown built-in model {source!r}", field="source",
                               hint="built-ins: " + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_MODELS))
        return builtin_model_dir(name)
    path = resolve_user_path(source, flow_dir)
    if path.exists():
        if path.is_file() and path.suffix.lower() != ".gguf":
            raise NodeRunError(f"{path} is a file but not a .gguf model", field="source",
                               hint="choose a model directory (with config.json) or a .gguf file")
        if path.is_dir() and not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise NodeRunError(f"{path} is not a model directory (no config.json in it)", field="source",
                               hint="choose the directory that holds config.json and the weights")
        return path
    if is_hub_id(source):
        return _cached_hub_snapshot(source, path)
    raise NodeRunError(f"model path {path} does not exist", field="source",
                       hint="choose an existing local model directory or .gguf file "
                            "(relative paths are relative to the flow file)")


def _cached_hub_snapshot(repo_id: str, local: Path) -> Path:
    from huggingface_hub import snapshot_download

    try:
        # the same cache the engine reads the revision from for the cache key (engine/fingerprint.py)
        return Path(snapshot_download(repo_id, local_files_only=True, cache_dir=hf_hub_cache_dir()))
    except Exception as err:  # LocalEntryNotFoundError and friends
        raise NodeRunError(f"{repo_id!r} is neither a local path ({local} does not exist) nor a model in the "
                           f"local Hugging Face cache, and FlowStudio never downloads ({type(err).__name__})",
                           field="source",
                           hint="download it once with `huggingface-cli download` on a connected machine, "
                                "or point to a local model directory") from None


def is_gguf(path: Path) -> bool:
    return Path(path).is_file() and Path(path).suffix.lower() == ".gguf"


def is_adapter_dir(path: Path) -> bool:
    return (Path(path) / "adapter_config.json").exists()


def require_gguf() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise NodeRunError("reading a GGUF file needs the `gguf` package, which is not installed",
                           field="source", hint=GGUF_HINT) from None


def _check_remote_code(path: Path, trust_remote_code: bool) -> None:
    """Refuse a model directory that ships its own Python code unless the user allowed it for this node."""
    config = Path(path) / "config.json"
    if trust_remote_code or not config.exists():
        return
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if data.get("auto_map"):
        modules = sorted({str(v).split(".")[0] for v in data["auto_map"].values() if isinstance(v, str)})
        raise NodeRunError(
            f"{path} needs to run Python code shipped with the model ({', '.join(modules) or 'auto_map'}); "
            "remote code is off for this node", field="trust_remote_code",
            hint="read that code first; if you trust it, turn on trust_remote_code on this model.load node")


# ------------------------------------------------------------------------------------------ loading


def torch_device(ctx: RunContext | None) -> str:
    """"cuda" when the engine gave this node a GPU and torch sees one, else "cpu"."""
    import torch

    wanted = getattr(ctx, "device", "cpu") if ctx is not None else "cpu"
    if str(wanted).startswith("cuda") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def torch_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype not in DTYPES:
        raise NodeRunError(f"unknown dtype {dtype!r}", field="dtype", hint="one of: " + ", ".join(DTYPES))
    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, dtype)


TRAINABLE_DTYPE = "float32"


def fp32_master_weights(model: Any) -> int:
    """Make every trainable parameter float32 in place (frozen ones keep their dtype); returns how many
    were cast. Called on every model an optimizer will step, whatever dtype it was loaded in."""
    import torch

    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
            cast += 1
    return cast


def autocast_dtype(precision: str, device: str) -> Any:
    """The autocast compute dtype for a training precision ("auto" | "fp32" | "bf16"), or None for fp32.
    auto: bf16 on a CUDA device that supports it, fp32 otherwise (CPU)."""
    import torch

    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def load_config(path: Path, trust_remote_code: bool = False) -> Any:
    """The model config of a directory or GGUF file (refuses remote code unless allowed)."""
    from transformers import AutoConfig

    path = Path(path)
    if is_gguf(path):
        require_gguf()
        return AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
    _check_remote_code(path, trust_remote_code)
    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except ValueError as err:
        if "trust_remote_code" in str(err):
            raise NodeRunError(f"{path} needs remote code: {err}", field="trust_remote_code",
                               hint="turn on trust_remote_code on this model.load node if you trust the code") from None
        raise NodeRunError(f"cannot read the model config in {path}: {err}", field="source") from None


def load_causal_lm(path: Path | str, dtype: str = "auto", device: str = "cpu", trust_remote_code: bool = False,
                   merge_adapter: bool = True, allow_pickle_weights: bool = False) -> Any:
    """An `AutoModelForCausalLM` from a model directory, a GGUF file or a LoRA adapter directory.

    device: "cpu", "cuda" or "auto" (accelerate's device map). For an adapter directory the base model is
    loaded from `adapter_config.json` and the adapter applied; merged unless `merge_adapter=False` (then a
    trainable `PeftModel`).
    """
    from transformers import AutoModelForCausalLM

    path = Path(path)
    if is_adapter_dir(path):
        from peft import PeftModel

        base_path = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
        base = load_causal_lm(base_path, dtype, device, trust_remote_code,
                              allow_pickle_weights=allow_pickle_weights)
        model = PeftModel.from_pretrained(base, str(path), is_trainable=not merge_adapter)
        if not merge_adapter:
            return model
        # PeftModel loaded for inference froze the base; once merged, the model must behave like any loaded
        # model (all weights trainable), or a full fine-tune / GRPO on it has nothing to train.
        return model.merge_and_unload().requires_grad_(True)
    torch_dt = torch_dtype(dtype, device if device != "auto" else "cuda")
    kwargs: dict[str, Any] = {"dtype": torch_dt}
    if device == "auto":
        kwargs["device_map"] = "auto"
    if is_gguf(path):
        require_gguf()
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, **kwargs)
    else:
        _check_remote_code(path, trust_remote_code)
        require_safe_weights(path, allow_pickle_weights)
        model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code,
                                                     use_safetensors=_has_safetensors(path), **kwargs)
    if device != "auto":
        model.to(device)
    return model


def _has_safetensors(path: Path) -> bool:
    return any(Path(path).glob("*.safetensors"))


PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")
PICKLE_HINT = ("convert the weights to safetensors (`model.save_pretrained(dir, safe_serialization=True)` in a "
               "trusted environment), or turn on allow_pickle_weights on model.load if you trust this model")


def require_safe_weights(path: Path | str, allow_pickle: bool = False, field: str = "source") -> None:
    """Refuse a model directory whose weights exist only as pickle files (`.bin`, `.pt`): reading a pickle
    can run code. Safetensors are always preferred when both are there."""
    path = Path(path)
    if not path.is_dir() or allow_pickle or _has_safetensors(path):
        return
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in path.glob(pattern))
    if pickles:
        raise NodeRunError(f"{path} holds its weights only as pickle files ({', '.join(pickles[:3])}), which can "
                           "run code when they are read", field="allow_pickle_weights" if field == "source" else field,
                           hint=PICKLE_HINT)


def load_model_artifact(artifact: Artifact, device: str = "cpu", **kwargs: Any) -> Any:
    """`load_causal_lm` for a Model artifact, honouring its meta (dtype, trust_remote_code)."""
    meta = artifact.meta or {}
    kwargs.setdefault("dtype", meta.get("dtype", "auto"))
    kwargs.setdefault("trust_remote_code", bool(meta.get("trust_remote_code", False)))
    kwargs.setdefault("allow_pickle_weights", bool(meta.get("allow_pickle_weights", False)))
    return load_causal_lm(artifact.path, device=device, **kwargs)


def load_tokenizer(path: Path | str, chat_template: str | None = None, trust_remote_code: bool = False) -> Any:
    """The tokenizer of a model/tokenizer directory or GGUF file, with a pad token and an optional template."""
    from transformers import AutoTokenizer

    path = Path(path)
    if is_gguf(path):
        require_gguf()
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    else:
        if (path / "config.json").exists():
            _check_remote_code(path, trust_remote_code)
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if chat_template:
        tok.chat_template = chat_template
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def save_model_dir(model: Any, tokenizer: Any, out_dir: Path | str) -> Path:
    """Save weights (safetensors), config and tokenizer files so `from_pretrained(out_dir)` loads them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    return out


# ---------------------------------------------------------------------------------------- artifacts


def model_artifact(path: Path | str, *, source: str = "", dtype: str = "auto", trust_remote_code: bool = False,
                   base: str | None = None, **extra: Any) -> Artifact:
    """A Model artifact with the conventional meta (`adapter`/`base` filled in for adapter directories)."""
    path = Path(path).resolve()
    adapter = is_adapter_dir(path)
    if adapter and base is None:
        base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
    model_type = ""
    cfg = path / "config.json"
    if cfg.exists():
        model_type = json.loads(cfg.read_text(encoding="utf-8")).get("model_type", "")
    elif adapter and base and (Path(base) / "config.json").exists():
        model_type = json.loads((Path(base) / "config.json").read_text(encoding="utf-8")).get("model_type", "")
    meta = {"source": source or str(path), "dtype": dtype, "trust_remote_code": trust_remote_code,
            "model_type": model_type, "adapter": adapter, "base": base}
    meta.update(extra)
    return Artifact("model", str(path), meta)


def tokenizer_artifact(path: Path | str, **meta: Any) -> Artifact:
    return Artifact("tokenizer", str(Path(path).resolve()), dict(meta))


def artifact_path(value: Any, what: str, field: str) -> Path:
    """The path of an input artifact (or a plain path string), with a clear error when it is missing."""
    if isinstance(value, Artifact):
        path = value.as_path
    elif isinstance(value, str | os.PathLike):
        path = Path(value)
    else:
        raise NodeRunError(f"input {field!r} is not a {what} (got {type(value).__name__})", field=field,
                           hint=f"connect the {what} output of another node")
    if not path.exists():
        raise NodeRunError(f"the {what} at {path} no longer exists", field=field,
                           hint="re-run the node that produced it (clear the cache entry if needed)")
    return path
