"""train.sft's fast setting: padding-free batches train to the same loss as padded ones, and are only used on
models whose attention keeps packed examples apart."""

from __future__ import annotations

import pytest
from flowstudio.nodes.data.datasets import LoadData, SplitData
from flowstudio.nodes.training.fast import fast_settings, packed_matches_padded
from flowstudio.nodes.training.trainers import SupervisedFineTune

torch = pytest.importorskip("torch")

SETTINGS = {"batch_size": 8, "logging_steps": 2, "max_length": 128, "max_steps": 12, "learning_rate": 3e-3}


@pytest.fixture(scope="module")
def chat_split(tmp_path_factory):
    from flowstudio.core.node import PortValues
    from flowstudio.engine.context import LocalContext

    root = tmp_path_factory.mktemp("chat")
    data = LoadData().run(LocalContext("data", root / "d", root / "dc"), PortValues({}),
                          LoadData.Params(source="builtin:sft-chat"))
    return SplitData().run(LocalContext("split", root / "s", root / "sc"), PortValues(data),
                           SplitData.Params(eval_rows=40))


def _train(run_node, make_ctx, tiny_llama, chat_split, fast: bool) -> tuple[dict, list[str]]:
    events: list[dict] = []
    ctx = make_ctx(f"sft_{fast}", events)
    torch.set_num_threads(1)
    out = run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": chat_split["train"],
                                        "eval_dataset": chat_split["eval"]}, ctx=ctx, fast=fast, **SETTINGS)
    return out["metrics"], [e.get("line", "") for e in events if e["event"] == "log"]


def test_fast_setting_is_padding_free_and_trains_to_the_same_loss(run_node, make_ctx, tiny_llama, chat_split):
    fast, fast_logs = _train(run_node, make_ctx, tiny_llama, chat_split, fast=True)
    plain, plain_logs = _train(run_node, make_ctx, tiny_llama, chat_split, fast=False)
    assert any("padding-free batches" in line for line in fast_logs), fast_logs
    assert any("fast: off" in line for line in plain_logs), plain_logs
    # the same examples in every batch, only without pad tokens: the same losses, up to float rounding
    assert fast["eval_loss_start"] == pytest.approx(plain["eval_loss_start"], rel=1e-4)
    assert fast["eval_loss"] == pytest.approx(plain["eval_loss"], rel=2e-3)
    assert fast["train_loss"] == pytest.approx(plain["train_loss"], rel=2e-3)
    assert fast["eval_loss"] < fast["eval_loss_start"] - 0.5  # and it did train
    # the same tokens were trained on: padding-free counts no pad either
    assert fast["num_tokens"] == plain["num_tokens"]


def test_packed_forward_equals_padded_for_llama_and_is_refused_where_positions_come_from_the_mask(tiny_llama):
    from flowstudio.nodes.hf.loading import load_causal_lm, load_tokenizer
    from transformers import OPTConfig, OPTForCausalLM

    model = load_causal_lm(tiny_llama.path, "float32", "cpu")
    tok = load_tokenizer(tiny_llama.path)
    assert packed_matches_padded(model, tok.pad_token_id)
    _, collator, notes = fast_settings(model, tok, "cpu", enabled=True, packing=False)
    assert collator is not None and collator.padding_free and notes == ["fast: padding-free batches"]
    # OPT takes its positions from the attention mask, which padding-free batches do not have: packed examples
    # would be read as one long text, so the check must say no and the collator must stay TRL's own
    torch.manual_seed(0)
    opt = OPTForCausalLM(OPTConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                                   num_attention_heads=4, max_position_embeddings=64, word_embed_proj_dim=32))
    assert not packed_matches_padded(opt, 1)
    _, collator, notes = fast_settings(opt, tok, "cpu", enabled=True, packing=False)
    assert collator is None and "padding-free: off" in notes[0]
    assert fast_settings(model, tok, "cpu", enabled=False, packing=False) == ({}, None, ["fast: off"])
