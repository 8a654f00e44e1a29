"""Supervised trainers on TRL: `train.sft`, `train.reward`, `train.dpo`, and what they share (`common`:
params, precision, callbacks, resume, OOM hints)."""

NODE_MODULES: tuple[str, ...] = ("trainers",)
