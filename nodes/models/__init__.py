"""Models and tokenizers: `model.load`, `model.lora`, `model.merge_lora`, `model.save`, `tokenizer.load`,
`tokenizer.train`."""

NODE_MODULES: tuple[str, ...] = ("model", "lora", "tokenizer")
