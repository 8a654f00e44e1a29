"""Shared Hugging Face helpers (no node types): where models come from and how they load (`loading`),
the built-in models (`builtin_models`, `bpe`) and scoring with a model (`scoring`)."""
