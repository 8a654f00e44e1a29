"""tokenizer.train and tokenizer.load."""

from __future__ import annotations

from flowstudio.nodes.data.datasets import LoadData
from flowstudio.nodes.hf.loading import load_tokenizer
from flowstudio.nodes.models.tokenizer import LoadTokenizer, TrainTokenizer


def test_train_a_byte_level_bpe_tokenizer_for_chat(run_node):
    data = run_node(LoadData, source="builtin:sft-chat")["dataset"]
    out = run_node(TrainTokenizer, {"dataset": data}, vocab_size=400)["tokenizer"]
    tok = load_tokenizer(out.path)
    assert len(tok) == 400
    for text in ["The capital of France is Paris.", "emoji 🙂 and tabs\tand\nnewlines", "日本語"]:
        assert tok.decode(tok(text)["input_ids"]) == text
    # trained merges make the domain text short
    assert len(tok("The capital of France is Paris.")["input_ids"]) < 20  # 31 bytes
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert tok.apply_chat_template(chat, tokenize=False) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n")
    mask = tok.apply_chat_template(chat, return_assistant_tokens_mask=True, return_dict=True)["assistant_masks"]
    assert 0 < sum(mask) < len(mask)


def test_load_tokenizer_from_a_builtin_with_a_new_template(run_node):
    out = run_node(LoadTokenizer, source="builtin:tiny-llama", chat_template="{{ messages[0]['content'] }}")
    tok = load_tokenizer(out["tokenizer"].path)
    assert tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False) == "x"


def test_a_larger_trained_tokenizer_drives_sft(run_node, tiny_llama):
    from flowstudio.nodes.training.trainers import SupervisedFineTune

    data = run_node(LoadData, source="builtin:sft-chat")["dataset"]
    tok = run_node(TrainTokenizer, {"dataset": data}, vocab_size=600)["tokenizer"]
    out = run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": data, "tokenizer": tok}, max_steps=2,
                   batch_size=8, max_length=64)
    from flowstudio.nodes.hf.loading import load_causal_lm

    model = load_causal_lm(out["model"].path)
    assert model.get_input_embeddings().num_embeddings == len(load_tokenizer(out["model"].path)) == 600
