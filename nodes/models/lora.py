"""LoRA settings as a node, and the per-architecture choice of which layers get adapters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports
from flowstudio.core.ports import LoraSpec

# Attention and MLP projections per model_type ("auto" targets). Unknown types fall back to peft's own table.
DEFAULT_TARGETS: dict[str, list[str]] = {
    **{t: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
       for t in ("llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen2_moe", "gemma", "gemma2", "gemma3_text",
                 "smollm3", "olmo", "olmo2", "granite", "cohere")},
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "bloom": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "falcon": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gptj": ["q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"],
    "starcoder2": ["q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"],
}


class LoraSettings(Node):
    type = "model.lora"
    title = "LoRA"
    category = "Model"
    icon = "mdi6.tune-vertical"
    description = ("Settings for a LoRA adapter: connect to a training node to train a small adapter instead of "
                   "the whole model. `auto` targets the attention and MLP projections of the architecture.")

    class Outputs(Ports):
        lora = Port(LoraSpec, "LoRA settings")

    class Params(NodeParams):
        r: int = Field(8, ge=1, le=1024, description="Rank of the adapter matrices")
        alpha: float = Field(16.0, gt=0, description="Scaling (alpha / r multiplies the update)")
        dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapter input")
        target_modules: str = Field("auto", description="`auto`, `all-linear`, or comma-separated module names "
                                    "(e.g. q_proj, v_proj)")
        bias: Literal["none", "all", "lora_only"] = Field("none", description="Which biases to train")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        targets: str | list[str] = params.target_modules.strip() or "auto"
        if targets not in ("auto", "all-linear"):
            targets = [t.strip() for t in str(targets).split(",") if t.strip()]
        return {"lora": {"r": params.r, "alpha": params.alpha, "dropout": params.dropout,
                         "target_modules": targets, "bias": params.bias}}


def default_targets(model_type: str) -> list[str]:
    """The `auto` LoRA targets of an architecture; a NodeRunError when there is no default."""
    if model_type in DEFAULT_TARGETS:
        return list(DEFAULT_TARGETS[model_type])
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TABLE
    except ImportError:  # pragma: no cover - older peft
        PEFT_TABLE = {}
    if model_type in PEFT_TABLE:
        return list(PEFT_TABLE[model_type])
    raise NodeRunError(f"LoRA has no default target modules for the architecture {model_type!r}",
                       field="target_modules",
                       hint="set target_modules on the model.lora node to the model's linear layer names "
                            "(e.g. q_proj, v_proj), or `all-linear`")


def peft_config(spec: dict[str, Any], model: Any, task_type: str = "CAUSAL_LM") -> Any:
    """A `peft.LoraConfig` for `model` from a LoraSpec dict, with targets checked against the model."""
    from peft import LoraConfig

    if not isinstance(spec, dict) or "r" not in spec:
        raise NodeRunError("the lora input is not a LoRA spec", field="lora", hint="connect a model.lora node")
    targets = spec.get("target_modules", "auto")
    if targets == "auto":
        targets = default_targets(getattr(model.config, "model_type", ""))
    if isinstance(targets, list):
        names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in targets if t not in names]
        if len(missing) == len(targets):
            linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                             if type(m).__name__ in ("Linear", "Conv1D")})
            raise NodeRunError(f"none of the LoRA target modules {targets} exist in this model",
                               field="target_modules", hint="linear layers found: " + ", ".join(linear[:20]))
        targets = [t for t in targets if t in names]
    return LoraConfig(r=int(spec["r"]), lora_alpha=float(spec.get("alpha", 16)),
                      lora_dropout=float(spec.get("dropout", 0.0)), target_modules=targets,
                      bias=spec.get("bias", "none"), task_type=task_type)
