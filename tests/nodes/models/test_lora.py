"""model.lora: the spec, per-architecture default targets, and clear errors."""

from __future__ import annotations

import pytest
from flowstudio.nodes.models.lora import LoraSettings, default_targets, peft_config

from flowstudio.core.errors import NodeRunError


def test_spec_is_a_plain_dict(run_node):
    spec = run_node(LoraSettings, r=4, alpha=8, target_modules="q_proj, v_proj")["lora"]
    assert spec == {"r": 4, "alpha": 8.0, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "bias": "none"}
    assert run_node(LoraSettings, node_id="auto")["lora"]["target_modules"] == "auto"


@pytest.mark.parametrize("model_type,expected", [("llama", "q_proj"), ("qwen2", "v_proj"), ("gpt2", "c_attn"),
                                                 ("bloom", "query_key_value")])
def test_default_targets_per_architecture(model_type, expected):
    assert expected in default_targets(model_type)


def test_architecture_without_defaults_asks_for_target_modules():
    with pytest.raises(NodeRunError, match="no default target modules") as err:
        default_targets("flowstudio_unknown_arch")
    assert err.value.field == "target_modules"


def test_targets_missing_from_the_model_are_explained(tiny_llama_dir):
    from flowstudio.nodes.hf.loading import load_causal_lm

    model = load_causal_lm(tiny_llama_dir)
    with pytest.raises(NodeRunError, match="exist in this model") as err:
        peft_config({"r": 4, "target_modules": ["c_attn"]}, model)
    assert "q_proj" in err.value.hint
    cfg = peft_config({"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "auto"}, model)
    assert set(cfg.target_modules) >= {"q_proj", "down_proj"}


def test_a_merged_adapter_loads_trainable_like_any_model(tiny_llama_dir, tmp_path):
    """load_causal_lm merges an adapter directory; the result must train like a plain model (it was frozen)."""
    from flowstudio.nodes.hf.loading import load_causal_lm
    from peft import LoraConfig, get_peft_model

    base = load_causal_lm(tiny_llama_dir)
    assert all(p.requires_grad for p in base.parameters())
    adapter = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"]))
    adapter.config.base_model_name_or_path = str(tiny_llama_dir)
    adapter.peft_config["default"].base_model_name_or_path = str(tiny_llama_dir)
    adapter.save_pretrained(tmp_path / "adapter")
    merged = load_causal_lm(tmp_path / "adapter")
    assert type(merged).__name__ == "LlamaForCausalLM"  # merged, not a PeftModel
    assert all(p.requires_grad for p in merged.parameters())
