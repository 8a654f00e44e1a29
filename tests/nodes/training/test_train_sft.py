"""train.sft on the tiny Llama: learning, LoRA round trip, stop and resume, other architectures."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from flowstudio.nodes.data.datasets import LoadData, SplitData
from flowstudio.nodes.models.lora import LoraSettings
from flowstudio.nodes.models.model import LoadModel, MergeLora, SaveModel
from flowstudio.nodes.training.trainers import SupervisedFineTune

from flowstudio.core.errors import NodeRunError, RunCancelled

FAST = {"batch_size": 8, "logging_steps": 2, "max_length": 128}


@pytest.fixture(scope="module")
def chat_split(tmp_path_factory):
    from flowstudio.core.node import PortValues
    from flowstudio.engine.context import LocalContext

    root = tmp_path_factory.mktemp("chat")
    ctx = LocalContext("data", root / "d", root / "dc")
    data = LoadData().run(ctx, PortValues({}), LoadData.Params(source="builtin:sft-chat"))
    ctx = LocalContext("split", root / "s", root / "sc")
    return SplitData().run(ctx, PortValues(data), SplitData.Params(eval_rows=40))


def test_sft_lowers_eval_loss_and_streams_progress(run_node, make_ctx, tiny_llama, chat_split):
    events: list[dict] = []
    ctx = make_ctx("sft", events)
    out = run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": chat_split["train"],
                                        "eval_dataset": chat_split["eval"]},
                   ctx=ctx, max_steps=24, learning_rate=3e-3, **FAST)
    metrics = out["metrics"]
    assert metrics["eval_loss"] < metrics["eval_loss_start"] - 1.0
    assert metrics["steps"] == 24
    progress = [e for e in events if e["event"] == "progress" and e["total"] == 24]
    assert progress[-1]["step"] == 24 and len(progress) >= 24
    names = {e["name"] for e in events if e["event"] == "metric"}
    assert {"loss", "learning_rate", "grad_norm", "eval_loss", "eval_loss_start"} <= names
    model = out["model"]
    assert model.meta["adapter"] is False and (Path(model.path) / "model.safetensors").exists()
    assert model.meta["lineage"] == [{"start_step": 0, "resumed_from": None, "end_step": 24, "status": "finished"}]


def test_lora_adapter_merges_and_saves_as_a_plain_model(run_node, tiny_llama, chat_split, tmp_path):
    lora = run_node(LoraSettings, r=4, alpha=8)["lora"]
    out = run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": chat_split["train"], "lora": lora},
                   max_steps=6, learning_rate=5e-3, **FAST)
    adapter = out["model"]
    assert adapter.meta["adapter"] is True and adapter.meta["base"] == str(Path(tiny_llama.path).resolve())
    assert (Path(adapter.path) / "adapter_config.json").exists()
    merged = run_node(MergeLora, {"model": adapter})["model"]
    assert merged.meta["adapter"] is False
    target = tmp_path / "export"
    run_node(SaveModel, {"model": adapter}, path=str(target))
    import torch
    from flowstudio.nodes.hf.loading import load_causal_lm
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(target)
    via_peft = load_causal_lm(adapter.path)
    ids = torch.tensor([[5, 6, 7, 8]])
    assert torch.allclose(plain(ids).logits, via_peft(ids).logits, atol=1e-5)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama.path)
    assert not torch.allclose(plain(ids).logits, base(ids).logits, atol=1e-4)


def test_stop_then_resume_finishes_with_the_same_steps_and_a_lineage(run_node, make_ctx, tiny_llama, chat_split,
                                                                       tmp_path):
    inputs = {"model": tiny_llama, "dataset": chat_split["train"]}
    params = {"max_steps": 12, "learning_rate": 3e-3, **FAST}
    stop = threading.Event()

    def sink(event: dict) -> None:
        if event["event"] == "progress" and event["step"] == 5:
            stop.set()

    ckpt = tmp_path / "ckpt"
    with pytest.raises(RunCancelled, match="stopped at step 5"):
        run_node(SupervisedFineTune, inputs, ctx=make_ctx("sft", None, checkpoint_dir=ckpt, cancel_event=stop,
                                                          sink=sink), **params)
    assert (ckpt / "checkpoint-5").is_dir()
    resumed = run_node(SupervisedFineTune, inputs, ctx=make_ctx("sft2", None, checkpoint_dir=ckpt), **params)
    assert resumed["metrics"]["steps"] == 12
    lineage = resumed["model"].meta["lineage"]
    assert lineage == [
        {"start_step": 0, "resumed_from": None, "end_step": 5, "status": "stopped", "checkpoint": "checkpoint-5"},
        {"start_step": 5, "resumed_from": "checkpoint-5", "end_step": 12, "status": "finished"}]
    assert json.loads((ckpt / "lineage.json").read_text())["segments"] == lineage
    straight = run_node(SupervisedFineTune, inputs, node_id="straight", **params)
    assert resumed["metrics"]["loss"] == pytest.approx(straight["metrics"]["loss"], rel=1e-4)


def test_changed_params_do_not_resume_a_stale_checkpoint(run_node, make_ctx, tiny_llama, chat_split, tmp_path):
    inputs = {"model": tiny_llama, "dataset": chat_split["train"]}
    stop = threading.Event()
    stop.set()  # stop after the first step
    ckpt = tmp_path / "ckpt"
    with pytest.raises(RunCancelled):
        run_node(SupervisedFineTune, inputs, ctx=make_ctx("a", None, checkpoint_dir=ckpt, cancel_event=stop),
                 max_steps=4, **FAST)
    out = run_node(SupervisedFineTune, inputs, ctx=make_ctx("b", None, checkpoint_dir=ckpt), max_steps=3, **FAST)
    assert out["model"].meta["lineage"] == [{"start_step": 0, "resumed_from": None, "end_step": 3,
                                             "status": "finished"}]


def test_assistant_only_loss_needs_generation_markers(run_node, tiny_llama_dir, chat_split, tmp_path):
    plain = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    model = run_node(LoadModel, source=str(tiny_llama_dir), chat_template=plain)["model"]
    with pytest.raises(NodeRunError, match="generation") as err:
        run_node(SupervisedFineTune, {"model": model, "dataset": chat_split["train"]}, max_steps=2, **FAST)
    assert err.value.field == "completion_only"
    out = run_node(SupervisedFineTune, {"model": model, "dataset": chat_split["train"]}, node_id="all_tokens",
                   max_steps=2, completion_only=False, **FAST)
    assert out["metrics"]["steps"] == 2


def _tiny_arch_dir(arch: str, tokenizer_dir: Path, out: Path) -> Path:
    import torch
    from flowstudio.nodes.hf.loading import load_tokenizer
    from transformers import AutoModelForCausalLM, BloomConfig, GPT2Config, LlamaConfig, Qwen2Config

    tok = load_tokenizer(tokenizer_dir)
    ids = {"vocab_size": len(tok), "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
           "pad_token_id": tok.pad_token_id}
    config = {
        "llama": lambda: LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                     num_attention_heads=2, max_position_embeddings=256, **ids),
        "gpt2": lambda: GPT2Config(n_embd=32, n_layer=1, n_head=2, n_positions=256, **ids),
        "bloom": lambda: BloomConfig(hidden_size=32, n_layer=1, n_head=2, **ids),
        "qwen2": lambda: Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                                     **ids),
    }[arch]()
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.mark.parametrize("arch", ["llama", "gpt2", "bloom", "qwen2"])
def test_model_load_then_sft_on_each_architecture(arch, run_node, tiny_llama_dir, chat_split, tmp_path):
    model_dir = _tiny_arch_dir(arch, tiny_llama_dir, tmp_path / arch)
    model = run_node(LoadModel, source=str(model_dir))["model"]
    assert model.meta["model_type"] == arch
    lora = run_node(LoraSettings, r=4)["lora"]  # `auto` targets of this architecture
    out = run_node(SupervisedFineTune, {"model": model, "dataset": chat_split["train"], "lora": lora},
                   max_steps=3, learning_rate=1e-3, **FAST)
    assert out["metrics"]["steps"] == 3 and out["model"].meta["adapter"] is True
    from flowstudio.nodes.hf.loading import load_causal_lm

    assert load_causal_lm(out["model"].path).config.model_type == arch


def test_remote_code_model_trains_only_when_trusted(run_node, tiny_llama_dir, chat_split, tmp_path):
    from tests.nodes.models.test_model import CONFIG_PY, MODELING_PY

    path = tmp_path / "toy"
    shutil.copytree(tiny_llama_dir, path)
    (path / "configuration_toy.py").write_text(CONFIG_PY)
    (path / "modeling_toy.py").write_text(MODELING_PY)
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(model_type="flowstudio_toy", auto_map={"AutoConfig": "configuration_toy.ToyConfig",
                                                      "AutoModelForCausalLM": "modeling_toy.ToyForCausalLM"})
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(NodeRunError, match="remote code"):
        run_node(LoadModel, source=str(path))
    model = run_node(LoadModel, node_id="trusted", source=str(path), trust_remote_code=True)["model"]
    out = run_node(SupervisedFineTune, {"model": model, "dataset": chat_split["train"]}, max_steps=2, **FAST)
    assert out["metrics"]["steps"] == 2 and out["model"].meta["trust_remote_code"] is True
