"""Evaluation nodes: `eval.perplexity`, `eval.qa_accuracy`, `eval.reward_score`."""

NODE_MODULES: tuple[str, ...] = ("metrics", "agents")
