"""Reinforcement learning from feedback: PPO (FlowStudio's own implementation) and GRPO (through TRL).

`train.ppo` is implemented in FlowStudio itself — TRL removed its PPO trainer — following InstructGPT and
"The N+ Implementation Details of RLHF with PPO" (Huang et al. 2024). The algorithm lives in
`ppo/core.py` (math), `ppo/rollout.py` (sampling and log-probs), `ppo/trainer.py` (the loop) and
`ppo/setup.py` (models, reference, prompts, scorer); docs/ppo.md explains every default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources
from flowstudio.core.ports import Dataset, LoraSpec, Model, RewardFunction, RewardModel, Tokenizer
from flowstudio.core.problems import Problem


class PPO(Node):
    type = "train.ppo"
    title = "PPO (RLHF)"
    category = "Training"
    icon = "mdi6.robot-excited-outline"
    description = (
        "RLHF with PPO, InstructGPT-style — FlowStudio's own implementation (TRL no longer ships PPO). The policy "
        "starts from the SFT model and learns to raise the reward model's score, held near the SFT model by a "
        "per-token KL penalty; a value model (by default a copy of the reward model) learns the expected return. "
        "Metrics every update: objective/kl, objective/scores, objective/rlhf_reward, policy/clipfrac, ... "
        "Stopping saves a checkpoint; resuming the run continues from it."
    )
    resources = Resources(gpus=1, worker=True, memory_gb=4.0)  # policy, reference, reward, value + optimizer

    class Inputs(Ports):
        model = Port(Model, "The policy to train (the SFT model)")
        tokenizer = Port(Tokenizer, "The policy's tokenizer")
        reward_model = Port(RewardModel, "The reward model that scores prompt + response")
        prompts = Port(Dataset, "Prompts (a prompt, question, messages or text column)")
        lora = Port(LoraSpec, "Train a LoRA adapter instead of the whole policy", optional=True)
        value_model = Port(RewardModel, "Initial value model (default: a copy of the reward model)", optional=True)

    class Outputs(Ports):
        model = Port(Model, "The trained policy (a full model directory; LoRA merged)")
        value_model = Port(RewardModel, "The trained value model")

    class Params(NodeParams):
        updates: int = Field(50, ge=1, description="PPO updates (each: one batch of rollouts, then optimisation)")
        batch_size: int = Field(16, ge=1, description="Prompts (episodes) per update")
        mini_batch_size: int = Field(8, ge=1, description="Episodes per optimizer step; divides batch_size")
        micro_batch_size: int = Field(4, ge=1, description="Episodes per forward/backward pass (gradient "
                                      "accumulation); divides mini_batch_size")
        rollout_batch_size: int = Field(0, ge=0, le=4096, description="Prompts sampled together in one batched "
                                        "loop on the KV cache; 0 = mini_batch_size. Larger is faster (TRL uses 64) "
                                        "but changes the sampling order, so a run's trajectory differs")
        ppo_epochs: int = Field(4, ge=1, description="Passes over each batch of rollouts")
        learning_rate: float = Field(3e-6, ge=0, description="AdamW learning rate (policy and value)")
        anneal_lr: bool = Field(True, description="Decay the learning rate linearly to 0 over the updates")
        max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping (0: off)")
        response_length: int = Field(48, ge=1, le=4096, description="Tokens sampled per response (cut after the "
                                     "first EOS)")
        max_prompt_length: int = Field(256, ge=1, description="Prompts keep their last N tokens")
        temperature: float = Field(0.7, gt=0, description="Sampling temperature; also divides the logits in "
                                   "every log-prob computation (reference included)")
        kl_coef: float = Field(0.05, ge=0, description="β of the per-token KL penalty −β·(log π − log π_ref) "
                               "(the start value when adaptive)")
        kl_estimator: Literal["k1", "k3"] = Field("k1", description="k1: log π − log π_ref; k3: lower-variance, "
                                                  "never negative")
        adaptive_kl: bool = Field(False, description="Adapt β so the KL tracks kl_target (Ziegler et al. 2019)")
        kl_target: float = Field(6.0, gt=0, description="Target sequence KL for the adaptive controller")
        kl_horizon: int = Field(10000, ge=1, description="Horizon (episodes) of the adaptive controller")
        gamma: float = Field(1.0, ge=0, le=1, description="Discount")
        lam: float = Field(0.95, ge=0, le=1, description="GAE λ")
        whiten_advantages: bool = Field(True, description="Normalise advantages per batch")
        whiten_rewards: bool = Field(False, description="Normalise per-token rewards per batch")
        cliprange: float = Field(0.2, gt=0, description="Policy ratio clip ε")
        cliprange_value: float = Field(0.2, gt=0, description="Value clip around the rollout's values")
        vf_coef: float = Field(0.1, ge=0, description="Weight of the value loss")
        missing_eos_penalty: float = Field(1.0, ge=0, description="Subtracted from the score of responses that "
                                           "never emit EOS (0: off)")
        use_chat_template: Literal["auto", "yes"] = Field(
            "auto", description="auto: chat messages and QA questions go through the chat template, plain-text "
            "prompts stay plain (as eval.reward_score does); yes: plain prompts become user messages too. The "
            "reward model reads prompt + response rendered the same way as its training pairs")
        precision: Literal["auto", "fp32", "bf16"] = Field(
            "auto", description="Compute dtype under autocast (auto: bf16 on capable GPUs, fp32 on CPU); the "
            "weights being trained are always float32")
        seed: int = Field(42, description="Seeds sampling and shuffling (a stopped run resumes identically)")
        save_every: int = Field(0, ge=0, description="Also save a checkpoint every N updates, for crashes "
                                "(a stop always saves one)")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, cls.Params)
        problems = []
        if params.batch_size % params.mini_batch_size:
            problems.append(Problem("bad_param", f"batch_size {params.batch_size} is not a multiple of "
                                    f"mini_batch_size {params.mini_batch_size}", field="mini_batch_size",
                                    hint="pick a mini_batch_size that divides batch_size"))
        if params.mini_batch_size % params.micro_batch_size:
            problems.append(Problem("bad_param", f"mini_batch_size {params.mini_batch_size} is not a multiple of "
                                    f"micro_batch_size {params.micro_batch_size}", field="micro_batch_size",
                                    hint="pick a micro_batch_size that divides mini_batch_size"))
        return problems

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from .ppo.run import run_ppo

        for problem in self.check(params, None):
            raise NodeRunError(problem.message, field=problem.field, hint=problem.hint)
        return run_ppo(ctx, inputs, params)


class GRPO(Node):
    type = "train.grpo"
    title = "GRPO"
    category = "Training"
    icon = "mdi6.account-group-outline"
    description = (
        "Group Relative Policy Optimization through TRL's GRPOTrainer: several completions per prompt, scored by "
        "a reward model and/or reward-function nodes (reward.regex, reward.exact_match, reward.length), "
        "advantages relative to the group. No value model. Dataset columns (e.g. `answer`) reach the reward "
        "functions."
    )
    resources = Resources(gpus=1, worker=True, memory_gb=2.0)

    class Inputs(Ports):
        model = Port(Model, "The policy to train")
        tokenizer = Port(Tokenizer, "The policy's tokenizer")
        prompts = Port(Dataset, "Prompts (a prompt, question or messages column)")
        reward_model = Port(RewardModel, "A reward model (optional when reward functions are connected)",
                            optional=True)
        rewards = Port(RewardFunction, "Reward functions (summed, each with its weight)", optional=True,
                       multiple=True)
        lora = Port(LoraSpec, "Train a LoRA adapter instead of the whole policy", optional=True)

    class Outputs(Ports):
        model = Port(Model, "The trained policy")

    class Params(NodeParams):
        max_steps: int = Field(20, ge=1, description="Optimizer steps")
        learning_rate: float = Field(1e-6, ge=0, description="Learning rate")
        per_device_batch_size: int = Field(4, ge=1, description="Completions per device per step; a multiple "
                                           "of num_generations")
        num_generations: int = Field(4, ge=2, description="Completions per prompt (the group)")
        max_completion_length: int = Field(48, ge=1, description="Tokens per completion")
        max_prompt_length: int = Field(256, ge=1, description="Prompts keep their last N tokens")
        temperature: float = Field(1.0, gt=0, description="Sampling temperature")
        beta: float = Field(0.0, ge=0, description="KL coefficient (0: no reference model, TRL's default)")
        reward_model_weight: float = Field(1.0, description="Weight of the reward model's score")
        use_chat_template: Literal["auto", "yes"] = Field(
            "auto", description="auto: chat messages and QA questions go through the chat template, plain-text "
            "prompts stay plain (as eval.reward_score does); yes: plain prompts become user messages too")
        precision: Literal["auto", "fp32", "bf16"] = Field(
            "auto", description="Compute dtype under autocast (auto: bf16 on capable GPUs, fp32 on CPU); the "
            "weights being trained are always float32")
        seed: int = Field(42, description="Random seed")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, cls.Params)
        if params.per_device_batch_size % params.num_generations:
            return [Problem("bad_param", f"per_device_batch_size {params.per_device_batch_size} is not a multiple "
                            f"of num_generations {params.num_generations}", field="num_generations",
                            hint="make num_generations divide per_device_batch_size")]
        return []

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from .grpo import run_grpo

        for problem in self.check(params, None):
            raise NodeRunError(problem.message, field=problem.field, hint=problem.hint)
        return run_grpo(ctx, inputs, params)
