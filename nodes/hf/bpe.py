"""Train a byte-level BPE tokenizer (used by `tokenizer.train` and to build builtin:tiny-llama's tokenizer)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

DEFAULT_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>")

# ChatML with `{% generation %}` markers around the assistant turn, so TRL's assistant-only loss works.
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{%- else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 1024, special_tokens: Iterable[str] = DEFAULT_SPECIAL_TOKENS,
                        chat_template: str | None = CHATML_TEMPLATE, min_frequency: int = 2,
                        eos_token: str = "<|im_end|>", bos_token: str | None = "<|im_start|>",
                        pad_token: str = "<|pad|>") -> Any:
    """A `PreTrainedTokenizerFast` trained on `texts`; deterministic for the same input.

    The byte-level alphabet is always included, so every string round-trips (decode(encode(s)) == s).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys(special_tokens))
    for tok in (eos_token, bos_token, pad_token):
        if tok and tok not in specials:
            specials.append(tok)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=eos_token, bos_token=bos_token,
                                   pad_token=pad_token, clean_up_tokenization_spaces=False)
    if chat_template:
        fast.chat_template = chat_template
    return fast
