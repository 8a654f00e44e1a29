"""PPO (RLHF against a frozen reference): the math (`core`), sampling and log-probs (`rollout`),
models, reference, prompts and scorer (`setup`), the loop (`trainer`) and `train.ppo`'s run (`run`).
See docs/ppo.md."""
