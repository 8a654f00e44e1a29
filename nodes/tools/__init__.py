"""Tools for chains and agents: `tool.calculator` (exact arithmetic, `calculator`) and `tool.python`
(a limited separate process, `sandbox`); `kinds` is the registry of tool kinds an agent may call."""

NODE_MODULES: tuple[str, ...] = ("tools",)
