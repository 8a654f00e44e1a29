"""Reinforcement learning: `train.ppo` (the algorithm in `ppo/`), `train.grpo` (`grpo`), and the
reward-function nodes `reward.*` with their compiled functions (`reward_functions`)."""

NODE_MODULES: tuple[str, ...] = ("trainers", "rewards")
