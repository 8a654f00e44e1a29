"""Model nodes: load a model (built-in, local directory, GGUF file, cached hub id), merge a LoRA adapter, save."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from flowstudio.nodes.hf.builtin_models import BUILTIN_MODELS, BUILTIN_PREFIX
from flowstudio.nodes.hf.loading import DTYPES
from flowstudio.nodes.models.save_target import MARKER, source_paths, target_refusal, write_model_dir
from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import (
    ModelSourceField,
    Node,
    NodeParams,
    PathField,
    Port,
    Ports,
    Resources,
    TextField,
)
from flowstudio.core.paths import is_hub_id, models_dir, resolve_user_path
from flowstudio.core.ports import Model, Tokenizer
from flowstudio.core.problems import Problem

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


class LoadModel(Node):
    type = "model.load"
    title = "Load model"
    category = "Model"
    icon = "mdi6.brain"
    description = ("A causal language model and its tokenizer from a built-in (builtin:tiny-llama, "
                   "builtin:smollm2-135m-instruct), a local model directory, a local GGUF file, or a model id "
                   "already in the local Hugging Face cache. Never downloads.")
    resources = Resources(worker=True, memory_gb=1.0)

    class Outputs(Ports):
        model = Port(Model, "The model (a directory with weights and tokenizer files)")
        tokenizer = Port(Tokenizer, "Its tokenizer")

    class Params(NodeParams):
        source: str = ModelSourceField("builtin:smollm2-135m-instruct",
                                       "builtin:tiny-llama, builtin:smollm2-135m-instruct, a model directory, "
                                       "a .gguf file, or a hub id in the local cache")
        dtype: Dtype = Field("auto", description="Weight dtype when loaded: auto = float32 on CPU, bfloat16 on "
                             "GPUs that support it")
        device_map: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where inference nodes place "
                                                           "the model (training nodes use the engine's device)")
        trust_remote_code: bool = Field(False, description="Run Python code shipped with the model (only for "
                                        "models you trust; needs consent: --allow-code)")
        allow_pickle_weights: bool = Field(False, description="Read weights stored as pickle files (.bin/.pt), "
                                           "which can run code (only for models you trust; needs consent: "
                                           "--allow-code). Safetensors need nothing")
        chat_template: str = TextField("", "A Jinja chat template replacing the tokenizer's own (empty: keep)",
                                       code=True)

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, cls.Params)
        return source_problems(params.source, flow_dir)

    @classmethod
    def code_risk(cls, params: Mapping[str, Any]) -> str | None:
        return model_code_risk(params)

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import (
            load_config,
            load_tokenizer,
            model_artifact,
            require_safe_weights,
            resolve_model_source,
            tokenizer_artifact,
        )

        ctx.progress(0, 3, "resolving source")
        path = resolve_model_source(params.source, ctx.flow_dir)
        if path.is_file():
            ctx.progress(1, 3, "converting GGUF")
            path = gguf_model_dir(path, ctx)
        config = load_config(path, params.trust_remote_code)
        if not any(any(path.glob(p)) for p in WEIGHT_PATTERNS) and not (path / "adapter_config.json").exists():
            raise NodeRunError(f"{path} has a config but no weights (*.safetensors or *.bin)", field="source",
                               hint="choose a complete model directory")
        require_safe_weights(path, params.allow_pickle_weights)
        ctx.progress(2, 3, "loading tokenizer")
        try:
            tokenizer = load_tokenizer(path, params.chat_template or None, params.trust_remote_code)
        except (OSError, ValueError, TypeError) as err:
            raise NodeRunError(f"{path} has no usable tokenizer: {err}", field="source",
                               hint="a model directory must hold its tokenizer files; copy them in or use "
                                    "tokenizer.load / tokenizer.train") from None
        if params.chat_template:
            path = _with_tokenizer(path, tokenizer, Path(ctx.work_dir) / "model")
        meta = {"source": params.source, "dtype": params.dtype, "trust_remote_code": params.trust_remote_code,
                "device_map": params.device_map, "allow_pickle_weights": params.allow_pickle_weights}
        ctx.log(f"{getattr(config, 'model_type', '?')} model at {path}")
        ctx.progress(3, 3)
        return {"model": model_artifact(path, **meta), "tokenizer": tokenizer_artifact(path)}


def model_code_risk(params: Mapping[str, Any]) -> str | None:
    """The consent reason of a model/tokenizer loader: code shipped with the model, or pickle weights."""
    reasons = []
    if params.get("trust_remote_code") is True:
        reasons.append("runs Python code shipped with the model (trust_remote_code)")
    if params.get("allow_pickle_weights") is True:
        reasons.append("reads pickle weight files, which can run code (allow_pickle_weights)")
    return " and ".join(reasons) or None


def source_problems(source: str, flow_dir: Path | None, field: str = "source") -> list[Problem]:
    """Pre-run checks of a model source: unknown built-in, missing local path."""
    source = source.strip()
    if not source:
        return [Problem("missing_param", "no model source given", field=field,
                        hint="pick builtin:tiny-llama, a model directory or a .gguf file")]
    if source.startswith(BUILTIN_PREFIX):
        if source[len(BUILTIN_PREFIX):] not in BUILTIN_MODELS:
            return [Problem("bad_source", f"unknown built-in model {source!r}", field=field,
                            hint="built-ins: " + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_MODELS))]
        return []
    path = resolve_user_path(source, flow_dir)
    hub_id = is_hub_id(source)
    if not path.exists() and not hub_id:
        return [Problem("missing_path", f"{path} does not exist", field=field,
                        hint="choose an existing model directory or .gguf file "
                             "(relative paths are relative to the flow file)")]
    return []


def gguf_model_dir(gguf_file: Path, ctx: Any) -> Path:
    """A GGUF file dequantized to a safetensors directory, cached by the file's path, size and mtime."""
    from flowstudio.nodes.hf.builtin_models import convert_gguf, materialise
    from flowstudio.nodes.hf.loading import require_gguf

    require_gguf()
    stat = gguf_file.stat()
    key = hashlib.sha256(f"{gguf_file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = models_dir() / "gguf" / f"{gguf_file.stem}-{key}"
    if not (target / "config.json").exists():
        ctx.log(f"dequantizing {gguf_file.name} (once; cached in {target})")
    return materialise(target, lambda out: convert_gguf(gguf_file, out))


def _with_tokenizer(src: Path, tokenizer: Any, out: Path) -> Path:
    """A model directory beside `src` with the same weights (linked) and a different tokenizer."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for item in src.iterdir():
        if item.is_file() and item.name != MARKER and not item.name.startswith((
                "tokenizer", "special_tokens", "chat_template", "vocab", "merges", "added_tokens")):
            try:
                os.symlink(item.resolve(), out / item.name)
            except OSError:
                shutil.copy2(item, out / item.name)
    tokenizer.save_pretrained(out)
    return out


class MergeLora(Node):
    type = "model.merge_lora"
    title = "Merge LoRA"
    category = "Model"
    icon = "mdi6.merge"
    description = "Fold a LoRA adapter into its base model: a full model directory (a full model passes through)."
    resources = Resources(worker=True, memory_gb=1.0)

    class Inputs(Ports):
        model = Port(Model, "A model trained with LoRA (an adapter)")

    class Outputs(Ports):
        model = Port(Model, "The merged model")

    class Params(NodeParams):
        dtype: Dtype = Field("auto", description="dtype of the merged weights")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import (
            artifact_path,
            is_adapter_dir,
            load_causal_lm,
            load_tokenizer,
            model_artifact,
            save_model_dir,
        )

        path = artifact_path(inputs.model, "model", "model")
        meta = dict(inputs.model.meta or {})
        if not is_adapter_dir(path):
            ctx.log("the model is not a LoRA adapter: nothing to merge")
            return {"model": inputs.model}
        ctx.progress(0, 2, "merging LoRA")
        model = load_causal_lm(path, params.dtype, "cpu", bool(meta.get("trust_remote_code")), merge_adapter=True)
        ctx.progress(1, 2, "saving")
        out = save_model_dir(model, load_tokenizer(path), Path(ctx.work_dir) / "merged")
        ctx.progress(2, 2, "saved")
        return {"model": model_artifact(out, source=meta.get("source", ""), dtype=params.dtype,
                                        trust_remote_code=bool(meta.get("trust_remote_code")))}


class SaveModel(Node):
    type = "model.save"
    title = "Save model"
    category = "Model"
    icon = "mdi6.content-save"
    description = ("Write a model to a directory of your choice as safetensors + config + tokenizer, loadable "
                   "with `AutoModelForCausalLM.from_pretrained(dir)` alone (LoRA adapters are merged).")
    resources = Resources(worker=True, memory_gb=1.0)
    cacheable = False

    class Inputs(Ports):
        model = Port(Model, "The model to save")

    class Outputs(Ports):
        model = Port(Model, "The saved model")

    class Params(NodeParams):
        path: str = PathField("", "Directory to write (created)", kind="dir", must_exist=False)
        merge_adapter: bool = Field(True, description="Merge a LoRA adapter into the base (off: save the "
                                    "adapter only, which needs peft to load)")
        dtype: Literal["keep", "float32", "bfloat16", "float16"] = Field("keep", description="dtype of the saved "
                                                                          "weights")
        overwrite: bool = Field(False, description="Replace an existing non-empty directory")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, cls.Params)
        if not params.path.strip():
            return [Problem("missing_param", "no directory to save to", field="path",
                            hint="choose where the model should be written")]
        base = flow_dir if flow_dir is not None else Path.cwd()  # the engine's flow_dir when unsaved
        refusal = target_refusal(resolve_user_path(params.path, base), base, params.overwrite)
        if refusal is None:
            return []
        code = "save_exists" if refusal.kind == "exists" else "unsafe_save_target"
        return [Problem(code, refusal.message, field=refusal.field, hint=refusal.hint,
                        severity="warning" if refusal.kind == "exists" else "error")]

    @classmethod
    def overwrites(cls, params: Mapping[str, Any], flow_dir: Path | None) -> list[str]:
        path = params.get("path")
        if params.get("overwrite") is not True or not isinstance(path, str) or not path.strip():
            return []
        out = resolve_user_path(path, flow_dir if flow_dir is not None else Path.cwd())
        try:
            return [f"{out} (a model saved there before)"] if out.is_dir() and any(out.iterdir()) else []
        except OSError:
            return []  # unreadable: validation has said so, and model.save refuses it

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import (
            artifact_path,
            is_adapter_dir,
            load_causal_lm,
            load_tokenizer,
            model_artifact,
            save_model_dir,
        )

        if not params.path.strip():
            raise NodeRunError("no directory to save to", field="path", hint="choose where to write the model")
        src = artifact_path(inputs.model, "model", "model")
        out = resolve_user_path(params.path, ctx.flow_dir)
        meta = dict(inputs.model.meta or {})
        sources = source_paths(src, meta.get("base"))
        refusal = target_refusal(out, Path(ctx.flow_dir), params.overwrite, sources)
        if refusal is not None:
            raise NodeRunError(refusal.message, field=refusal.field, hint=refusal.hint)
        trust = bool(meta.get("trust_remote_code"))

        def build(tmp: Path) -> None:
            if is_adapter_dir(src) and not params.merge_adapter:
                shutil.copytree(src, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MARKER),
                                copy_function=shutil.copyfile)  # not the cache's read-only modes
            else:
                dtype = _declared_dtype(src) if params.dtype == "keep" else params.dtype
                ctx.progress(0, 2, "loading" if not is_adapter_dir(src) else "merging LoRA")
                model = load_causal_lm(src, dtype, "cpu", trust)
                ctx.progress(1, 2, f"writing {dtype}")
                save_model_dir(model, load_tokenizer(src, trust_remote_code=trust), tmp)
                ctx.progress(2, 2, "saved")

        replaced = out.exists() and any(out.iterdir())
        out = write_model_dir(out, build, node_id=ctx.node_id, source=str(meta.get("source", "")),
                              flow_dir=Path(ctx.flow_dir), overwrite=params.overwrite, sources=sources)
        ctx.log(f"saved to {out}" + (" (replacing the model saved there before)" if replaced else ""))
        return {"model": model_artifact(out, source=meta.get("source", ""), dtype=meta.get("dtype", "auto"),
                                        trust_remote_code=trust)}


def _declared_dtype(path: Path) -> str:
    """The dtype a model directory declares in config.json (its base's, for an adapter); float32 if none."""
    import json

    config = path / "config.json"
    if not config.exists() and (path / "adapter_config.json").exists():
        base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
        config = Path(base) / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "float32"
    value = str(data.get("dtype") or data.get("torch_dtype") or "float32")
    return value if value in DTYPES and value != "auto" else "float32"


__all__ = ["DTYPES", "LoadModel", "MergeLora", "SaveModel"]
